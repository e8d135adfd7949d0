import { randomBytes } from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import { appendDeleted, appendFinal, RunIndex, type IndexEntry, type RunFilter } from '../../src/runs/run-index.js';
import type { State } from '../../src/runs/state-machine.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { tempDir } from '../helper.js';

/**
 * RunIndex.select against a plain filter over every entry: the same runs, in
 * the same order, page by page, whichever list the walk goes along, while
 * runs are added and end between pages.
 */

const newRunId = (): string => `run-${randomBytes(16).toString('hex')}`;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const rnd = random(2024);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

const ENDINGS: State[] = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];
const OWNERS = ['ann', 'bob', undefined];

async function openIndex(t: Parameters<typeof tempDir>[0]): Promise<{ index: RunIndex; file: string; store: LocalStateStore }> {
  const dir = await tempDir(t, 'ferry-select-');
  const store = new LocalStateStore(path.join(dir, 'state_store'));
  const file = path.join(store.root, '.index', 'runs.jsonl');
  return { index: await RunIndex.open(file, store), file, store };
}

/** Some runs with random owners and tags (keys a, b, c; a few values). */
async function addRuns(index: RunIndex, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const tags: Record<string, string> = {};
    for (const key of ['a', 'b', 'c']) if (rnd() < 0.4) tags[key] = pick(['x', 'y', 'z', '']);
    // dan has few runs: his list is the one walked along when he is asked for, and the other parts are checked on each.
    await index.add(newRunId(), tags, rnd() < 0.05 ? 'dan' : pick(OWNERS));
  }
}

/** Ends some unfinished runs, in no particular order: some seen by this process, some appended by "supervisors". */
async function endSome(index: RunIndex, file: string, share: number): Promise<void> {
  const open = index.unfinished().filter(() => rnd() < share).sort(() => rnd() - 0.5);
  for (const e of open) {
    const final = { state: pick(ENDINGS) };
    if (rnd() < 0.5) await index.recordFinal(e.runId, final);
    else await appendFinal(file, e.runId, final);
  }
  await index.refresh();
}

/** Deletes a few runs, ended or not (a deletion of this process, or a tombstone another one appended). */
async function deleteSome(index: RunIndex, file: string): Promise<void> {
  for (const e of index.all().filter(() => rnd() < 0.03)) {
    if (rnd() < 0.5) await index.recordDeleted(e.runId);
    else await appendDeleted(file, e.runId);
  }
  await index.refresh();
}

/** What select must find: every entry the filter may match, in its order. */
function expected(index: RunIndex, f: RunFilter, after: number | undefined): string[] {
  const fits = index.all().filter(
    (e) =>
      (f.owner === undefined || e.owner === f.owner) &&
      (f.tagKey === undefined || (f.tagKey in e.tags && (f.tagValue === undefined || e.tags[f.tagKey] === f.tagValue))) &&
      (f.states === undefined || (e.final === undefined ? f.states.size > 0 : f.states.has(e.final.state))) &&
      (after === undefined || (f.ascending ? e.seq > after : e.seq < after)),
  );
  return (f.ascending ? fits : fits.reverse()).map((e) => e.runId);
}

function randomFilter(): RunFilter {
  const f: RunFilter = { ascending: rnd() < 0.5 };
  if (rnd() < 0.5) f.owner = pick(['ann', 'bob', 'carol', 'dan', 'dan']);
  if (rnd() < 0.5) f.states = new Set(ENDINGS.concat(['QUEUED', 'RUNNING']).filter(() => rnd() < 0.4));
  if (rnd() < 0.5) {
    f.tagKey = pick(['a', 'b', 'c', 'd']);
    if (rnd() < 0.5) f.tagValue = pick(['x', 'y', '', 'w']);
  }
  return f;
}

t.test('select finds what a scan of every run finds, page after page', async (t) => {
  const { index, file } = await openIndex(t);
  await addRuns(index, 150);
  await endSome(index, file, 0.7);
  let pagesChecked = 0;
  for (let round = 0; round < 120; round++) {
    const f = randomFilter();
    const label = `round ${round}: ${JSON.stringify({ ...f, states: f.states && [...f.states] })}`;
    const size = 1 + Math.floor(rnd() * 12);
    // The whole listing as it stands, then walked page by page while runs are added and end.
    const before = expected(index, f, undefined);
    const ids: string[] = [];
    let after: number | undefined;
    let mismatch = false;
    for (let pages = 0; pages < 40; pages++) {
      const want = expected(index, f, after).slice(0, size);
      const got = index.select(f, size, after);
      pagesChecked++;
      if (got.map((e) => e.runId).join() !== want.join()) {
        t.same(got.map((e) => e.runId), want, `${label}, page ${pages}`);
        mismatch = true;
        break;
      }
      ids.push(...got.map((e) => e.runId));
      if (got.length < size) break;
      after = got[got.length - 1]!.seq;
      if (rnd() < 0.2) await addRuns(index, 2);
      if (rnd() < 0.2) await endSome(index, file, 0.5);
      if (rnd() < 0.1) await deleteSome(index, file);
    }
    if (mismatch) break;
    t.equal(new Set(ids).size, ids.length, `${label}: no run listed twice`);
    // Without a state filter, what matched at the start matches for good: each is seen (unless
    // deleted meanwhile, or the walk was cut short).
    if (f.states === undefined && ids.length < 40 * size) t.same(before.filter((id) => index.has(id) && !ids.includes(id)), [], `${label}: none skipped`);
  }
  t.ok(pagesChecked > 300, `${pagesChecked} pages checked`);
});

t.test('under a state filter, runs not known to have ended are candidates; ended ones only in their state', async (t) => {
  const { index, file } = await openIndex(t);
  const ids = Array.from({ length: 6 }, newRunId);
  for (const id of ids) await index.add(id, {});
  await appendFinal(file, ids[4]!, { state: 'COMPLETE' });
  await appendFinal(file, ids[1]!, { state: 'EXECUTOR_ERROR' });
  await index.recordFinal(ids[2]!, { state: 'COMPLETE' });
  await index.refresh();
  const ofState = (states: State[], ascending = false): string[] => index.select({ states: new Set(states), ascending }, 100).map((e) => e.runId);
  t.same(ofState(['COMPLETE']), [ids[5], ids[4], ids[3], ids[2], ids[0]], 'COMPLETE: the two that did, and the three still open');
  t.same(ofState(['EXECUTOR_ERROR', 'COMPLETE'], true), [ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]], 'both: all, oldest first');
  t.same(ofState(['RUNNING']), [ids[5], ids[3], ids[0]], 'RUNNING: only those still open');
  t.same(ofState([]), [], 'no state at all: nothing');
});

t.test('ended runs read from the file in any order, and ending later out of order, keep their lists in order', async (t) => {
  const { index, file, store } = await openIndex(t);
  const ids = Array.from({ length: 300 }, newRunId);
  for (const id of ids) await index.add(id, { k: String(ids.indexOf(id) % 3) });
  // 200 ends, shuffled, read in one go by a server starting afterwards.
  const ended = ids.slice(0, 200).sort(() => rnd() - 0.5);
  for (const id of ended) await appendFinal(file, id, { state: 'COMPLETE' });
  const reopened = await RunIndex.open(file, store);
  const complete = (ix: RunIndex): string[] => ix.select({ states: new Set<State>(['COMPLETE']), ascending: true }, 1000).map((e) => e.runId);
  t.same(complete(reopened), ids, 'ended ones and the open ones, in submission order');
  // Then a few at a time, out of order, with reads in between.
  for (const id of ids.slice(200).reverse()) {
    await reopened.recordFinal(id, { state: 'CANCELED' });
    if (rnd() < 0.3) reopened.select({ states: new Set<State>(['CANCELED']) }, 1);
  }
  const canceled = reopened.select({ states: new Set<State>(['CANCELED']), ascending: true }, 1000).map((e) => e.runId);
  t.same(canceled, ids.slice(200), 'the canceled ones, in submission order');
  t.same(complete(reopened), ids.slice(0, 200), 'COMPLETE holds no open run any more');
  const byTag = reopened.select({ tagKey: 'k', tagValue: '1', states: new Set<State>(['CANCELED']) }, 1000).map((e) => e.runId);
  t.same(byTag, ids.slice(200).filter((id) => ids.indexOf(id) % 3 === 1).reverse(), 'tag and state together, newest first');
});

t.test('a replaced index file leaves no stale filter lists', async (t) => {
  const { index, file } = await openIndex(t);
  const [a, b] = [newRunId(), newRunId()];
  await index.add(a, { t: 'v' });
  await index.recordFinal(a, { state: 'COMPLETE' });
  const { writeFile, rename } = await import('node:fs/promises');
  await writeFile(`${file}.new`, JSON.stringify({ seq: 1, run_id: b, tags: {} }) + '\n');
  await rename(`${file}.new`, file);
  await index.refresh();
  t.same(index.select({ tagKey: 't' }, 10), [], 'no tag list of the old file');
  t.same(index.select({ states: new Set<State>(['COMPLETE']) }, 10).map((e) => e.runId), [b], 'no state list of the old file');
});

t.test('a deleted run leaves the state and tag lists too, here, after a restart and in another instance', async (t) => {
  const { index, file, store } = await openIndex(t);
  const ids = Array.from({ length: 4 }, newRunId);
  for (const id of ids) await index.add(id, { t: 'v' });
  await index.recordFinal(ids[0]!, { state: 'COMPLETE' });
  await index.recordFinal(ids[2]!, { state: 'COMPLETE' });
  const other = await RunIndex.open(file, store);
  await index.recordDeleted(ids[2]!); // ended
  await index.recordDeleted(ids[3]!); // not ended
  await other.refresh();
  const reopened = await RunIndex.open(file, store);
  for (const [name, ix] of [['this one', index], ['another', other], ['a new one', reopened]] as const) {
    t.same(ix.select({ states: new Set<State>(['COMPLETE']) }, 10).map((e) => e.runId), [ids[1], ids[0]], `${name}: COMPLETE (and the open one)`);
    t.same(ix.select({ tagKey: 't' }, 10).map((e) => e.runId), [ids[1], ids[0]], `${name}: by tag key`);
    t.same(ix.select({ tagKey: 't', tagValue: 'v', ascending: true }, 10).map((e) => e.runId), [ids[0], ids[1]], `${name}: by tag value`);
  }
  await index.recordDeleted(ids[0]!);
  await index.recordDeleted(ids[1]!);
  t.same(index.select({ tagKey: 't' }, 10), [], 'the last run of a tag gone: nothing left');
  t.same(index.select({ states: new Set<State>(['COMPLETE', 'RUNNING']) }, 10), [], 'nor of a state');
});
