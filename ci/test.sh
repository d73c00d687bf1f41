#!/usr/bin/env bash
# Every check the book has, in the order CI runs them. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

ci/setup.sh

timings=()
step() {
  local name=$1
  shift
  echo
  echo "==> $name: $*"
  local start=$SECONDS
  "$@"
  timings+=("$(printf '%-10s %4ds' "$name" $((SECONDS - start)))")
}

step fmt      cargo fmt --all --check
step clippy   cargo clippy --workspace --all-targets --locked -- -D warnings
step test     cargo test --workspace --locked
step isolated ci/check-isolated.sh
step book     ci/build-book.sh
step doctest  mdbook test
step checker  ci/check-book.sh
step browser  node --test --test-concurrency=1 ci/site/test/
step weight   node ci/site/page-weight.mjs

echo
echo "==> all checks passed"
printf '    %s\n' "${timings[@]}"
