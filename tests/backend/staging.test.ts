import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import t from 'tap';
import { Staging } from '../../src/backend/staging.js';
import { tempDir } from '../helper.js';

async function streamInto(stage: Staging, name: string, data: Buffer, max: number): Promise<void> {
  const { path: file } = await stage.attachmentPath(name);
  t.equal(await stage.receive(file, Readable.from([data.subarray(0, 5), data.subarray(5)]), max), data.length);
}

t.test('contents: every file and folder of a submission, kept copies or read back', async (t) => {
  const stage = await Staging.create(await tempDir(t));
  await streamInto(stage, 'wf/main.cwl', Buffer.from('cwlVersion: v1.0\n'), 1024);
  await stage.writeKept(path.join(stage.dir, 'request.json'), '{}\n');
  // A file written by other means (a copied workflow, an unpacked bundle) is read back.
  await fs.writeFile(path.join(stage.executionDir, 'copied.txt'), 'copied');
  const c = await stage.contents(1024, 10);
  t.ok(c);
  t.same(c!.dirs.sort(), ['execution', 'execution/wf']);
  t.same(
    Object.fromEntries(Object.entries(c!.files).map(([k, v]) => [k, v.toString()])),
    { 'request.json': '{}\n', 'execution/wf/main.cwl': 'cwlVersion: v1.0\n', 'execution/copied.txt': 'copied' },
  );
});

t.test('contents: null when the submission is too big to hold, in bytes or in files', async (t) => {
  const big = await Staging.create(await tempDir(t));
  await streamInto(big, 'a.bin', Buffer.alloc(600, 1), 1000);
  await streamInto(big, 'b.bin', Buffer.alloc(600, 2), 1000);
  t.equal(await big.contents(1000, 10), null, 'the copies outgrew the budget');
  t.equal((await fs.stat(path.join(big.executionDir, 'b.bin'))).size, 600, 'the files themselves are whole');

  const readBack = await Staging.create(await tempDir(t));
  await fs.writeFile(path.join(readBack.executionDir, 'big.txt'), Buffer.alloc(2000));
  t.equal(await readBack.contents(1000, 10), null, 'a file read back over the budget');

  const many = await Staging.create(await tempDir(t));
  for (let i = 0; i < 4; i++) await fs.writeFile(path.join(many.executionDir, `f${i}`), 'x');
  t.equal(await many.contents(1000, 3), null, 'more files than allowed');
  t.ok(await many.contents(1000, 4), 'as many as allowed');
});

t.test('receive: a big file is written as it arrives, byte for byte', async (t) => {
  const stage = await Staging.create(await tempDir(t));
  const data = randomBytes(3 * 1024 * 1024 + 123);
  const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
  const { path: file } = await stage.attachmentPath('big.bin');
  t.equal(await stage.receive(file, Readable.from(chunks), 1024), data.length);
  t.ok((await fs.readFile(file)).equals(data), 'the same bytes');
  t.equal(await stage.contents(1024, 10), null, 'too big to keep');
  await t.rejects(stage.receive(file, Readable.from([Buffer.from('x')]), 1024), { code: 'EEXIST' }, 'never replaces a file');
});
