// Search, as a reader uses it: Pagefind's index finds Chinese words and API names, the dialog
// opens from the button and the `s` / `/` keys, and a result lands on its heading.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { THEMES, chapterPages, openPage, startSite, switchTheme } from '../lib/browser.mjs';
import { measureContrast } from '../lib/contrast.mjs';

const { terms } = JSON.parse(readFileSync(new URL('../search-terms.json', import.meta.url)));

let site;
let context;
before(async () => {
    site = await startSite();
    context = await site.browser.newContext({ viewport: { width: 1280, height: 900 } });
});
after(async () => {
    await site?.close();
});

// Searches with Pagefind's own API inside a book page; returns the first results' URLs and texts.
async function search(page, term, count = 3) {
    return page.evaluate(async ([bundle, t, n]) => {
        const pagefind = await import(bundle);
        await pagefind.init();
        const found = await pagefind.search(t);
        const data = await Promise.all(found.results.slice(0, n).map((r) => r.data()));
        return { total: found.results.length, results: data.map((d) => ({ url: d.url, title: d.meta.title, content: d.content })) };
    }, [new URL('pagefind/pagefind.js', site.url).href, term, count]);
}

test('mdBook\'s own search is off: no search index, no second search box', async () => {
    const { page } = await openPage(context, site.url, 'index.html');
    assert.equal(await page.$('#mdbook-searchbar'), null);
    assert.equal(await page.$('#mdbook-search-toggle'), null);
    assert.equal(await page.evaluate(() => typeof window.path_to_searchindex_js), 'undefined');
    assert.equal(await page.$$eval('#book-search-toggle', (b) => b.length), 1);
    await page.close();
});

test('each listed term finds its chapter among the first three results', async () => {
    const { page, problems } = await openPage(context, site.url, 'index.html');
    const misses = [];
    for (const { term, page: expected } of terms) {
        const { results } = await search(page, term);
        const urls = results.map((r) => r.url.replace(/^\//, '') || 'index.html');
        if (!urls.includes(expected)) {
            misses.push(`${term}: expected ${expected} in the first three, got [${urls.join(', ')}]`);
        }
    }
    assert.ok(terms.some((t) => /^[A-Za-z]/.test(t.term)), 'the list has an English API name too');
    assert.ok(terms.some((t) => /\p{Script=Han}/u.test(t.term)), 'the list has Chinese terms');
    assert.deepEqual(misses, []);
    assert.deepEqual(problems, []);
    await page.close();
    // CONTRIBUTING asks for terms with every new chapter; a chapter without any fails here.
    const covered = new Set(terms.map((t) => t.page));
    const chapters = await chapterPages(context, site.url);
    assert.deepEqual(chapters.map((c) => c.href).filter((h) => !covered.has(h)), [],
        'chapters with no term in ci/site/search-terms.json');
});

test('only chapter content is indexed: every chapter, nothing else, without navigation', async () => {
    const { page } = await openPage(context, site.url, 'index.html');
    const chapters = await chapterPages(context, site.url);
    // Every chapter is findable by its title, and no result is a page that is not a chapter.
    const seen = new Set();
    for (const chapter of chapters) {
        const { results } = await search(page, chapter.title, 10);
        const urls = results.map((r) => r.url.replace(/^\//, '') || 'index.html');
        assert.ok(urls.includes(chapter.href), `searching "${chapter.title}" gives [${urls}]`);
        urls.forEach((u) => seen.add(u));
    }
    const hrefs = new Set(chapters.map((c) => c.href));
    assert.deepEqual([...seen].filter((u) => !hrefs.has(u)), [], 'results that are not chapters');
    // The indexed text of a chapter starts with its own title, not with the sidebar or menu bar,
    // and never contains the sidebar's list of chapters or the Mermaid source.
    const sidebarRun = chapters.slice(0, 3).map((c) => c.title).join(' ');
    for (const chapter of chapters) {
        const { results } = await search(page, chapter.title, 10);
        const hit = results.find((r) => (r.url.replace(/^\//, '') || 'index.html') === chapter.href);
        assert.ok(hit.content.startsWith(chapter.title), `${chapter.href}: indexed text starts "${hit.content.slice(0, 40)}"`);
        assert.ok(!hit.content.includes(sidebarRun), `${chapter.href}: the sidebar is indexed`);
        assert.ok(!/flowchart|sequenceDiagram|-->|->>/.test(hit.content), `${chapter.href}: Mermaid source is indexed`);
    }
    await page.close();
});

test('a word that is nowhere in the book finds nothing', async () => {
    const { page } = await openPage(context, site.url, 'index.html');
    // Like an unknown Chinese word, an unknown Latin word falls back to its first character when
    // that character is a word of its own in the index: 'zyxwvut' matched the `z` of a code
    // block. So the probe starts with a letter that no listing uses as a one-letter name.
    for (const term of ['纠缠', 'jabberwock']) {
        assert.equal((await search(page, term)).total, 0, term);
    }
    await page.close();
});

test('the button, `s` and `/` open the search dialog; a result lands on its heading', async () => {
    const { page, problems } = await openPage(context, site.url, 'foundations/quickstart.html');
    const input = '#book-search .pagefind-ui__search-input';

    await page.click('#book-search-toggle');
    await page.waitForSelector(input, { state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('pagefind-ui__search-input')), true);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#book-search', { state: 'hidden' });

    // mdBook's keyboard help names the search keys.
    await page.keyboard.press('?');
    await page.waitForSelector('#mdbook-help-popup', { state: 'visible' });
    assert.match(await page.innerText('#mdbook-help-popup'), /Press S or \/ to search/);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#mdbook-help-popup', { state: 'hidden' });

    for (const key of ['s', '/']) {
        await page.keyboard.press(key);
        await page.waitForSelector(input, { state: 'visible' });
        // The key opened the dialog; it was not typed into the box.
        assert.equal(await page.inputValue(input), '', `after pressing ${key}`);
        await page.keyboard.press('Escape');
        await page.waitForSelector('#book-search', { state: 'hidden' });
    }

    // Typing in the box, arrow keys included, stays in the box: mdBook's arrow-key page turns
    // must not fire.
    const before = page.url();
    await page.keyboard.press('s');
    await page.fill(input, '编解码器');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowLeft');
    assert.equal(page.url(), before);

    // Results show the chapter title, its matching headings and excerpts with the match marked.
    // Pagefind draws placeholders first and fills each result in when its fragment has loaded.
    const result = page.locator('#book-search .pagefind-ui__result')
        .filter({ has: page.locator('.pagefind-ui__result-title', { hasText: '测试你的遥测' }) })
        .first();
    await result.waitFor();
    assert.ok(await result.locator('mark').count() > 0, 'no highlighted match');
    const sub = result.locator('.pagefind-ui__result-nested .pagefind-ui__result-link').first();
    const heading = (await sub.innerText()).trim();
    const href = await sub.getAttribute('href');
    assert.match(href, /testing-telemetry\.html#[\w-]+$/);

    await sub.click();
    await page.waitForURL(/testing-telemetry\.html#/);
    const id = decodeURIComponent(new URL(page.url()).hash.slice(1));
    const landed = await page.evaluate((i) => {
        const el = document.getElementById(i);
        if (!el) return null;
        const box = el.getBoundingClientRect();
        return { text: el.textContent.trim(), top: box.top, tag: el.tagName };
    }, id);
    assert.ok(landed, `no element with id ${id}`);
    assert.match(landed.tag, /^H[1-6]$/);
    assert.ok(landed.text.includes(heading.replace(/^\W+/, '')) || heading.includes(landed.text), `${landed.text} vs ${heading}`);
    assert.ok(landed.top >= 0 && landed.top < 300, `heading is at ${landed.top}px, not at the top`);
    assert.deepEqual(problems, []);
    await page.close();
});

test('when the index cannot load, the dialog says so instead of staying blank', async () => {
    const ctx = await site.browser.newContext();
    await ctx.route('**/pagefind/**', (route) => route.abort());
    const { page } = await openPage(ctx, site.url, 'index.html');
    await page.keyboard.press('/');
    await page.waitForFunction(() => document.querySelector('#book-search-ui')?.textContent.includes('搜索索引没有加载成功'));
    assert.match(await page.innerText('#book-search-ui'), /ci\/serve\.sh/);
    await ctx.close();
});

test('results and highlighted matches are readable in all five themes', async () => {
    const { page, problems } = await openPage(context, site.url, 'foundations/quickstart.html');
    const failures = [];
    for (const theme of THEMES) {
        await switchTheme(page, theme);
        await page.keyboard.press('s');
        await page.fill('#book-search .pagefind-ui__search-input', 'BatchSpanProcessor');
        await page.locator('#book-search mark').first().waitFor();
        const { texts } = await page.evaluate(measureContrast,
            '#book-search mark, #book-search .pagefind-ui__result-link, #book-search .pagefind-ui__result-excerpt');
        assert.ok(texts.length > 0);
        for (const t of texts.filter((t) => t.ratio < 4.5)) {
            failures.push(`${theme}: "${t.text}" has contrast ${t.ratio.toFixed(2)}:1`);
        }
        await page.keyboard.press('Escape');
        await page.waitForSelector('#book-search', { state: 'hidden' });
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(problems, []);
    await page.close();
});
