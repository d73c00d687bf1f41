#!/usr/bin/env bash
# The book checker alone: includes, anchors, links, template sections, one version per crate,
# no typed versions, the version markers and the `cargo test` commands in the pages; then every
# Mermaid diagram is parsed by the Mermaid the book ships (in headless Chromium). Fast enough to
# run before every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked -p book-checker -- .
node ci/site/check-mermaid.mjs
