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
# Debian packages for the browser tests. Chromium comes from bookworm-security, which replaces
# old builds, so it is pinned to its major version; the CJK font (for legible screenshots) exactly.
CHROMIUM_VERSION='156.*'
FONTS_NOTO_CJK_VERSION=1:20220127+repack1-1
# Real servers the Part II tests start on random ports (listings/test-servers). Redis also comes
# from bookworm-security, so only its upstream version is pinned; nats-server exactly.
REDIS_SERVER_VERSION='5:7.0.15-1~deb12u*'
NATS_SERVER_VERSION=2.9.10-1+b3
# npm packages (Pagefind, playwright-core) are pinned in ci/site/package-lock.json.

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
  # Mermaid itself (2.6 MB, about 760 KB gzip) must be the build the pinned mdbook-mermaid was
  # made for. It goes to src/vendor/, which mdBook copies to the site as it is, instead of into
  # additional-js, which would load it on every page: theme/mermaid-init.js fetches it only on
  # pages that have a diagram. Not committed; rewritten whenever it differs from what the pinned
  # mdbook-mermaid carries (writing it to a temporary book takes a moment).
  local target=src/vendor/mermaid.min.js tmp
  tmp=$(mktemp -d)
  printf '[book]\ntitle = "x"\n' > "$tmp/book.toml"
  if ! out=$(mdbook-mermaid install "$tmp" 2>&1); then
    echo "$out" >&2
    rm -rf "$tmp"
    exit 1
  fi
  if ! cmp -s "$tmp/mermaid.min.js" "$target"; then
    say "writing $target from mdbook-mermaid $MDBOOK_MERMAID_VERSION"
    mkdir -p src/vendor
    cp "$tmp/mermaid.min.js" "$target"
  fi
  rm -rf "$tmp" theme/mermaid.min.js theme/.mermaid-version src/vendor/.mermaid-version
}

site_tools() {
  # Pagefind (the search index, needed to build the book) and playwright-core (browser tests).
  if ! command -v npm > /dev/null; then
    echo "setup: npm is missing; install Node.js 20 or newer (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  local stamp=ci/site/node_modules/.lock-sha256 want
  want=$(sha256sum ci/site/package-lock.json | awk '{print $1}')
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  say "installing ci/site's npm packages from package-lock.json (npm ci)"
  if ! (cd ci/site && npm ci --no-audit --no-fund --loglevel=error) > /tmp/setup-npm.log 2>&1; then
    cat /tmp/setup-npm.log >&2
    exit 1
  fi
  echo "$want" > "$stamp"
}

apt_package() { # package, version pattern
  local have
  have=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true)
  # shellcheck disable=SC2053  # the version is a glob on purpose
  if [[ $have == "install ok installed "* && ${have#install ok installed } == $2 ]]; then return; fi
  say "installing Debian package $1=$2 (found: ${have:-none})"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "$1=$2" > /tmp/setup-apt.log 2>&1; then
    "${sudo[@]}" apt-get update -q > /dev/null 2>&1 || true
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "$1=$2" > /tmp/setup-apt.log 2>&1 || { cat /tmp/setup-apt.log >&2; exit 1; }
  fi
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
site_tools
if [ "${1:-all}" != book ]; then
  rotel
  apt_package chromium "$CHROMIUM_VERSION"
  apt_package fonts-noto-cjk "$FONTS_NOTO_CJK_VERSION"
  apt_package redis-server "$REDIS_SERVER_VERSION"
  apt_package nats-server "$NATS_SERVER_VERSION"
fi
