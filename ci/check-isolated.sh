#!/usr/bin/env bash
# Compiles every listing crate on its own: `cargo check -p <crate>` resolves features for that
# crate alone, while a workspace build merges them. A chapter crate that only compiles because a
# sibling switched on a feature (a tokio feature, `internal-logs`, `http-json`, ...) would build
# in CI and fail for the reader who copies that chapter. Library and binaries only: dev-dependencies
# (the test kit) switch on features of their own, which a reader's service does not have.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=()
for manifest in listings/*/Cargo.toml listings/*/*/Cargo.toml listings/*/*/*/Cargo.toml; do
  [ -f "$manifest" ] || continue
  name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)
  if [ -z "$name" ]; then
    echo "check-isolated: $manifest has no package name" >&2
    exit 1
  fi
  if ! cargo check --quiet --locked -p "$name"; then
    failed+=("$name ($manifest)")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-isolated: these crates do not compile with only their own features:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "check-isolated: every listing crate compiles on its own features"
