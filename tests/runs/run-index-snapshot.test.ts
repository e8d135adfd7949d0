import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { snapshotFile } from '../../src/runs/index-snapshot.js';
import { appendDeleted, appendFinal, RunIndex, type RunFilter } from '../../src/runs/run-index.js';
import { ALL_STATES, TERMINAL_STATES, type State } from '../../src/runs/state-machine.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { tempDir } from '../helper.js';

type Tap = Test;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const indexModule = pathToFileURL(path.join(repoRoot, 'src/runs/run-index.ts')).href;
const storeModule = pathToFileURL(path.join(repoRoot, 'src/runs/state-store.ts')).href;

const newRunId = (): string => `run-${randomBytes(16).toString('hex')}`;
const FINALS = [...TERMINAL_STATES];

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function setup(t: Tap): Promise<{ file: string; store: LocalStateStore }> {
  const dir = await tempDir(t, 'ferry-snapshot-');
  const root = path.join(dir, 'state_store');
  return { file: path.join(root, '.index', 'runs.jsonl'), store: new LocalStateStore(root) };
}

/**
 * A folder's index with `n` runs as a server and supervisors write it: adds
 * in concurrent batches (owners, tags), final lines for most (times in
 * several spellings), tombstones for some.
 */
async function fill(file: string, store: LocalStateStore, n: number, seed: number): Promise<string[]> {
  const rnd = random(seed);
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 0 });
  const ids = Array.from({ length: n }, () => newRunId());
  for (let i = 0; i < n; i += 250) {
    await Promise.all(
      ids.slice(i, i + 250).map((id, k) => {
        const j = i + k;
        const tags: Record<string, string> = j % 5 === 0 ? {} : { project: `p${j % 7}`, ...(j % 3 === 0 ? { name: `run ${j}` } : {}) };
        return index.add(id, tags, j % 4 === 0 ? undefined : `user${j % 9}`);
      }),
    );
  }
  for (const [j, id] of ids.entries()) {
    if (rnd() < 0.25) continue;
    const start = new Date(Date.UTC(2025, 0, 1) + j * 1000);
    const spell = (d: Date): string => (j % 11 === 0 ? d.toISOString() : j % 13 === 0 ? d.toUTCString() : d.toISOString().replace(/\.\d+Z$/, 'Z'));
    await appendFinal(file, id, { state: FINALS[j % FINALS.length]!, start_time: spell(start), ...(j % 17 === 0 ? {} : { end_time: spell(new Date(start.getTime() + 5000)) }) });
  }
  for (const id of ids) if (rnd() < 0.05) await appendDeleted(file, id);
  return ids;
}

const FILTERS: RunFilter[] = [
  {},
  { ascending: true },
  { owner: 'user3' },
  { owner: 'user5', ascending: true },
  { states: new Set<State>(['COMPLETE', 'RUNNING']) },
  { states: new Set<State>(['CANCELED']), ascending: true },
  { tagKey: 'project', tagValue: 'p2' },
  { tagKey: 'name' },
  { owner: 'user1', tagKey: 'project', states: new Set<State>(['EXECUTOR_ERROR', 'QUEUED']) },
];

/** Every page (by cursor, size 37) of each filter: the sequence numbers and ids, in order. */
function pages(index: RunIndex): string[][] {
  return FILTERS.map((filter) => {
    const out: string[] = [];
    let after: number | undefined;
    for (;;) {
      const page = index.select(filter, 37, after);
      out.push(...page.map((e) => `${e.seq} ${e.runId}`));
      if (page.length < 37) return out;
      after = page[page.length - 1]!.seq;
    }
  });
}

/** Checks `index` holds exactly what a read of the whole file gives, and numbers the next run alike. */
async function sameAsWholeRead(t: Tap, index: RunIndex, file: string, store: LocalStateStore, what: string): Promise<void> {
  const whole = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 0 });
  t.equal(whole.fromSnapshot, false);
  t.equal(index.size, whole.size, `${what}: as many runs`);
  t.strictSame(index.all(), whole.all(), `${what}: the same runs, numbers, owners, tags, states and times`);
  const counts = (i: RunIndex): [string, number][] => ALL_STATES.map((s) => [s, i.endedCounts().get(s) ?? 0]);
  t.strictSame(counts(index), counts(whole), `${what}: the same counts`);
  t.strictSame(pages(index), pages(whole), `${what}: the same pages`);
  t.strictSame(index.unfinished(), whole.unfinished(), `${what}: the same unfinished runs`);
}

t.test('a snapshot is read in place of the lines it covers; lines after it are replayed', async (t) => {
  const { file, store } = await setup(t);
  const ids = await fill(file, store, 1500, 1);
  const first = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
  t.equal(first.fromSnapshot, false, 'no snapshot yet');
  await first.snapshot();
  const size = (await fs.stat(snapshotFile(file))).size;
  t.ok(size < (await fs.stat(file)).size, 'smaller than the file');
  // More lines after the snapshot, from other writers: runs, finals (also for runs the snapshot has open), tombstones.
  const other = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 0 });
  const later = Array.from({ length: 40 }, () => newRunId());
  for (const id of later) await other.add(id, { project: 'p2' }, 'user3');
  for (const id of [...ids.filter((id) => other.get(id) && !other.get(id)!.final).slice(0, 30), ...later.slice(0, 10)]) {
    await appendFinal(file, id, { state: 'CANCELED', start_time: '2025-06-01T00:00:00Z', end_time: '2025-06-01T00:00:01.250Z' });
  }
  for (const id of [...ids.filter((id) => other.get(id)).slice(0, 20), later[5]!]) await appendDeleted(file, id);
  const reopened = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
  t.equal(reopened.fromSnapshot, true, 'read from the snapshot');
  await sameAsWholeRead(t, reopened, file, store, 'snapshot + later lines');
  // The numbering carries on alike.
  const whole = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 0 });
  const next = newRunId();
  await reopened.add(next, {});
  await whole.refresh();
  t.equal(reopened.get(next)!.seq, whole.get(next)!.seq, 'the next run gets the same number either way');
});

t.test('a snapshot that does not match the file, or is damaged, is not used', async (t) => {
  const { file, store } = await setup(t);
  await fill(file, store, 600, 2);
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
  await index.snapshot();
  const good = await fs.readFile(snapshotFile(file));
  const cases: [string, () => Promise<void>][] = [
    ['cut short', () => fs.writeFile(snapshotFile(file), good.subarray(0, good.length - 1000))],
    ['cut in its header', () => fs.writeFile(snapshotFile(file), good.subarray(0, 40))],
    ['empty', () => fs.writeFile(snapshotFile(file), '')],
    ['a byte changed', () => fs.writeFile(snapshotFile(file), Buffer.from(good.map((b, i) => (i === good.length - 5000 ? b ^ 1 : b))))],
    ['another format', () => fs.writeFile(snapshotFile(file), Buffer.concat([Buffer.from('x'), good.subarray(1)]))],
  ];
  for (const [what, damage] of cases) {
    await damage();
    const reopened = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
    t.equal(reopened.fromSnapshot, false, `${what}: the file is read whole`);
    await sameAsWholeRead(t, reopened, file, store, what);
  }
  // The index file replaced by another (same lines but one, so at least as long): the snapshot is of the old one.
  await fs.writeFile(snapshotFile(file), good);
  const lines = (await fs.readFile(file, 'utf8')).split('\n');
  const changed = lines.map((l, i) => (i === 3 ? l.replace('"tags":{', '"tags":{"x":"y",') : l)).join('\n');
  await fs.writeFile(file + '.new', changed);
  await fs.rename(file + '.new', file);
  const replaced = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
  t.equal(replaced.fromSnapshot, false, 'a replaced index file is read whole');
  await sameAsWholeRead(t, replaced, file, store, 'replaced file');
  t.equal(replaced.all()[3]!.tags.x, 'y', 'as it now is');
  // The same file, changed in place before the offset (not something Ferry does, but detected).
  await replaced.snapshot();
  const handle = await fs.open(file, 'r+');
  const { size } = await handle.stat();
  await handle.write('{"junk":1}', size - 600);
  await handle.close();
  const rewritten = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1_000_000 });
  t.equal(rewritten.fromSnapshot, false, 'bytes before the offset changed: read whole');
});

t.test('snapshots are written after enough lines and at close, without tombstoned runs', async (t) => {
  const { file, store } = await setup(t);
  const ids = await fill(file, store, 300, 3);
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 100, snapshotDelayMs: 20 });
  // Written in the background once the lines read pass the threshold.
  for (let i = 0; i < 500 && !(await fs.stat(snapshotFile(file)).catch(() => null)); i++) await sleep(10);
  t.ok(await fs.stat(snapshotFile(file)).catch(() => null), 'written in the background');
  await index.close();
  const first = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 100 });
  t.equal(first.fromSnapshot, true);
  for (const id of ids.slice(0, 50)) await first.recordDeleted(id);
  await first.close();
  const text = await fs.readFile(snapshotFile(file));
  // Ids are kept as their 16 bytes.
  const packed = (id: string): Buffer => Buffer.from(id.slice('run-'.length), 'hex');
  for (const id of ids.slice(0, 50)) t.notOk(text.includes(packed(id)), 'a deleted run is not in the snapshot');
  t.ok(text.includes(packed(ids[60]!)), 'a live one is');
  const second = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 100 });
  t.equal(second.fromSnapshot, true);
  await sameAsWholeRead(t, second, file, store, 'after deletions');
  // No temp files left behind.
  t.same((await fs.readdir(path.dirname(file))).sort(), ['runs.jsonl', 'runs.snapshot']);
});

/** A child process with the real module (through tsx), that opens the index and writes snapshots, or only opens it. */
const CHILD = `
const { RunIndex, appendFinal, appendDeleted } = await import(process.env.INDEX_MODULE);
const { LocalStateStore } = await import(process.env.STORE_MODULE);
const [mode, file, root, count] = process.argv.slice(2);
const store = new LocalStateStore(root);
if (mode === 'snapshots') {
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1e9 });
  process.stdout.write('ready\\n');
  for (;;) {
    await index.refresh();
    await index.snapshot();
  }
} else if (mode === 'open') {
  // A start: the snapshot read, the lines after it replayed, and one written (a short threshold) at once.
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 5 });
  for (;;) {
    await index.refresh();
    await index.snapshot();
  }
} else if (mode === 'append') {
  // Another server's submissions and supervisors' ends and deletions, interleaved.
  const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 0 });
  const states = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];
  for (let i = 0; i < Number(count); i++) {
    const id = 'run-' + [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
    await index.add(id, { project: 'p' + (i % 7) }, i % 2 ? 'user' + (i % 9) : undefined);
    const open = index.unfinished();
    const pick = open[Math.floor(Math.random() * open.length)];
    if (pick) await appendFinal(file, pick.runId, { state: states[i % 4], start_time: '2025-02-01T00:00:00Z', end_time: '2025-02-01T00:00:0' + (i % 10) + 'Z' });
    if (i % 5 === 0) {
      const all = index.all();
      await appendDeleted(file, all[Math.floor(Math.random() * all.length)].runId);
    }
    await index.refresh();
  }
}
`;

function spawnChild(script: string, args: string[]): ChildProcess {
  // Drop the test runner's loader hooks: the child loads TypeScript through tsx.
  const env: NodeJS.ProcessEnv = { ...process.env, INDEX_MODULE: indexModule, STORE_MODULE: storeModule };
  delete env.NODE_OPTIONS;
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function waitFor(child: ChildProcess, line: string): Promise<void> {
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      if (buf.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${line}`)));
  });
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('SIGKILL while snapshots are written, or during a start, with other writers appending: no run lost', async (t) => {
  const { file, store } = await setup(t);
  const root = path.dirname(path.dirname(file));
  await fill(file, store, 3000, 4);
  const script = path.join(path.dirname(root), 'child.mjs');
  await fs.writeFile(script, CHILD);
  const rnd = random(99);
  let readFromSnapshot = 0;
  const rounds = 10;
  for (let round = 0; round < rounds; round++) {
    const mode = round % 2 === 0 ? 'snapshots' : 'open';
    const appender = spawnChild(script, ['append', file, root, '60']);
    const writer = spawnChild(script, [mode, file, root]);
    t.teardown(() => Promise.all([killed(appender), killed(writer)]));
    if (mode === 'snapshots') await waitFor(writer, 'ready');
    else await sleep(300 + rnd() * 1500); // somewhere in its start: tsx, the snapshot read, the replay, the first write
    await sleep(rnd() * 300);
    await killed(writer);
    t.equal(await exitCode(appender), 0, `round ${round}: the other writer finished`);
    const index = await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1e9 });
    if (index.fromSnapshot) readFromSnapshot++;
    await sameAsWholeRead(t, index, file, store, `round ${round} (${mode} killed)`);
  }
  t.ok(readFromSnapshot > 0, `a snapshot left by a killed writer was used (${readFromSnapshot} of ${rounds})`);
  // Temp files of the killed writers are removed by the next start.
  await RunIndex.open(file, store, undefined, { snapshotAfterLines: 1e9 });
  t.same((await fs.readdir(path.dirname(file))).filter((n) => n.endsWith('.tmp')), [], 'no temp files left');
});

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}
