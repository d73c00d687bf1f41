// What each code block of a chapter should contain, worked out from the chapter's Markdown the way
// mdBook does it: a block whose body is one {{#include file:anchor}} holds the anchored lines of
// that file (marker lines removed); any other block holds its body as written.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

function anchored(file, anchor, where) {
    const lines = readFileSync(file, 'utf8').split('\n');
    if (!anchor) {
        return lines.join('\n');
    }
    const start = lines.findIndex((l) => new RegExp(`ANCHOR:\\s*${anchor}\\b`).test(l));
    const end = lines.findIndex((l, i) => i > start && new RegExp(`ANCHOR_END:\\s*${anchor}\\b`).test(l));
    if (start < 0 || end < 0) {
        throw new Error(`${where}: anchor ${anchor} not found in ${file}`);
    }
    return lines.slice(start + 1, end).filter((l) => !/ANCHOR(_END)?:/.test(l)).join('\n');
}

/** The code blocks of `mdPath` in order (Mermaid blocks left out, as they are not code). */
export function codeBlocks(repo, mdPath) {
    const text = readFileSync(mdPath, 'utf8').split('\n');
    const blocks = [];
    for (let i = 0; i < text.length; i++) {
        const open = text[i].match(/^(`{3,})(.*)$/);
        if (!open) {
            continue;
        }
        const info = open[2].trim();
        let j = i + 1;
        while (j < text.length && !text[j].startsWith(open[1])) {
            j++;
        }
        const body = text.slice(i + 1, j);
        const where = `${relative(repo, mdPath)}:${i + 1}`;
        if (info !== 'mermaid') {
            const include = body.length === 1 && body[0].match(/^\{\{#include\s+([^:}\s]+)(?::([\w-]+))?\s*\}\}$/);
            const expected = include
                ? anchored(join(dirname(mdPath), include[1]), include[2], where)
                : body.join('\n');
            blocks.push({ where, lang: info.split(',')[0], expected: expected.replace(/\n+$/, '') });
        }
        i = j;
    }
    return blocks;
}
