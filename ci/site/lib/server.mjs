// A static file server for the built book (book/html), on a free loopback port. It serves exactly
// what is on disk, with the content types a real host would send, so a missing asset is a 404
// that the browser tests see as a failed request.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.json': 'application/json',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
    '.woff': 'font/woff',
    '.woff2': 'font/woff2',
    '.ttf': 'font/ttf',
    '.eot': 'application/vnd.ms-fontobject',
    '.txt': 'text/plain; charset=utf-8',
    '.wasm': 'application/wasm',
};

/** Starts serving `root`; resolves to { url, close() }. */
export async function serve(root) {
    const server = createServer(async (req, res) => {
        try {
            const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
            const file = normalize(join(root, path.endsWith('/') ? path + 'index.html' : path));
            if (file !== root && !file.startsWith(root + sep)) {
                res.writeHead(403).end();
                return;
            }
            const info = await stat(file).catch(() => null);
            if (!info || !info.isFile()) {
                res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
                return;
            }
            const body = await readFile(file);
            res.writeHead(200, {
                'content-type': TYPES[extname(file)] || 'application/octet-stream',
                'content-length': body.length,
            });
            res.end(req.method === 'HEAD' ? undefined : body);
        } catch (err) {
            res.writeHead(500).end(String(err));
        }
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((resolve) => server.close(resolve)),
    };
}
