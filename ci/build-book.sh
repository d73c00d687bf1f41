#!/usr/bin/env bash
# Builds the book and fails on any warning or error mdBook, a preprocessor or a renderer prints.
# Two renderers run: html (the site, book/html) and pagefind (its search index, book/html/pagefind).
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! mdbook build > "$log" 2>&1; then
  cat "$log" >&2
  echo "build-book: mdbook build failed" >&2
  exit 1
fi
# mdBook logs " INFO" lines for progress; anything else is a problem worth stopping for.
if problems=$(grep -vE '^ *(\x1b\[[0-9;]*m)* *INFO' "$log"); then
  echo "$problems" >&2
  echo "build-book: mdbook build printed warnings (above); the book must build cleanly" >&2
  exit 1
fi
echo "build-book: book/html built, search index included, with no warnings"
