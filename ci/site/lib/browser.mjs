// Debian's Chromium, driven by playwright-core (which never downloads a browser of its own).
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { serve } from './server.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SITE = process.env.BOOK_SITE || join(REPO, 'book/html');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const THEMES = ['light', 'rust', 'coal', 'navy', 'ayu'];
export const DARK_THEMES = ['coal', 'navy', 'ayu'];

// This machine has no network beyond package registries: every flag that keeps Chromium from
// phoning home matters, or it stalls on refused connections.
const ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];

export async function launch() {
    if (!existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} is missing; run ci/setup.sh (installs Debian's chromium)`);
    }
    return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/** Serves the built book and starts Chromium; call `close()` when done. */
export async function startSite() {
    if (!existsSync(join(SITE, 'index.html'))) {
        throw new Error(`${SITE}/index.html is missing; build the book first (ci/build-book.sh)`);
    }
    const server = await serve(SITE);
    const browser = await launch();
    return {
        url: server.url,
        browser,
        async close() {
            await browser.close();
            await server.close();
        },
    };
}

/**
 * Opens `path` in a new page of `context` and records what went wrong while it loaded and ran:
 * console errors, uncaught exceptions, failed requests and HTTP error responses; and every URL
 * it requested.
 */
export async function openPage(context, base, path) {
    const page = await context.newPage();
    const problems = [];
    const requests = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (msg) => {
        if (msg.type() === 'error') {
            const where = msg.location()?.url;
            problems.push(`console error: ${msg.text()}${where ? ` (${where})` : ''}`);
        }
    });
    page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
    page.on('requestfailed', (req) => {
        problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
    });
    page.on('response', (res) => {
        if (res.status() >= 400) {
            problems.push(`HTTP ${res.status()}: ${res.url()}`);
        }
    });
    await page.goto(new URL(path, base).href, { waitUntil: 'load' });
    return { page, problems, requests };
}

/** Picks `theme` with the theme switcher in the menu bar, as a reader does. */
export async function switchTheme(page, theme) {
    // The menu bar slides away while the reader scrolls down; it is there at the top.
    await page.evaluate(() => window.scrollTo(0, 0));
    if (!await page.isVisible('#mdbook-theme-list')) {
        await page.click('#mdbook-theme-toggle');
    }
    await page.click(`#mdbook-theme-${theme}`);
    await page.waitForFunction((t) => document.documentElement.classList.contains(t), theme);
}

/** Waits until every Mermaid block on the page has been drawn for the page's current theme. */
export async function mermaidSettled(page) {
    await page.waitForFunction(() => {
        const blocks = document.querySelectorAll('pre.mermaid');
        if (blocks.length === 0) {
            return true;
        }
        const theme = ['light', 'rust', 'coal', 'navy', 'ayu']
            .find((t) => document.documentElement.classList.contains(t));
        return document.documentElement.dataset.mermaidTheme === theme
            && Array.from(blocks).every((b) => b.getAttribute('data-processed') === 'true');
    }, null, { timeout: 20_000 });
}

/** Every HTML page of the built book, as paths relative to its root (pagefind/ excluded). */
export async function htmlPages(dir = SITE) {
    const out = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) {
            if (full !== join(SITE, 'pagefind')) {
                out.push(...await htmlPages(full));
            }
        } else if (entry.name.endsWith('.html')) {
            out.push(relative(SITE, full).split('\\').join('/'));
        }
    }
    return out.sort();
}

/** Chapter pages in reading order, from the sidebar that mdBook writes into toc.html. */
export async function chapterPages(context, base) {
    const page = await context.newPage();
    await page.goto(new URL('toc.html', base).href);
    const links = await page.$$eval('ol.chapter a[href]', (as) => as.map((a) => ({
        href: a.getAttribute('href'),
        title: a.textContent.replace(/^\s*[\d.]+\s*/, '').trim(),
    })));
    await page.close();
    return links;
}
