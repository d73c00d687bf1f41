// Renders the book's Mermaid diagrams in the colours of the current mdBook theme, and renders them
// again when the reader picks another theme, so a diagram never shows dark text on a dark page.
//
// mdbook-mermaid turns every ```mermaid block into <pre class="mermaid">source</pre>. Mermaid
// replaces the source with an SVG; we keep the source in data-source to be able to redraw.
// Mermaid is large (about 760 KB gzip), so it is fetched only by pages that have a diagram.
'use strict';

(() => {
    /* global path_to_root, mermaid */
    const blocks = Array.from(document.querySelectorAll('pre.mermaid'));
    if (blocks.length === 0) {
        return;
    }
    for (const block of blocks) {
        block.dataset.source = block.textContent;
    }
    const script = document.createElement('script');
    script.src = path_to_root + 'vendor/mermaid.min.js';
    script.onload = start;
    script.onerror = () => console.error(
        `mermaid-init.js: cannot load ${script.src}; run ci/setup.sh book, which writes src/vendor/`);
    document.head.append(script);

    function start() {
        const darkThemes = ['coal', 'navy', 'ayu'];
        const html = document.documentElement;

        // The mdBook theme class on <html> (light, rust, coal, navy or ayu).
        function pageTheme() {
            return ['light', 'rust', ...darkThemes].find((t) => html.classList.contains(t)) || 'light';
        }

        // Mermaid's "base" theme derives every colour from a few variables; we feed it mdBook's own
        // CSS variables so each of the five themes gets diagrams in its palette.
        function themeVariables() {
            const css = getComputedStyle(html);
            const v = (name) => css.getPropertyValue(name).trim();
            const fg = v('--fg');
            const accent = v('--sidebar-active');
            return {
                darkMode: darkThemes.includes(pageTheme()),
                fontFamily: getComputedStyle(document.body).fontFamily,
                background: v('--bg'),
                textColor: fg,
                lineColor: fg,
                primaryColor: v('--quote-bg'),
                primaryTextColor: fg,
                primaryBorderColor: accent,
                secondaryColor: v('--table-alternate-bg'),
                secondaryTextColor: fg,
                secondaryBorderColor: v('--quote-border'),
                tertiaryColor: v('--bg'),
                tertiaryTextColor: fg,
                tertiaryBorderColor: v('--quote-border'),
                nodeTextColor: fg,
                clusterBkg: v('--table-alternate-bg'),
                clusterBorder: v('--quote-border'),
                titleColor: fg,
                edgeLabelBackground: v('--bg'),
                noteBkgColor: v('--theme-popup-bg'),
                noteTextColor: fg,
                noteBorderColor: v('--quote-border'),
                actorBkg: v('--quote-bg'),
                actorBorder: accent,
                actorTextColor: fg,
                actorLineColor: fg,
                signalColor: fg,
                signalTextColor: fg,
                labelBoxBkgColor: v('--quote-bg'),
                labelBoxBorderColor: accent,
                labelTextColor: fg,
                loopTextColor: fg,
                activationBkgColor: v('--table-alternate-bg'),
                activationBorderColor: accent,
                sequenceNumberColor: v('--bg'),
                // State diagrams: Mermaid fills the dot of the [*] end state with the state border
                // colour, which defaults to the accent and is too faint on the rust theme's background.
                stateBorder: fg,
            };
        }

        let rendered = null;
        let drawing = Promise.resolve();

        function draw() {
            const theme = pageTheme();
            if (theme === rendered) {
                return drawing;
            }
            rendered = theme;
            drawing = drawing.then(async () => {
                mermaid.initialize({
                    startOnLoad: false,
                    theme: 'base',
                    themeVariables: themeVariables(),
                    securityLevel: 'strict',
                });
                for (const block of blocks) {
                    block.removeAttribute('data-processed');
                    block.textContent = block.dataset.source;
                }
                try {
                    await mermaid.run({ nodes: blocks });
                } catch (err) {
                    // ci/site/check-mermaid.mjs rejects such a diagram before it ships; say which one.
                    console.error('mermaid-init.js: a diagram failed to render:', err);
                }
                html.dataset.mermaidTheme = theme;
            });
            return drawing;
        }

        draw();
        // book.js switches themes by changing the class on <html>.
        new MutationObserver(draw).observe(html, { attributes: true, attributeFilter: ['class'] });
    }
})();
