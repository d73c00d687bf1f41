#!/usr/bin/env bash
# mdBook renderer ([output.pagefind] in book.toml): indexes the chapters that the html renderer
# just wrote, with Pagefind's extended build (it segments Chinese). It runs on every `mdbook build`
# and on every rebuild under `mdbook serve`, so the index never lags behind the pages.
#
# Only chapter content is indexed: the chapters listed in SUMMARY.md (not print.html, 404.html or
# toc.html, which repeat or lack content), and inside each page only <main> (not the sidebar, the
# menu bar or the chapter navigation). Mermaid sources are skipped: their text is diagram syntax.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagefind=$here/node_modules/@pagefind/linux-x64/bin/pagefind_extended

if [ ! -x "$pagefind" ]; then
  cat > /dev/null   # mdBook writes the context to our stdin; take it so it sees no broken pipe
  echo "pagefind: $pagefind is missing; run ci/setup.sh book (installs the pinned Pagefind from npm)" >&2
  exit 1
fi

# mdBook hands every renderer its context as JSON on stdin: our destination is book/pagefind,
# and the html renderer's pages are next to it in book/html. From the book's chapters we build
# the glob of pages to index.
read -r site glob < <(python3 -c '
import json, os, sys

ctx = json.load(sys.stdin)
pages = []

def walk(node):
    if isinstance(node, dict):
        path = node.get("path")
        if isinstance(path, str) and isinstance(node.get("content"), str):
            stem, _ = os.path.splitext(path)
            if os.path.basename(stem) == "README":
                stem = os.path.join(os.path.dirname(stem), "index")
            pages.append(stem.replace(os.sep, "/") + ".html")
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)

walk(ctx["book"])
if not pages:
    sys.exit("pagefind: the book has no chapters to index")
site = os.path.join(os.path.dirname(ctx["destination"]), "html")
print(site, "{" + ",".join(sorted(set(pages))) + "}")
')

if [ ! -f "$site/index.html" ]; then
  echo "pagefind: no $site/index.html; the html renderer must run first (book.toml [output.html])" >&2
  exit 1
fi
"$pagefind" --site "$site" --output-subdir pagefind --root-selector main \
  --exclude-selectors "pre.mermaid" --glob "$glob" --quiet
