import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { LocalStateStore, isRunId, runIdBatchesIn } from '../../src/runs/state-store.js';
import { listTree, tempDir } from '../helper.js';

const newRunId = (): string => `run-${randomBytes(16).toString('hex')}`;

/** A sandbox holding only the store root, so anything written beside or above it shows. */
async function sandbox(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; root: string; store: LocalStateStore }> {
  const dir = await tempDir(t, 'ferry-store-');
  const root = path.join(dir, 'store');
  await fs.mkdir(root);
  return { dir, root, store: new LocalStateStore(root) };
}

t.test('run ids', async (t) => {
  t.ok(isRunId(newRunId()));
  for (const bad of ['', 'run-', 'run-XYZ', '../x', `run-${'A'.repeat(32)}`, `run-${'a'.repeat(31)}`, `run-${'a'.repeat(33)}`, `run-${'a'.repeat(32)}/..`, ` run-${'a'.repeat(32)}`]) {
    t.notOk(isRunId(bad), `'${bad}' is not a run id`);
  }
});

t.test('get / set / update / getAll / has / listRunIds / remove', async (t) => {
  const { root, store } = await sandbox(t);
  const a = newRunId();
  const b = newRunId();

  t.equal(await store.get(a, 'state'), null, 'absent key reads null');
  t.same(await store.getAll(a), {}, 'absent run: empty record');
  t.equal(await store.has(a), false);
  t.same(await store.listRunIds(), []);

  await store.set(a, 'engine', 'cwltool');
  t.equal(await store.get(a, 'engine'), 'cwltool');
  t.equal(await fs.readFile(path.join(root, a, 'engine'), 'utf8'), 'cwltool', 'plain text file <root>/<run>/<key>');
  t.equal(await store.has(a), false, 'a run exists only once it has a state');

  await store.set(a, 'engine', 'toil-cwl');
  t.equal(await store.get(a, 'engine'), 'toil-cwl', 'set overwrites');
  await store.set(a, 'empty', '');
  t.equal(await store.get(a, 'empty'), '', 'an empty value is not absence');

  t.equal(await store.update(a, 'state', (cur) => (cur === null ? 'QUEUED' : null)), 'QUEUED', 'update creates');
  t.equal(await store.has(a), true);
  t.equal(await store.update(a, 'state', (cur) => { t.equal(cur, 'QUEUED', 'update sees the current value'); return 'RUNNING'; }), 'RUNNING');
  t.equal(await store.update(a, 'state', () => null), 'RUNNING', 'null from fn: no write, current value returned');
  t.equal(await store.update(a, 'missing_key', () => null), null, 'no write to an absent key');
  t.equal(await store.get(a, 'missing_key'), null);
  await t.rejects(store.update(a, 'state', () => { throw new Error('boom'); }), /boom/, 'an error in fn propagates');
  t.equal(await store.get(a, 'state'), 'RUNNING', 'and writes nothing');
  // The lock was released despite the error: another update goes through at once.
  t.equal(await store.update(a, 'state', () => 'COMPLETE'), 'COMPLETE');

  t.same(await store.getAll(a), { engine: 'toil-cwl', empty: '', state: 'COMPLETE' }, 'getAll: every key, nothing else (no lock folder, no temp files)');

  await store.set(b, 'state', 'QUEUED');
  await fs.mkdir(path.join(root, 'not-a-run'));
  await fs.mkdir(path.join(root, '.index'));
  await fs.writeFile(path.join(root, `run-${'f'.repeat(31)}`), 'x');
  t.same((await store.listRunIds()).sort(), [a, b].sort(), 'only run-id folders are listed');

  await store.remove(a);
  t.equal(await store.has(a), false);
  t.same(await store.getAll(a), {});
  t.equal(await store.get(a, 'engine'), null);
  t.same(await store.listRunIds(), [b]);
  await store.remove(a); // removing twice is harmless
  t.equal(await store.get(b, 'state'), 'QUEUED', 'other runs untouched');

  t.same(await new LocalStateStore(path.join(root, 'nowhere')).listRunIds(), [], 'a missing root lists nothing');
});

t.test('invalid run ids and keys are refused and never touch the disk', async (t) => {
  const { dir, store } = await sandbox(t);
  const good = newRunId();
  const before = await listTree(dir);

  const badIds = ['../x', 'run-XYZ', '', '..', '.', '/etc', `../${good}`, `${good}/../..`, `run-${'A'.repeat(32)}`, `${good}\0`];
  for (const id of badIds) {
    const label = JSON.stringify(id);
    await t.rejects(store.get(id, 'state'), /invalid run id/, `get ${label}`);
    await t.rejects(store.set(id, 'state', 'QUEUED'), /invalid run id/, `set ${label}`);
    await t.rejects(store.update(id, 'state', () => 'QUEUED'), /invalid run id/, `update ${label}`);
    await t.rejects(store.getAll(id), /invalid run id/, `getAll ${label}`);
    await t.rejects(store.remove(id), /invalid run id/, `remove ${label}`);
    t.equal(await store.has(id), false, `has ${label} is false`);
  }
  const badKeys = ['', '../state', '..', '.locks', 'a/b', '/etc/passwd', 'State', '1state', 'state\n', 'st ate', 'state\0'];
  for (const key of badKeys) {
    const label = JSON.stringify(key);
    await t.rejects(store.get(good, key), /invalid state key/, `get key ${label}`);
    await t.rejects(store.set(good, key, 'x'), /invalid state key/, `set key ${label}`);
    await t.rejects(store.update(good, key, () => 'x'), /invalid state key/, `update key ${label}`);
  }
  t.same(await listTree(dir), before, 'nothing was created anywhere in or around the store');

  // A removal of a bad id must not have deleted anything either.
  await store.set(good, 'state', 'QUEUED');
  await t.rejects(store.remove(`${good}/..`));
  t.equal(await store.get(good, 'state'), 'QUEUED');
});

t.test('writes are atomic and leave no temp files behind', async (t) => {
  const { root, store } = await sandbox(t);
  const run = newRunId();
  const other = new LocalStateStore(root); // a second writer over the same folder

  // Big values of one repeated character: a torn read would mix two of them or be short.
  const SIZE = 256 * 1024;
  const value = (i: number): string => String.fromCharCode(97 + (i % 26)).repeat(SIZE);
  await store.set(run, 'blob', value(0));

  let torn = 0;
  let reads = 0;
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const v = await other.get(run, 'blob');
      reads++;
      if (v === null || v.length !== SIZE || v !== v[0]!.repeat(SIZE)) torn++;
    }
  })();
  const writes: Promise<unknown>[] = [];
  for (let i = 1; i <= 60; i++) {
    const s = i % 2 ? store : other;
    writes.push(i % 3 ? s.set(run, 'blob', value(i)) : s.update(run, 'blob', () => value(i)));
    writes.push(s.set(run, `k${i}`, String(i)));
  }
  await Promise.all(writes);
  writing = false;
  await reader;
  t.ok(reads > 0, `${reads} concurrent reads`);
  t.equal(torn, 0, 'no read saw a partial or missing value');

  const entries = await fs.readdir(path.join(root, run));
  t.same(entries.filter((e) => e.endsWith('.tmp') || (e.startsWith('.') && e !== '.locks')), [], 'no temp files left in the run folder');
  const locks = await fs.readdir(path.join(root, run, '.locks')).catch(() => [] as string[]);
  t.same(locks, [], 'no lock held or left over');
  t.equal(Object.keys(await store.getAll(run)).length, 61, 'every key written');
});

t.test('update is a compare-and-set across store objects', async (t) => {
  const { root } = await sandbox(t);
  const run = newRunId();
  const stores = [new LocalStateStore(root), new LocalStateStore(root), new LocalStateStore(root)];
  const increments = 90;
  await Promise.all(
    Array.from({ length: increments }, (_, i) => stores[i % stores.length]!.update(run, 'counter', (cur) => String(Number(cur ?? '0') + 1))),
  );
  t.equal(await stores[0]!.get(run, 'counter'), String(increments), 'no lost update');
});

t.test('createKey: of writers racing for a new key exactly one wins, and everyone is told its value', async (t) => {
  const { root } = await sandbox(t);
  const run = newRunId();
  await new LocalStateStore(root).create(run, { state: 'QUEUED', engine: 'cwltool' });
  const stores = [new LocalStateStore(root), new LocalStateStore(root), new LocalStateStore(root)];
  const told = await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % stores.length]!.createKey(run, 'task', `writer-${i}`)));
  const winner = told[0]!;
  t.match(winner, /^writer-\d+$/);
  t.same(new Set(told), new Set([winner]), 'all 30 are told the one value stored');
  t.equal(await new LocalStateStore(root).get(run, 'task'), winner, 'and it is what the store holds');
  t.equal(await stores[1]!.createKey(run, 'task', 'late'), winner, 'a later writer changes nothing');
  t.equal(await stores[2]!.createKey(run, 'engine', 'toil'), 'cwltool', 'a key of the first record counts as there');
  t.same((await fs.readdir(path.join(root, run))).filter((n) => n.endsWith('.tmp')), [], 'no temp file left');
});

t.test('create writes a whole record at once, never over an existing run, and leaves nothing when refused', async (t) => {
  const { root, store } = await sandbox(t);
  const id = newRunId();
  await store.create(id, { state: 'QUEUED', engine: 'cwltool', submitted_at: '2026-01-01T00:00:00Z' });
  t.same(await store.getAll(id), { state: 'QUEUED', engine: 'cwltool', submitted_at: '2026-01-01T00:00:00Z' });
  t.ok(await store.has(id));
  await t.rejects(store.create(id, { state: 'RUNNING' }), /exists already/, 'a second create of the same run is refused');
  t.equal(await store.get(id, 'state'), 'QUEUED', 'and changes nothing');
  await t.rejects(store.create(newRunId(), { 'Bad-Key': 'x' }), /invalid state key/, 'keys are checked before anything is written');
  await t.rejects(store.create('run-../../x', { state: 'QUEUED' }), /invalid run id/);
  t.same((await fs.readdir(root)).sort(), [id], 'no folder left by a refused create');

  // Concurrent creates of distinct runs all land, each complete.
  const ids = Array.from({ length: 50 }, newRunId);
  await Promise.all(ids.map((r, i) => store.create(r, { state: 'QUEUED', n: String(i) })));
  for (const [i, r] of ids.entries()) t.same(await store.getAll(r), { state: 'QUEUED', n: String(i) }, `run ${i} whole`);

  // What a crash during a create leaves is no run, and is swept.
  await fs.mkdir(path.join(root, `.new-${newRunId()}.abcdef`));
  await fs.writeFile(path.join(root, `.new-${newRunId()}.abcdef`), '');
  t.equal((await store.listRunIds()).length, 51, 'half-made records are not runs');
  await store.sweepIncomplete();
  t.same((await fs.readdir(root)).filter((n) => n.startsWith('.new-')), [], 'swept');
});

t.test('runIdBatches gives the run ids listRunIds gives, in batches', async (t) => {
  const root = await tempDir(t, 'ferry-store-each-');
  const store = new LocalStateStore(root);
  const ids = Array.from({ length: 700 }, (_, i) => `run-${i.toString(16).padStart(32, '0')}`);
  for (const id of ids) await store.set(id, 'state', 'QUEUED');
  await fs.mkdir(path.join(root, 'not-a-run'));
  const seen: string[] = [];
  const sizes: number[] = [];
  for await (const batch of store.runIdBatches()) {
    sizes.push(batch.length);
    seen.push(...batch);
  }
  t.same(sizes, [700], 'fewer than a batch: one batch');
  const small: string[][] = [];
  for await (const batch of runIdBatchesIn(root, 256)) small.push(batch);
  t.same(small.map((b) => b.length), [256, 256, 188], 'batches of the size asked, the last one shorter');
  t.same(seen.sort(), (await store.listRunIds()).sort());
  t.equal(seen.length, 700, 'every run, and only runs');
  const none: string[] = [];
  for await (const batch of new LocalStateStore(path.join(root, 'nowhere')).runIdBatches()) none.push(...batch);
  t.same(none, [], 'a missing root gives nothing');
});
