#!/usr/bin/env bash
# Installs what the book needs (if missing) and serves it at http://localhost:3000, rebuilding
# on every change.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh book
exec mdbook serve --hostname localhost --port 3000 "$@"
