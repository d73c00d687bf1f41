#!/usr/bin/env bash
# The book checker alone: includes, anchors, links, template sections, one version per crate,
# and the generated version table. Fast enough to run before every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked -p book-checker -- .
ci/gen-versions.sh --check
