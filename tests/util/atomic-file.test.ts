import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';

import { atomicFileCreate } from '../../src/util/atomic-file.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-atomic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('creates a file with string or buffer data', async (t) => {
  const dir = await tempDir(t);
  await atomicFileCreate(path.join(dir, 'a.txt'), 'hello\n');
  t.equal(await readFile(path.join(dir, 'a.txt'), 'utf8'), 'hello\n');
  const bytes = Buffer.from([0, 1, 2, 255]);
  await atomicFileCreate(path.join(dir, 'b.bin'), bytes);
  t.same(await readFile(path.join(dir, 'b.bin')), bytes);
  t.same((await readdir(dir)).sort(), ['a.txt', 'b.bin'], 'no temp files left behind');
});

t.test('replaces an existing file', async (t) => {
  const dir = await tempDir(t);
  const f = path.join(dir, 'state.json');
  await writeFile(f, 'old content that is longer than the new one');
  await atomicFileCreate(f, 'new');
  t.equal(await readFile(f, 'utf8'), 'new');
  t.same(await readdir(dir), ['state.json']);
});

t.test('writes empty data', async (t) => {
  const dir = await tempDir(t);
  await atomicFileCreate(path.join(dir, 'empty'), '');
  t.equal((await stat(path.join(dir, 'empty'))).size, 0);
});

t.test('honours the mode option', async (t) => {
  const dir = await tempDir(t);
  const f = path.join(dir, 'secret');
  await atomicFileCreate(f, 'x', { mode: 0o600 });
  t.equal((await stat(f)).mode & 0o777, 0o600);
});

t.test('handles a very long target name', async (t) => {
  const dir = await tempDir(t);
  const name = 'n'.repeat(250);
  await atomicFileCreate(path.join(dir, name), 'long');
  t.equal(await readFile(path.join(dir, name), 'utf8'), 'long');
  t.same(await readdir(dir), [name]);
});

t.test('removes the temp file and rethrows when the rename fails', async (t) => {
  const dir = await tempDir(t);
  // A non-empty folder at the target makes rename(2) fail after the write.
  await mkdir(path.join(dir, 'target', 'inside'), { recursive: true });
  await t.rejects(atomicFileCreate(path.join(dir, 'target'), 'data'), { code: /EISDIR|ENOTEMPTY|EEXIST/ });
  t.same(await readdir(dir), ['target'], 'temp file cleaned up');
});

t.test('fails cleanly when the folder does not exist', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(atomicFileCreate(path.join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
  t.same(await readdir(dir), []);
});

t.test('fails cleanly in a read-only folder', { skip: process.getuid?.() === 0 ? 'root ignores permissions' : false }, async (t) => {
  const dir = await tempDir(t);
  const ro = path.join(dir, 'ro');
  await mkdir(ro);
  await chmod(ro, 0o555);
  t.teardown(() => chmod(ro, 0o755));
  await t.rejects(atomicFileCreate(path.join(ro, 'f'), 'x'), { code: 'EACCES' });
});

t.test('concurrent writers never leave a torn file', async (t) => {
  const dir = await tempDir(t);
  const f = path.join(dir, 'shared');
  const payloads = Array.from({ length: 20 }, (_, i) => String(i).repeat(50_000));
  await Promise.all(payloads.map((p) => atomicFileCreate(f, p)));
  const content = await readFile(f, 'utf8');
  t.ok(payloads.includes(content), 'content is exactly one of the writes');
  t.same(await readdir(dir), ['shared']);
});
