// The reader's controls in a real browser: the theme switcher, the sidebar and chapter navigation,
// the copy button on code blocks, and the print page. Also writes screenshots for humans.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
    REPO, chapterPages, mermaidSettled, openPage, startSite, switchTheme,
} from '../lib/browser.mjs';
import { codeBlocks } from '../lib/snippets.mjs';

const SHOTS = join(REPO, 'target', 'browser-screenshots');

let site;
before(async () => {
    site = await startSite();
});
after(async () => {
    await site?.close();
});

const newContext = (options = {}) => site.browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });

test('the theme switcher changes the page and redraws its diagrams; the choice persists', async () => {
    const context = await newContext();
    const { page, problems } = await openPage(context, site.url, 'foundations/quickstart.html');
    await mermaidSettled(page);
    const fill = () => page.$eval('pre.mermaid svg .node rect, pre.mermaid svg .node polygon',
        (el) => getComputedStyle(el).fill);
    const pageBg = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const light = { fill: await fill(), bg: await pageBg() };

    await switchTheme(page, 'navy');
    await mermaidSettled(page);
    assert.equal(await page.evaluate(() => localStorage.getItem('mdbook-theme')), 'navy');
    const navy = { fill: await fill(), bg: await pageBg() };
    assert.notEqual(navy.bg, light.bg, 'the page background did not change');
    assert.notEqual(navy.fill, light.fill, 'the diagram was not redrawn in the new colours');

    await page.reload();
    await mermaidSettled(page);
    assert.ok(await page.evaluate(() => document.documentElement.classList.contains('navy')));
    assert.equal(await fill(), navy.fill, 'after a reload the diagram has other colours');
    assert.deepEqual(problems, []);
    await context.close();
});

test('the sidebar lists every chapter, links to it, marks it, and can be hidden', async () => {
    const context = await newContext();
    const chapters = await chapterPages(context, site.url);
    const { page, problems } = await openPage(context, site.url, 'index.html');
    for (const chapter of chapters) {
        await page.click(`#mdbook-sidebar a[href$="${chapter.href}"]`);
        await page.waitForURL((u) => u.pathname.endsWith(`/${chapter.href}`));
        assert.equal((await page.innerText('main h1')).trim(), chapter.title);
        const active = await page.$eval('#mdbook-sidebar a.active', (a) => a.getAttribute('href'));
        assert.ok(active.endsWith(chapter.href), `active link ${active} on ${chapter.href}`);
    }
    // The "previous chapter" arrow goes back one chapter in reading order.
    // (mdBook has two: arrows at the page sides on wide screens, buttons below the text otherwise.)
    await page.locator('a[rel="prev"]:visible').first().click();
    await page.waitForURL((u) => u.pathname.endsWith(`/${chapters.at(-2).href}`));

    const html = (cls) => page.evaluate((c) => document.documentElement.classList.contains(c), cls);
    assert.ok(await html('sidebar-visible'));
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.click('#mdbook-sidebar-toggle');
    await page.waitForFunction(() => !document.documentElement.classList.contains('sidebar-visible'));
    await page.waitForFunction(() => document.querySelector('#mdbook-sidebar').getBoundingClientRect().right <= 0);
    assert.equal(await page.evaluate(() => localStorage.getItem('mdbook-sidebar')), 'hidden');
    await page.click('#mdbook-sidebar-toggle');
    await page.waitForFunction(() => document.documentElement.classList.contains('sidebar-visible'));
    assert.deepEqual(problems, []);
    await context.close();
});

test('the copy button copies exactly the snippet, for every code block of a chapter', async () => {
    const context = await newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
    const { page, problems } = await openPage(context, site.url, 'foundations/quickstart.html');
    const expected = codeBlocks(REPO, join(REPO, 'src/foundations/quickstart.md'));
    const pres = page.locator('main pre:not(.mermaid)');
    assert.equal(await pres.count(), expected.length, 'code blocks on the page vs in the Markdown');
    assert.ok(expected.some((b) => b.lang === 'rust'), 'the chapter has Rust snippets');
    for (let i = 0; i < expected.length; i++) {
        const pre = pres.nth(i);
        await page.evaluate(() => navigator.clipboard.writeText('(nothing copied)'));
        await pre.hover();
        await pre.locator('.clip-button').click();
        const copied = await page.evaluate(() => navigator.clipboard.readText());
        assert.equal(copied.replace(/\n+$/, ''), expected[i].expected, `${expected[i].where} (${expected[i].lang})`);
    }
    assert.deepEqual(problems, []);
    await context.close();
});

test('print.html holds every chapter with its diagrams drawn', async () => {
    const context = await newContext();
    const chapters = await chapterPages(context, site.url);
    let diagrams = 0;
    for (const chapter of chapters) {
        const { page } = await openPage(context, site.url, chapter.href);
        diagrams += await page.locator('pre.mermaid').count();
        await page.close();
    }
    const { page, problems } = await openPage(context, site.url, 'print.html');
    await mermaidSettled(page);
    const titles = (await page.$$eval('main h1', (hs) => hs.map((h) => h.textContent.trim())));
    assert.deepEqual(titles, chapters.map((c) => c.title));
    const state = await page.$$eval('pre.mermaid', (bs) => bs.map((b) => ({
        svg: b.querySelector(':scope > svg') !== null,
        error: /syntax error/i.test(b.textContent),
    })));
    assert.equal(state.length, diagrams, 'diagrams in print.html vs in the chapters');
    assert.ok(state.every((s) => s.svg && !s.error), JSON.stringify(state));
    assert.deepEqual(problems, []);
    await context.close();
});

test('screenshots of a chapter in the light and coal themes, and of a search', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const written = [];
    for (const theme of ['light', 'coal']) {
        const context = await newContext();
        await context.addInitScript((t) => localStorage.setItem('mdbook-theme', t), theme);
        const { page } = await openPage(context, site.url, 'foundations/testing-telemetry.html');
        await mermaidSettled(page);
        const path = join(SHOTS, `testing-telemetry-${theme}.png`);
        await page.locator('pre.mermaid').first().scrollIntoViewIfNeeded();
        await page.screenshot({ path });
        written.push(path);
        if (theme === 'light') {
            await page.keyboard.press('s');
            await page.fill('#book-search .pagefind-ui__search-input', '采样器');
            await page.locator('#book-search .pagefind-ui__result-title .pagefind-ui__result-link').first().waitFor();
            const search = join(SHOTS, 'search-light.png');
            await page.screenshot({ path: search });
            written.push(search);
        }
        await context.close();
    }
    console.log(`screenshots:\n  ${written.join('\n  ')}`);
});
