#!/usr/bin/env bash
# The mermaid preprocessor, as book.toml calls it.
#
# mdbook-mermaid 0.17.1 installed with --locked is built against mdbook-preprocessor 0.5.0 and
# prints a version warning on every build when mdBook 0.5.4 calls it, although both speak the
# same JSON protocol (mdBook 0.5.x). We drop exactly that line so that
# `mdbook build` stays warning-free; any other message, or another version pair, still shows.
set -uo pipefail
known='^Warning: The mdbook-mermaid preprocessor was built against version 0\.5\.0 of mdbook, but we.re being called from version 0\.5\.4$'
mdbook-mermaid "$@" 2> >(grep -v "$known" >&2)
