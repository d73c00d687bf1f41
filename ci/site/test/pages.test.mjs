// Every page of the built book, in a real browser: it loads cleanly, and its diagrams are drawn
// (as SVG, without Mermaid's error text) and readable in each of mdBook's five themes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
    DARK_THEMES, THEMES, htmlPages, mermaidSettled, openPage, startSite, switchTheme,
} from '../lib/browser.mjs';
import { measureContrast } from '../lib/contrast.mjs';

// WCAG 2 AA: 4.5:1 for text, 3:1 for the graphical lines that carry meaning.
const MIN_TEXT_CONTRAST = 4.5;
const MIN_LINE_CONTRAST = 3;

// toc.html is the sidebar for readers without JavaScript (an iframe); mdBook gives it no icon
// link, so Chromium asks for /favicon.ico, which a real host would not have either.
const EXPECTED = [/^toc\.html: console error: Failed to load resource: .*404.* \(.*\/favicon\.ico\)$/];

let site;
before(async () => {
    site = await startSite();
});
after(async () => {
    await site?.close();
});

async function contextFor(theme) {
    const context = await site.browser.newContext({ viewport: { width: 1280, height: 900 } });
    // book.js reads the theme from localStorage before the first paint, as for a returning reader.
    await context.addInitScript((t) => localStorage.setItem('mdbook-theme', t), theme);
    return context;
}

test('every page loads with no console error, exception or failed request', async () => {
    const pages = await htmlPages();
    assert.ok(pages.includes('index.html') && pages.includes('print.html'), `pages: ${pages}`);
    const context = await contextFor('light');
    const problems = [];
    for (const path of pages) {
        const opened = await openPage(context, site.url, path);
        await mermaidSettled(opened.page);
        // Give late requests (fonts, lazily loaded scripts) a chance to fail.
        await opened.page.waitForLoadState('networkidle');
        problems.push(...opened.problems.map((p) => `${path}: ${p}`));
        // Mermaid (about 760 KB gzip) is fetched by the pages that draw diagrams, and only by them.
        const diagrams = await opened.page.locator('pre.mermaid').count();
        const fetched = opened.requests.some((u) => u.endsWith('/vendor/mermaid.min.js'));
        if (fetched !== diagrams > 0) {
            problems.push(`${path}: ${diagrams} diagrams, but Mermaid was${fetched ? '' : ' not'} fetched`);
        }
        await opened.page.close();
    }
    await context.close();
    assert.deepEqual(problems.filter((p) => !EXPECTED.some((re) => re.test(p))), []);
});

test('diagrams are SVG, error-free and readable in all five themes, across theme switches', async () => {
    // Load each page in a dark theme (diagrams drawn dark from the start), then switch through
    // every theme with the menu's theme switcher and check the redrawn diagrams each time.
    const context = await contextFor('coal');
    const pages = (await htmlPages()).filter((p) => !['print.html', 'toc.html', '404.html'].includes(p));
    let diagrams = 0;
    const failures = [];
    for (const path of pages) {
        const { page, problems } = await openPage(context, site.url, path);
        for (const theme of ['coal', ...THEMES.filter((t) => t !== 'coal')]) {
            if (theme !== 'coal') {
                await switchTheme(page, theme);
            }
            await mermaidSettled(page);
            const where = `${path} [${theme}]`;
            const state = await page.$$eval('pre.mermaid', (blocks) => blocks.map((b) => ({
                svg: b.querySelector(':scope > svg') !== null,
                error: /syntax error|parse error|error in text/i.test(b.textContent)
                    || b.querySelector('.error-icon, .error-text') !== null,
            })));
            if (theme === 'coal') {
                diagrams += state.length;
            }
            state.forEach((s, i) => {
                if (!s.svg) failures.push(`${where}: diagram ${i + 1} was not drawn as SVG`);
                if (s.error) failures.push(`${where}: diagram ${i + 1} shows Mermaid's error text`);
            });
            const scheme = await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme);
            assert.equal(scheme.includes('dark'), DARK_THEMES.includes(theme), `${where}: color-scheme ${scheme}`);
            const { texts, lines } = await page.evaluate(measureContrast);
            if (state.length > 0 && (texts.length === 0 || lines.length === 0)) {
                failures.push(`${where}: found ${texts.length} labels and ${lines.length} lines to measure`);
            }
            for (const t of texts.filter((t) => t.ratio < MIN_TEXT_CONTRAST)) {
                failures.push(`${where}: text "${t.text}" has contrast ${t.ratio.toFixed(2)}:1`);
            }
            for (const l of lines.filter((l) => l.ratio < MIN_LINE_CONTRAST)) {
                failures.push(`${where}: line ${l.id} has contrast ${l.ratio.toFixed(2)}:1`);
            }
        }
        failures.push(...problems.map((p) => `${path}: ${p}`));
        await page.close();
    }
    await context.close();
    assert.ok(diagrams > 0, 'the book has no diagram at all');
    assert.deepEqual(failures, []);
});
