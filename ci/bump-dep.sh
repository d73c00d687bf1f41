#!/usr/bin/env bash
# Sets one dependency's version requirement in every manifest of the workspace, so that all
# listings keep asking for the same version (the book checker enforces that), then refreshes
# Cargo.lock. The versions the book shows follow by themselves: mdbook-versions reads them from
# Cargo.lock on every build.
#
#   ci/bump-dep.sh opentelemetry 0.34
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: ci/bump-dep.sh CRATE VERSION-REQUIREMENT" >&2
  exit 2
fi
crate=$1
version=$2
# The crate name as a literal inside an extended regex.
name=$(printf '%s' "$crate" | sed 's/[][\.*^$+?(){}|/]/\\&/g')

changed=()
while IFS= read -r manifest; do
  before=$(cat "$manifest")
  sed -i -E \
    -e "s/^(${name}[[:space:]]*=[[:space:]]*)\"[^\"]*\"/\1\"${version}\"/" \
    -e "s/^(${name}[[:space:]]*=[[:space:]]*\{.*version[[:space:]]*=[[:space:]]*)\"[^\"]*\"/\1\"${version}\"/" \
    "$manifest"
  [ "$before" = "$(cat "$manifest")" ] || changed+=("$manifest")
done < <(find . -name Cargo.toml -not -path './target/*' -not -path './ci/*/tests/fixtures/*' | sort)

if [ ${#changed[@]} -eq 0 ]; then
  echo "bump-dep: no manifest asks for $crate with another version than \"$version\"" >&2
  exit 1
fi
printf 'bump-dep: %s\n' "${changed[@]}"
cargo update --quiet -p "$crate"
