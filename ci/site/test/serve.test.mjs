// The README's serve command gets the search index too: `mdbook serve` runs the Pagefind renderer
// on its builds, so search works on http://localhost:3000 exactly as on the built site.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { REPO } from '../lib/browser.mjs';

async function freePort() {
    const server = createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    return port;
}

async function fetchWithin(url, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
        try {
            const res = await fetch(url);
            if (res.ok) return res;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
}

test('mdbook serve builds the search index along with the pages', async () => {
    const dest = mkdtempSync(join(tmpdir(), 'book-serve-'));
    const port = await freePort();
    const serve = spawn('mdbook', ['serve', '--hostname', '127.0.0.1', '--port', String(port), '--dest-dir', dest], {
        cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    serve.stderr.on('data', (chunk) => { log += chunk; });
    try {
        const base = `http://127.0.0.1:${port}/`;
        const entry = await (await fetchWithin(base + 'pagefind/pagefind-entry.json', 120_000)).json();
        assert.ok(entry.languages['zh-cn'], `index languages: ${Object.keys(entry.languages)}`);
        assert.ok(entry.languages['zh-cn'].page_count > 0);
        const chapter = await (await fetchWithin(base + 'foundations/quickstart.html', 5_000)).text();
        assert.match(chapter, /theme\/search-[0-9a-f]+\.js/);
        assert.doesNotMatch(chapter, /searchindex/);
    } catch (err) {
        err.message += `\nmdbook serve said:\n${log}`;
        throw err;
    } finally {
        serve.kill();
        rmSync(dest, { recursive: true, force: true });
    }
});
