#!/usr/bin/env bash
# Installs what the book's commands need, pinned; skips whatever is already there at the right
# version, so a second run on a ready machine takes a second or two.
#
#   ci/setup.sh          everything ci/test.sh needs
#   ci/setup.sh book     only what building and serving the book needs (ci/serve.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
MDBOOK_MERMAID_VERSION=0.17.1
ROTEL_VERSION=0.0.1a15   # an independent OTLP collector (Rust, shipped as a PyPI wheel)

say() { echo "setup: $*"; }

need_cargo_tool() { # binary, crate, version
  local have
  have=$("$1" --version 2>/dev/null | awk '{print $2}' | sed 's/^v//') || true
  if [ "$have" = "$3" ]; then return; fi
  say "installing $2 $3 (found: ${have:-none}); this compiles it once, a few minutes"
  cargo install --locked --quiet --version "$3" "$2"
}

rust_components() {
  local installed
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do
    if ! grep -q "^$c" <<<"$installed"; then
      say "adding rustup component $c"
      rustup component add "$c"
    fi
  done
}

mermaid_assets() {
  # book.toml loads these; they must come from the same mdbook-mermaid that preprocesses pages.
  local stamp=theme/.mermaid-version
  if [ -f theme/mermaid.min.js ] && [ -f theme/mermaid-init.js ] \
     && [ "$(cat "$stamp" 2>/dev/null)" = "$MDBOOK_MERMAID_VERSION" ]; then
    return
  fi
  say "writing theme/mermaid*.js from mdbook-mermaid $MDBOOK_MERMAID_VERSION"
  local tmp
  tmp=$(mktemp -d)
  printf '[book]\ntitle = "x"\n' > "$tmp/book.toml"
  if ! out=$(mdbook-mermaid install "$tmp" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  cp "$tmp/mermaid.min.js" "$tmp/mermaid-init.js" theme/
  echo "$MDBOOK_MERMAID_VERSION" > "$stamp"
  rm -rf "$tmp"
}

rotel() {
  local have
  have=$(python3 -m pip show rotel 2>/dev/null | awk '/^Version:/ {print $2}') || true
  if [ "$have" != "$ROTEL_VERSION" ]; then
    say "installing rotel $ROTEL_VERSION from PyPI (found: ${have:-none})"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      "rotel==$ROTEL_VERSION"
  fi
}

rust_components
need_cargo_tool mdbook mdbook "$MDBOOK_VERSION"
need_cargo_tool mdbook-mermaid mdbook-mermaid "$MDBOOK_MERMAID_VERSION"
mermaid_assets
if [ "${1:-all}" != book ]; then
  rotel
fi
