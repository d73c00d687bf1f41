#!/usr/bin/env node
// Parses every ```mermaid block under <root>/src with the Mermaid build the book ships
// (src/vendor/mermaid.min.js), inside Chromium, and reports each diagram Mermaid cannot parse as
// `src/<file>.md:<line>: …`. Without this a typo ships as a red "Syntax error" box.
//
//   node ci/site/check-mermaid.mjs [ROOT]      (ROOT defaults to the repository)
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

import { REPO, launch } from './lib/browser.mjs';

const root = process.argv[2] || REPO;
const mermaidJs = join(REPO, 'src', 'vendor', 'mermaid.min.js');

function markdownFiles(dir) {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = join(dir, e.name);
        if (e.isDirectory()) return markdownFiles(full);
        return e.name.endsWith('.md') ? [full] : [];
    }).sort();
}

// Every Mermaid block: the file, the line of its opening fence and its text.
function diagrams(srcDir) {
    const out = [];
    for (const file of markdownFiles(srcDir)) {
        const lines = readFileSync(file, 'utf8').split('\n');
        for (let i = 0; i < lines.length; i++) {
            const open = lines[i].match(/^(`{3,}|~{3,})\s*(\S*)/);
            if (!open) continue;
            let j = i + 1;
            while (j < lines.length && !lines[j].startsWith(open[1])) j++;
            if (j === lines.length) {
                out.push({ file, line: i + 1, unclosed: true });
            } else if (open[2] === 'mermaid') {
                out.push({ file, line: i + 1, text: lines.slice(i + 1, j).join('\n') });
            }
            i = j;
        }
    }
    return out;
}

async function main() {
    const srcDir = join(root, 'src');
    if (!existsSync(srcDir)) {
        console.error(`check-mermaid: ${srcDir} does not exist; pass the book's root directory`);
        return 2;
    }
    if (!existsSync(mermaidJs)) {
        console.error(`check-mermaid: ${mermaidJs} is missing; run ci/setup.sh book`);
        return 2;
    }
    const blocks = diagrams(srcDir);
    const problems = [];
    const browser = await launch();
    try {
        const page = await browser.newPage();
        await page.setContent('<!doctype html><html><body></body></html>');
        await page.addScriptTag({ path: mermaidJs });
        for (const block of blocks) {
            const where = `${relative(root, block.file)}`;
            if (block.unclosed) {
                problems.push(`${where}:${block.line}: code block is never closed`);
                continue;
            }
            const error = await page.evaluate(async (text) => {
                try {
                    await mermaid.parse(text);
                    return null;
                } catch (err) {
                    return String(err?.message ?? err);
                }
            }, block.text);
            if (error !== null) {
                // Mermaid counts lines from the diagram's first line; we count from the file's.
                const at = error.match(/on line (\d+)/);
                const line = block.line + (at ? Number(at[1]) : 1);
                // A parser error is "Parse error on line N:", the text near it, a ---^ pointer and
                // what was expected; the file line already says where, so keep the last part.
                const lines = error.split('\n');
                const caret = lines.findIndex((l) => /^-*\^$/.test(l.trim()));
                const detail = (caret >= 0 ? lines.slice(caret + 1) : lines)
                    .filter((l) => l.trim() && !/^Parse error on line/.test(l));
                problems.push(`${where}:${line}: Mermaid cannot parse this diagram: ${detail.join(' ').replace(/\s+/g, ' ').trim()}`);
            }
        }
    } finally {
        await browser.close();
    }
    for (const p of problems) console.error(p);
    if (problems.length > 0) {
        console.error(`check-mermaid: ${problems.length} broken diagram(s) out of ${blocks.length}`);
        return 1;
    }
    console.log(`check-mermaid: ${blocks.length} diagrams parse`);
    return 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
    console.error(`check-mermaid: ${err.message}`);
    process.exitCode = 2;
});
