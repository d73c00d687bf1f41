// Full-text search with Pagefind instead of mdBook's built-in index, which holds no Chinese words
// (rust-lang/mdBook#1081). ci/site/pagefind.sh writes the index to pagefind/ on every build.
//
// A magnifier button in the menu bar and the `s` / `/` keys open a dialog with Pagefind's default
// UI: chapter title, matching headings, excerpts with the match marked. The UI's script and CSS
// load on first use, so a reader who never searches never downloads them.
'use strict';

(() => {
    /* global path_to_root, PagefindUI */
    const bundle = new URL(path_to_root + 'pagefind/', document.baseURI);
    // Where the site root is on the server: Pagefind's result URLs start at the site root.
    const baseUrl = new URL(path_to_root, document.baseURI).pathname;

    const dialog = document.createElement('dialog');
    dialog.id = 'book-search';
    dialog.setAttribute('aria-label', '搜索全书');
    dialog.innerHTML = '<div id="book-search-ui"></div>';
    document.body.append(dialog);
    // Keys typed in the dialog are for the search box; mdBook's own shortcuts (arrow keys turn
    // the page) must not see them. Escape still closes the dialog: <dialog> handles it itself.
    dialog.addEventListener('keydown', (e) => e.stopPropagation());
    // A click on the backdrop (outside the dialog's box) closes it.
    dialog.addEventListener('click', (e) => {
        if (e.target === dialog) {
            dialog.close();
        }
    });

    let ready = null;
    function loadUi() {
        if (ready) {
            return ready;
        }
        const load = (tag, attrs) => new Promise((resolve, reject) => {
            const el = Object.assign(document.createElement(tag), attrs);
            el.onload = resolve;
            el.onerror = () => reject(new Error(`search: cannot load ${attrs.src || attrs.href}`));
            document.head.append(el);
        });
        ready = Promise.all([
            load('link', { rel: 'stylesheet', href: new URL('pagefind-ui.css', bundle).href }),
            load('script', { src: new URL('pagefind-ui.js', bundle).href }),
        ]).then(() => {
            dialog.querySelector('#book-search-ui').textContent = '';
            new PagefindUI({
                element: '#book-search-ui',
                bundlePath: bundle.href,
                baseUrl,
                showSubResults: true,
                showImages: false,
                resetStyles: false,
            });
            // A click on a result navigates; close the dialog for links within this page.
            dialog.addEventListener('click', (e) => {
                if (e.target.closest('a')) {
                    dialog.close();
                }
            });
        });
        ready.catch((err) => {
            ready = null;
            console.error(err);
        });
        return ready;
    }

    async function open() {
        if (!dialog.open) {
            dialog.showModal();
        }
        try {
            await loadUi();
        } catch (err) {
            // Pagefind needs the pages served over HTTP (file:// cannot load its index).
            dialog.querySelector('#book-search-ui').textContent =
                `搜索索引没有加载成功（${err.message}）。请通过 HTTP 访问本书，例如运行 ci/serve.sh。`;
            return;
        }
        const input = dialog.querySelector('input');
        if (input) {
            input.focus();
            input.select();
        }
    }

    const button = document.createElement('button');
    button.id = 'book-search-toggle';
    button.className = 'icon-button';
    button.type = 'button';
    button.title = '搜索（快捷键 S 或 /）';
    button.setAttribute('aria-label', '搜索');
    button.setAttribute('aria-keyshortcuts', 's /');
    button.setAttribute('aria-controls', 'book-search');
    button.innerHTML = '<svg viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true">'
        + '<circle cx="10" cy="10" r="6.5" fill="none" stroke="currentColor" stroke-width="2.5"/>'
        + '<line x1="15" y1="15" x2="21" y2="21" stroke="currentColor" stroke-width="2.5"'
        + ' stroke-linecap="round"/></svg>';
    button.addEventListener('click', open);
    document.querySelector('#mdbook-menu-bar .left-buttons').append(button);

    // mdBook's keyboard help (the `?` key) lists the search keys only for its own search.
    const help = document.querySelector('#mdbook-help-popup p');
    if (help) {
        const line = document.createElement('p');
        line.innerHTML = 'Press <kbd>S</kbd> or <kbd>/</kbd> to search in the book';
        help.after(line);
    }

    document.addEventListener('keydown', (e) => {
        if (e.altKey || e.ctrlKey || e.metaKey || dialog.open) {
            return;
        }
        if (e.key !== 's' && e.key !== 'S' && e.key !== '/') {
            return;
        }
        const target = e.composedPath()[0] || e.target;
        if (/^(?:input|select|textarea)$/i.test(target.nodeName) || target.isContentEditable) {
            return;
        }
        e.preventDefault();
        open();
    });
})();
