// ci/site/check-mermaid.mjs: a diagram Mermaid cannot parse fails the checks, named by file and line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

import { REPO } from '../lib/browser.mjs';

const script = join(REPO, 'ci/site/check-mermaid.mjs');
const run = (...args) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });

test('broken diagrams are reported with file and line, and fail', () => {
    const out = run(join(REPO, 'ci/site/test/fixtures/broken-mermaid'));
    assert.equal(out.status, 1, out.stderr);
    assert.deepEqual(out.stderr.trim().split('\n'), [
        "src/patterns/broken.md:7: Mermaid cannot parse this diagram: Expecting 'AMP', 'COLON', 'PIPE', 'TESTSTR', 'DOWN', 'DEFAULT', 'NUM', 'COMMA', 'NODE_STRING', 'BRKT', 'MINUS', 'MULT', 'UNICODE_TEXT', got 'EOF'",
        "src/patterns/broken.md:12: Mermaid cannot parse this diagram: Expecting '+', '-', 'ACTOR', got 'TXT'",
        'src/patterns/broken.md:16: Mermaid cannot parse this diagram: No diagram type detected matching given configuration for text: notadiagram',
        'check-mermaid: 3 broken diagram(s) out of 4',
    ]);
});

test('the book\'s own diagrams all parse', () => {
    const out = run();
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^check-mermaid: \d+ diagrams parse$/m);
});

test('a directory without src/ is a usage error, not a pass', () => {
    const out = run(join(REPO, 'ci/site/test'));
    assert.equal(out.status, 2);
    assert.match(out.stderr, /src does not exist; pass the book's root directory/);
});
