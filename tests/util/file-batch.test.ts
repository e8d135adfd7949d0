import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { errnoCode } from '../../src/util/errors.js';
import { FileBatches } from '../../src/util/file-batch.js';

async function tmpDir(t: Test): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-file-batch-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function batches(t: Test): FileBatches {
  const b = new FileBatches();
  t.teardown(() => b.close());
  return b;
}

t.test('a batch runs its operations in order', async (t) => {
  const dir = await tmpDir(t);
  const b = batches(t);
  const results = await b.run([
    { op: 'mkdir', path: `${dir}/a` },
    { op: 'mkdir', path: `${dir}/a/b` },
    { op: 'create', path: `${dir}/a/b/c.txt`, data: Buffer.from('hello') },
    { op: 'touch', path: `${dir}/a/marker` },
    { op: 'touch', path: `${dir}/a/marker` },
    { op: 'rename', from: `${dir}/a`, to: `${dir}/moved` },
    { op: 'tree', path: `${dir}/moved` },
  ]);
  t.equal(await fs.readFile(`${dir}/moved/b/c.txt`, 'utf8'), 'hello');
  t.equal((await fs.stat(`${dir}/moved/marker`)).size, 0, 'touch makes an empty file, and leaves it be the second time');
  t.same(
    [...(results[6] as { rel: string; kind: string }[])].sort((x, y) => x.rel.localeCompare(y.rel)),
    [
      { rel: 'b', kind: 'dir' },
      { rel: 'b/c.txt', kind: 'file' },
      { rel: 'marker', kind: 'file' },
    ],
  );
  t.same(results.slice(0, 6), [undefined, undefined, undefined, undefined, undefined, undefined]);
});

t.test('a tree lists a folder before what it holds, and tells other kinds apart', async (t) => {
  const dir = await tmpDir(t);
  await fs.mkdir(`${dir}/x/y`, { recursive: true });
  await fs.writeFile(`${dir}/x/y/z`, '1');
  await fs.symlink('/etc/passwd', `${dir}/x/link`);
  const entries = await batches(t).tree(dir);
  const at = (rel: string): number => entries.findIndex((e) => e.rel === rel);
  t.ok(at('x') < at('x/y') && at('x/y') < at('x/y/z'), 'parents first');
  t.same(entries.find((e) => e.rel === 'x/link'), { rel: 'x/link', kind: 'other' }, 'a symlink is neither file nor folder (and is not followed)');
});

t.test('a failing operation rejects its batch with the error the fs API gives, and stops it there', async (t) => {
  const dir = await tmpDir(t);
  await fs.writeFile(`${dir}/taken`, 'old');
  const b = batches(t);
  const err = await b
    .run([
      { op: 'create', path: `${dir}/first`, data: Buffer.from('1') },
      { op: 'create', path: `${dir}/taken`, data: Buffer.from('new') },
      { op: 'create', path: `${dir}/after`, data: Buffer.from('2') },
    ])
    .then(
      () => null,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
  t.ok(err instanceof Error, 'rejected with an Error');
  t.equal(errnoCode(err), 'EEXIST');
  t.equal(err?.syscall, 'open');
  t.equal(err?.path, `${dir}/taken`);
  t.equal(await fs.readFile(`${dir}/taken`, 'utf8'), 'old', 'the existing file is left as it was');
  t.equal(await fs.readFile(`${dir}/first`, 'utf8'), '1', 'what came before the failure was done');
  await t.rejects(fs.stat(`${dir}/after`), { code: 'ENOENT' }, 'what came after was not');
  await t.rejects(b.run([{ op: 'mkdir', path: `${dir}/no/such/parent` }]), { code: 'ENOENT', syscall: 'mkdir' });
  await t.rejects(b.tree(`${dir}/missing`), { code: 'ENOENT' });
});

t.test('batches handed in together are answered each on its own', async (t) => {
  const dir = await tmpDir(t);
  const b = batches(t);
  const runs = Array.from({ length: 50 }, (_, i) =>
    b.run(
      i % 7 === 3
        ? [{ op: 'mkdir', path: `${dir}/missing/${i}` }]
        : [
            { op: 'mkdir', path: `${dir}/d${i}` },
            { op: 'create', path: `${dir}/d${i}/f`, data: Buffer.from(String(i)) },
          ],
    ),
  );
  const settled = await Promise.allSettled(runs);
  settled.forEach((s, i) => t.equal(s.status, i % 7 === 3 ? 'rejected' : 'fulfilled', `batch ${i}`));
  for (let i = 0; i < 50; i++) if (i % 7 !== 3) t.equal(await fs.readFile(`${dir}/d${i}/f`, 'utf8'), String(i));
});

t.test('a worker that stops fails the batches it held, and the next batch starts another', async (t) => {
  const dir = await tmpDir(t);
  await fs.mkdir(`${dir}/big`);
  for (let i = 0; i < 2000; i++) await fs.writeFile(`${dir}/big/f${i}`, '');
  const b = batches(t);
  await b.run([{ op: 'mkdir', path: `${dir}/warm` }]);
  // Long enough to be under way when the worker is stopped: 40 listings of 2,000 files.
  const held = b.run(Array.from({ length: 40 }, () => ({ op: 'tree' as const, path: `${dir}/big` })));
  await new Promise((r) => setTimeout(r, 20));
  const closing = b.close();
  // Sent to the next worker while the first one stops: not failed with it.
  const next = b.run([{ op: 'create', path: `${dir}/again`, data: Buffer.from('ok') }]);
  await t.rejects(held, /file worker stopped/);
  await closing;
  await next;
  t.equal(await fs.readFile(`${dir}/again`, 'utf8'), 'ok');
});

t.test('an idle worker does not keep the process alive', async (t) => {
  const dir = await tmpDir(t);
  const module = pathToFileURL(path.resolve(import.meta.dirname, '../../src/util/file-batch.ts')).href;
  const script = `
    import { fileBatches } from ${JSON.stringify(module)};
    await fileBatches().run([{ op: 'create', path: ${JSON.stringify(`${dir}/done`)}, data: Buffer.from('yes') }]);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, `exited by itself: ${r.stderr}`);
  t.equal(await fs.readFile(`${dir}/done`, 'utf8'), 'yes');
});
