import * as path from 'node:path';
import t from 'tap';

import { MalformedRequestError } from '../../src/util/errors.js';
import { resolveInside, securePath } from '../../src/util/secure-path.js';

t.test('securePath keeps ordinary relative paths', async (t) => {
  t.equal(securePath('main.cwl'), 'main.cwl');
  t.equal(securePath('tools/count.cwl'), 'tools/count.cwl');
  t.equal(securePath('a-b_c.d/E9'), 'a-b_c.d/E9');
  t.equal(securePath('.hidden'), '.hidden');
  t.equal(securePath('file..name'), 'file..name');
});

t.test('securePath drops traversal components', async (t) => {
  t.equal(securePath('../../etc/passwd'), 'etc/passwd');
  t.equal(securePath('a/../b'), 'a/b');
  t.equal(securePath('./a/./b/.'), 'a/b');
  t.equal(securePath('a/.../b'), 'a/b');
  t.equal(securePath('..'), null);
  t.equal(securePath('../..'), null);
  t.equal(securePath('./././'), null);
});

t.test('securePath treats absolute paths as relative', async (t) => {
  t.equal(securePath('/etc/passwd'), 'etc/passwd');
  t.equal(securePath('//server/share/x'), 'server/share/x');
  t.equal(securePath('/'), null);
});

t.test('securePath splits on backslashes too', async (t) => {
  t.equal(securePath('..\\..\\windows\\system32'), 'windows/system32');
  t.equal(securePath('C:\\Users\\x.txt'), 'C/Users/x.txt');
  t.equal(securePath('a\\..\\b/..\\c'), 'a/b/c');
});

t.test('securePath drops empty components', async (t) => {
  t.equal(securePath(''), null);
  t.equal(securePath('a//b///c/'), 'a/b/c');
});

t.test('securePath removes unsafe characters', async (t) => {
  t.equal(securePath('my file (1).txt'), 'myfile1.txt');
  t.equal(securePath('a;rm -rf *'), 'arm-rf');
  t.equal(securePath('$HOME/`id`'), 'HOME/id');
  t.equal(securePath('naïve/café.txt'), 'nave/caf.txt');
  t.equal(securePath('☃'), null);
});

t.test('securePath defeats unicode and encoding tricks', async (t) => {
  // Fullwidth full stops and solidus must not become `..` or `/`.
  t.equal(securePath('\uff0e\uff0e/\uff0e\uff0e/etc'), 'etc');
  t.equal(securePath('\uff0e\uff0e\uff0fetc'), 'etc');
  // One dot leader, two-dot leader, ellipsis.
  t.equal(securePath('\u2024\u2024/\u2025/\u2026/x'), 'x');
  // Percent-encoding is not decoded, just stripped of its `%`.
  t.equal(securePath('%2e%2e/%2e%2e/etc'), '2e2e/2e2e/etc');
  t.equal(securePath('..%2f..%2fetc'), '..2f..2fetc');
  // NUL bytes and other control characters vanish; dots left alone are dropped.
  t.equal(securePath('.\u0000./x'), 'x');
  t.equal(securePath('a\u0000b'), 'ab');
  t.equal(securePath('a\nb\tc\r'), 'abc');
  // Combining marks and zero-width characters are removed.
  t.equal(securePath('.\u200b./.\u0301./y'), 'y');
  // Lookalike slashes and backslashes.
  t.equal(securePath('a\u2215b\u29f5c'), 'abc');
});

t.test('securePath output never holds a traversal', async (t) => {
  const nasty = ['..', '.', '/', '\\', '\u0000', '\uff0e', 'a', '%', '~', ' ', '\u202e'];
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const n = 1 + (i % 9);
    for (let j = 0; j < n; j++) s += nasty[(i * 7 + j * 13 + j * j) % nasty.length];
    const out = securePath(s);
    if (out === null) continue;
    for (const part of out.split('/')) {
      if (!/^[A-Za-z0-9_.-]+$/.test(part) || /^\.+$/.test(part)) {
        t.fail(`bad component ${JSON.stringify(part)} from ${JSON.stringify(s)}`);
      }
    }
  }
  t.pass('all components safe');
});

t.test('resolveInside resolves under the root', async (t) => {
  const root = path.resolve('/srv/runs/abc');
  t.equal(resolveInside(root, 'main.cwl'), path.join(root, 'main.cwl'));
  t.equal(resolveInside(root, '../../etc/passwd'), path.join(root, 'etc', 'passwd'));
  t.equal(resolveInside(root, '/etc/passwd'), path.join(root, 'etc', 'passwd'));
  t.equal(resolveInside(root, '..\\x'), path.join(root, 'x'));
  t.equal(resolveInside('relative/root', 'a/b'), path.resolve('relative/root', 'a', 'b'));
});

t.test('resolveInside rejects paths with nothing left', async (t) => {
  for (const bad of ['', '..', '../..', '/', '\\', '\uff0e\uff0e', '\u0000', '...']) {
    t.throws(() => resolveInside('/srv', bad), MalformedRequestError, JSON.stringify(bad));
  }
});

t.test('resolveInside error messages stay printable', async (t) => {
  try {
    resolveInside('/srv', '\u0000\n..');
    t.fail('should throw');
  } catch (err) {
    t.notMatch((err as Error).message, /[\u0000\n]/);
  }
});
