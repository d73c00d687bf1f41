#!/usr/bin/env node
// What a first visit to one chapter page downloads, measured in Chromium over the built book:
// every response, its size as served gzip-compressed (gzip -9; fonts and images, which servers
// send as they are, count raw), grouped by asset. Then what opening the search adds.
//
//   node ci/site/page-weight.mjs [PAGE]     PAGE defaults to foundations/quickstart.html
// Writes the report to stdout and to target/page-weight.txt.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { REPO, mermaidSettled, startSite } from './lib/browser.mjs';

const pagePath = process.argv[2] || 'foundations/quickstart.html';
const COMPRESSIBLE = /text\/|javascript|json|svg|wasm|octet-stream/;

function record(page, into) {
    page.on('response', async (res) => {
        const done = res.finished().then(async () => {
            const body = await res.body().catch(() => Buffer.alloc(0));
            const type = res.headers()['content-type'] || '';
            const url = new URL(res.url());
            into.push({
                path: url.pathname.replace(/^\//, '') || 'index.html',
                type,
                raw: body.length,
                gzip: COMPRESSIBLE.test(type) ? Math.min(body.length, gzipSync(body, { level: 9 }).length) : body.length,
            });
        });
        into.pending.push(done);
    });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

function table(title, rows) {
    rows.sort((a, b) => b.gzip - a.gzip);
    const total = rows.reduce((s, r) => ({ raw: s.raw + r.raw, gzip: s.gzip + r.gzip }), { raw: 0, gzip: 0 });
    const width = Math.max(...rows.map((r) => r.path.length), 10);
    const lines = [
        title,
        `  ${'asset'.padEnd(width)}  ${'gzip'.padStart(10)}  ${'raw'.padStart(10)}  share`,
        ...rows.map((r) => `  ${r.path.padEnd(width)}  ${kb(r.gzip).padStart(10)}  ${kb(r.raw).padStart(10)}  ${(100 * r.gzip / total.gzip).toFixed(1).padStart(4)}%`),
        `  ${'total'.padEnd(width)}  ${kb(total.gzip).padStart(10)}  ${kb(total.raw).padStart(10)}  (${rows.length} requests)`,
    ];
    return { lines, total };
}

async function main() {
    const site = await startSite();
    try {
        const context = await site.browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const first = Object.assign([], { pending: [] });
        record(page, first);
        await page.goto(new URL(pagePath, site.url).href, { waitUntil: 'load' });
        await mermaidSettled(page);
        await page.waitForLoadState('networkidle');
        await Promise.all(first.pending);
        if (!first.some((r) => r.path === pagePath)) {
            throw new Error(`${pagePath} was not served; is it a page of the book?`);
        }

        // What the first search adds: the Pagefind UI, its WebAssembly and the index chunks.
        const search = Object.assign([], { pending: [] });
        page.removeAllListeners('response');
        record(page, search);
        await page.keyboard.press('s');
        await page.fill('#book-search .pagefind-ui__search-input', '采样器');
        await page.locator('#book-search .pagefind-ui__result-title .pagefind-ui__result-link').first().waitFor();
        await page.waitForLoadState('networkidle');
        await Promise.all(search.pending);

        const visit = table(`First visit to ${pagePath} (cache empty):`, first);
        const searching = table('Added by the first search:', search);
        const report = [
            ...visit.lines,
            '',
            ...searching.lines,
            '',
            `page weight: ${kb(visit.total.gzip)} gzip for a first visit to ${pagePath}`,
        ].join('\n');
        console.log(report);
        mkdirSync(join(REPO, 'target'), { recursive: true });
        writeFileSync(join(REPO, 'target', 'page-weight.txt'), report + '\n');
    } finally {
        await site.close();
    }
}

main().catch((err) => {
    console.error(`page-weight: ${err.message}`);
    process.exitCode = 1;
});
