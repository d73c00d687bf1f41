// Runs inside the page (passed to page.evaluate, so it must be self-contained): WCAG contrast
// ratios, worst first.
//
// measureContrast() looks at the rendered Mermaid diagrams: for every piece of text it finds what
// is drawn behind it (the node, actor or note shape, or the page); for every edge line, it takes
// its stroke against the page background. measureContrast(selector) looks at the HTML elements
// matching selector instead: their text colour against the first opaque background at or above them.
export function measureContrast(selector = null) {
    function parse(color) {
        const m = color && color.match(/rgba?\(([^)]+)\)/);
        if (!m) {
            return null;
        }
        const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
        return { r, g, b, a };
    }
    function over(top, bottom) {
        const a = top.a;
        return {
            r: top.r * a + bottom.r * (1 - a),
            g: top.g * a + bottom.g * (1 - a),
            b: top.b * a + bottom.b * (1 - a),
            a: 1,
        };
    }
    function luminance({ r, g, b }) {
        const lin = (c) => {
            const s = c / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    }
    function ratio(x, y) {
        const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
        return (hi + 0.05) / (lo + 0.05);
    }
    const SHAPES = new Set(['rect', 'polygon', 'circle', 'ellipse', 'path']);
    // The page colour: the first opaque background from <main> up (mdBook paints <html>).
    let page = { r: 255, g: 255, b: 255, a: 1 };
    for (let el = document.querySelector('main'); el; el = el.parentElement) {
        const bg = parse(getComputedStyle(el).backgroundColor);
        if (bg && bg.a === 1) {
            page = bg;
            break;
        }
    }

    // The colour behind point (x, y) inside `svg`: the topmost filled shape, else the page.
    function behind(svg, x, y, self) {
        for (const el of document.elementsFromPoint(x, y)) {
            if (el === self || self.contains(el) || !svg.contains(el) || !SHAPES.has(el.tagName)) {
                continue;
            }
            const fill = parse(getComputedStyle(el).fill);
            if (fill && fill.a > 0) {
                return over(fill, page);
            }
        }
        return page;
    }

    const texts = [];
    const lines = [];
    if (selector !== null) {
        for (const el of document.querySelectorAll(selector)) {
            let bg = null;
            for (let at = el; at && !bg; at = at.parentElement) {
                const c = parse(getComputedStyle(at).backgroundColor);
                if (c && c.a === 1) bg = c;
            }
            const ink = parse(getComputedStyle(el).color);
            texts.push({ text: el.textContent.trim().slice(0, 40), ratio: ratio(over(ink, bg || page), bg || page) });
        }
        return { texts: texts.sort((p, q) => p.ratio - q.ratio), lines };
    }
    for (const svg of document.querySelectorAll('pre.mermaid svg')) {
        svg.scrollIntoView({ block: 'center' });
        const labels = [
            ...svg.querySelectorAll('foreignObject span, foreignObject div, foreignObject p'),
            ...svg.querySelectorAll('text'),
        ].filter((el) => el.textContent.trim() && !Array.from(el.children)
            .some((c) => c.textContent.trim() === el.textContent.trim()));
        for (const el of labels) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.height === 0) {
                continue;
            }
            const style = getComputedStyle(el);
            const ink = parse(el.tagName === 'text' || el.tagName === 'tspan' ? style.fill : style.color);
            if (!ink) {
                continue;
            }
            const bg = behind(svg, box.x + box.width / 2, box.y + box.height / 2, el);
            texts.push({ text: el.textContent.trim().slice(0, 40), ratio: ratio(over(ink, bg), bg) });
        }
        for (const path of svg.querySelectorAll('path, line')) {
            const style = getComputedStyle(path);
            const stroke = parse(style.stroke);
            const isEdge = (style.fill === 'none' || parse(style.fill)?.a === 0)
                && stroke && stroke.a > 0 && parseFloat(style.strokeWidth) > 0
                && !path.closest('marker');
            if (isEdge) {
                lines.push({ id: path.id || path.getAttribute('class') || path.tagName, ratio: ratio(over(stroke, page), page) });
            }
        }
    }
    texts.sort((p, q) => p.ratio - q.ratio);
    lines.sort((p, q) => p.ratio - q.ratio);
    return { texts, lines };
}
