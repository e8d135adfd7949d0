import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { appendDeleted, appendFinal, RunIndex, type IndexEntry } from '../../src/runs/run-index.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { decodePageToken, encodePageToken } from '../../src/util/page-token.js';
import { tempDir } from '../helper.js';

type Tap = Parameters<typeof tempDir>[0];

const newRunId = (): string => `run-${randomBytes(16).toString('hex')}`;

async function setup(t: Tap): Promise<{ dir: string; file: string; store: LocalStateStore }> {
  const dir = await tempDir(t, 'ferry-index-');
  const root = path.join(dir, 'state_store');
  return { dir, file: path.join(root, '.index', 'runs.jsonl'), store: new LocalStateStore(root) };
}

/** A page newest first, of every run or of `owner`'s, as the unfiltered listing pages it. */
function pageOf(index: RunIndex, size: number, token?: string, owner?: string): { entries: IndexEntry[]; nextPageToken: string } {
  const found = index.select(owner === undefined ? {} : { owner }, size + 1, token ? decodePageToken('runs', token) : undefined);
  const entries = found.slice(0, size);
  return { entries, nextPageToken: found.length > size ? encodePageToken('runs', entries[entries.length - 1]!.seq) : '' };
}

/** Every run id a full listing visits with this page size, page by page. */
function visit(index: RunIndex, size: number): { ids: string[]; pages: number } {
  const ids: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = pageOf(index, size, token);
    t.ok(page.entries.length <= size, 'a page never exceeds its size');
    ids.push(...page.entries.map((e) => e.runId));
    token = page.nextPageToken || undefined;
    pages++;
    if (pages > 1000) throw new Error('paging does not end');
  } while (token);
  return { ids, pages };
}

t.test('add and page, newest first', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  t.equal(index.size, 0);
  t.same(pageOf(index, 10), { entries: [], nextPageToken: '' }, 'empty index: empty page, no token');

  const ids = Array.from({ length: 5 }, newRunId);
  for (const [i, id] of ids.entries()) await index.add(id, { n: String(i) });
  t.equal(index.size, 5);
  t.ok(index.has(ids[0]!));
  t.notOk(index.has(newRunId()));
  t.same(index.all().map((e) => e.seq), [1, 2, 3, 4, 5], 'sequence numbers count up from 1');
  t.same(index.all().map((e) => e.tags.n), ['0', '1', '2', '3', '4'], 'tags kept');

  await index.add(ids[2]!, { n: 'again' });
  t.equal(index.size, 5, 'adding a run twice does nothing');
  t.equal(index.all()[2]!.tags.n, '2');

  const p1 = pageOf(index, 2);
  t.same(p1.entries.map((e) => e.runId), [ids[4], ids[3]]);
  t.not(p1.nextPageToken, '');
  const p2 = pageOf(index, 2, p1.nextPageToken);
  t.same(p2.entries.map((e) => e.runId), [ids[2], ids[1]]);
  const p3 = pageOf(index, 2, p2.nextPageToken);
  t.same(p3.entries.map((e) => e.runId), [ids[0]]);
  t.equal(p3.nextPageToken, '', 'the last page has no token');
  const whole = pageOf(index, 5);
  t.same(whole.entries.map((e) => e.runId), [...ids].reverse());
  t.equal(whole.nextPageToken, '', 'a page that holds everything has no token');
});

t.test('every page size visits every run exactly once', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const ids = Array.from({ length: 7 }, newRunId);
  for (const id of ids) await index.add(id, {});
  const newestFirst = [...ids].reverse();
  for (let size = 1; size <= ids.length + 1; size++) {
    const { ids: seen, pages } = visit(index, size);
    t.same(seen, newestFirst, `size ${size}: all, once, in order`);
    t.equal(pages, Math.max(1, Math.ceil(ids.length / size)), `size ${size}: ${pages} pages`);
  }
});

t.test('runs added between pages are neither repeated nor skipped', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const old = Array.from({ length: 7 }, newRunId);
  for (const id of old) await index.add(id, {});

  const first = pageOf(index, 3);
  t.same(first.entries.map((e) => e.runId), [old[6], old[5], old[4]]);
  const added = Array.from({ length: 4 }, newRunId);
  for (const id of added) await index.add(id, {});

  const rest: string[] = [];
  let token = first.nextPageToken;
  while (token) {
    const page = pageOf(index, 3, token);
    rest.push(...page.entries.map((e) => e.runId));
    token = page.nextPageToken;
    // Keep adding while paging.
    const more = newRunId();
    added.push(more);
    await index.add(more, {});
  }
  t.same(rest, [old[3], old[2], old[1], old[0]], 'the listing carries on where it was, without the newcomers');
  const fresh = visit(index, 4).ids;
  t.same(fresh, [...added].reverse().concat([...old].reverse()), 'a new listing starts with the newcomers and holds everything once');
});

t.test('reopening the file restores the order', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const ids = Array.from({ length: 6 }, newRunId);
  for (const [i, id] of ids.entries()) await index.add(id, { i: String(i) });

  const reopened = await RunIndex.open(file, store);
  t.same(reopened.all(), index.all(), 'same entries, same seq, same tags');
  t.same(pageOf(reopened, 10).entries.map((e) => e.runId), [...ids].reverse());
  const next = newRunId();
  await reopened.add(next, {});
  t.equal(reopened.all().at(-1)!.seq, 7, 'numbering carries on');
});

t.test('runs in the store but missing from the index are added on open', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const listed = newRunId();
  await store.set(listed, 'submitted_at', '2026-01-01T00:00:00.000Z');
  await store.set(listed, 'state', 'QUEUED');
  await index.add(listed, { listed: 'yes' });

  // A crash between the state write and the index write, for three runs,
  // written out of order of submission.
  const lost = [newRunId(), newRunId(), newRunId()];
  const times = ['2026-01-03T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-04T00:00:00.000Z'];
  for (const [i, id] of lost.entries()) {
    await store.set(id, 'submitted_at', times[i]!);
    await store.set(id, 'state', 'RUNNING');
  }
  // A submission undone half way: a folder but no state. Not a run.
  const ghost = newRunId();
  await store.set(ghost, 'engine', 'cwltool');

  const asked: string[] = [];
  const reopened = await RunIndex.open(file, store, async (id) => {
    asked.push(id);
    if (id === lost[2]) throw new Error('tags unreadable');
    return { tags: { recovered: id.slice(0, 12) }, owner: 'ann' };
  });
  t.equal(reopened.size, 4, 'three lost runs added, the ghost not');
  t.notOk(reopened.has(ghost));
  t.same(asked.sort(), [...lost].sort(), 'tags read for exactly the missing runs');
  t.same(
    reopened.all().map((e) => e.runId),
    [listed, lost[1], lost[0], lost[2]],
    'added after the indexed ones, in order of submission',
  );
  t.same(reopened.all()[1]!.tags, { recovered: lost[1]!.slice(0, 12) }, 'with their tags');
  t.equal(reopened.all()[1]!.owner, 'ann', 'and their owner');
  t.same(pageOf(reopened, 10, undefined, 'ann').entries.map((e) => e.runId), [lost[0], lost[1]], "the owner's page holds them, newest first");
  t.same(reopened.all()[3]!.tags, {}, 'failing to read tags loses the tags, not the run');
  t.same(reopened.all()[0]!.tags, { listed: 'yes' });

  const third = await RunIndex.open(file, store, async () => {
    t.fail('nothing is missing any more');
    return { tags: {} };
  });
  t.same(third.all(), reopened.all(), 'the recovery was written down');
});

t.test('damaged lines are skipped without losing the others', async (t) => {
  const { file, store } = await setup(t);
  const [a, b, c, d, x] = [newRunId(), newRunId(), newRunId(), newRunId(), newRunId()];
  await fs.mkdir(path.dirname(file), { recursive: true });
  const line = (seq: unknown, runId: unknown, tags: unknown = {}): string => JSON.stringify({ seq, run_id: runId, tags }) + '\n';
  await fs.writeFile(
    file,
    line(1, a, { x: '1' }) +
      '{"seq":2,"run_id":"run-\n' + // torn
      '\0\0\0\0\n' +
      'not json at all\n' +
      line(2, b) +
      line('3', newRunId()) + // seq not a number
      line(3, '../etc/passwd') + // not a run id
      line(3, a) + // duplicate run
      line(2, x) + // numbered out of order (another writer counted alike): kept, in the file's order
      line(4, c, { bad: 5 }) + // tags not strings: run kept, tags dropped
      '\n' +
      line(5, d),
  );
  const index = await RunIndex.open(file, store);
  t.same(index.all().map((e) => e.runId), [a, b, x, c, d]);
  t.same(index.all().map((e) => e.seq), [1, 2, 3, 4, 5]);
  t.same(index.all()[0]!.tags, { x: '1' });
  t.same(index.all()[3]!.tags, {});
  const e = newRunId();
  await index.add(e, {});
  t.equal(index.all().at(-1)!.seq, 6, 'new runs number after the highest');
});

t.test('a torn last line (crash mid-append) does not swallow the next run', async (t) => {
  const { file, store } = await setup(t);
  const [a, b] = [newRunId(), newRunId()];
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify({ seq: 1, run_id: a, tags: {} }) + '\n{"seq":2,"run_id":"run-0');
  const index = await RunIndex.open(file, store);
  t.same(index.all().map((e) => e.runId), [a]);
  await store.set(b, 'state', 'QUEUED');
  await index.add(b, { after: 'crash' });
  t.ok(index.has(b), 'the run added after the torn line is in the index');
  t.same(pageOf(index, 10).entries.map((e) => e.runId), [b, a], 'and is listed');
  const reopened = await RunIndex.open(file, store);
  t.ok(reopened.has(b), 'and is still there after reopening');
});

t.test('two instances on the same file (two processes)', async (t) => {
  const { file, store } = await setup(t);
  const one = await RunIndex.open(file, store);
  const two = await RunIndex.open(file, new LocalStateStore(store.root));

  const first = newRunId();
  await one.add(first, { by: 'one' });
  t.notOk(two.has(first), 'not seen before a refresh');
  await two.refresh();
  t.ok(two.has(first), 'seen after refresh()');
  t.same(two.all(), one.all());

  const fromOne = Array.from({ length: 15 }, newRunId);
  const fromTwo = Array.from({ length: 15 }, newRunId);
  await Promise.all([
    ...fromOne.map((id) => one.add(id, { by: 'one' })),
    ...fromTwo.map((id) => two.add(id, { by: 'two' })),
  ]);
  await one.refresh();
  await two.refresh();
  t.equal(one.size, 31);
  t.same(one.all(), two.all(), 'both see the same order');
  const seqs = one.all().map((e) => e.seq);
  t.same(seqs, Array.from({ length: 31 }, (_, i) => i + 1), 'unique, gap-free sequence numbers');

  const lines = (await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; run_id: string });
  t.equal(lines.length, 31, 'one line per run in the file');
  const fresh = await RunIndex.open(file, store);
  t.same(fresh.all(), one.all(), 'a reader opening the file later numbers it alike (numbers follow the file order)');
  t.equal(new Set(lines.map((l) => l.run_id)).size, 31, 'no duplicate run on disk');

  // Both add the same run at once: it is there once.
  const same = newRunId();
  await Promise.all([one.add(same, {}), two.add(same, {})]);
  await one.refresh();
  t.equal(one.all().filter((e) => e.runId === same).length, 1);
  t.equal(one.size, 32);
});

t.test('a replaced index file is read afresh', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const [a, b] = [newRunId(), newRunId()];
  await index.add(a, {});
  const tmp = `${file}.new`;
  await fs.writeFile(tmp, JSON.stringify({ seq: 1, run_id: b, tags: {} }) + '\n');
  await fs.rename(tmp, file);
  await index.refresh();
  t.same(index.all().map((e) => e.runId), [b]);
});

t.test('final summaries: appended by anyone, read on open, first one wins, bad ones ignored', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const [a, b, c] = [newRunId(), newRunId(), newRunId()];
  for (const id of [a, b, c]) await index.add(id, {});
  // A supervisor (another process) appends without opening the index.
  await appendFinal(file, a, { state: 'COMPLETE', start_time: '2026-01-01T00:00:00Z', end_time: '2026-01-01T00:01:00Z' });
  await appendFinal(file, a, { state: 'SYSTEM_ERROR' });
  await appendFinal(file, newRunId(), { state: 'COMPLETE' }); // a run the index does not hold
  await appendFinal(file, b, { state: 'RUNNING' }); // not final: never written
  await fs.appendFile(file, JSON.stringify({ final: c, state: 'NOT_A_STATE' }) + '\n');
  await index.refresh();
  t.same(index.get(a)?.final, { state: 'COMPLETE', start_time: '2026-01-01T00:00:00Z', end_time: '2026-01-01T00:01:00Z' }, 'the first final line counts');
  t.equal(index.get(b)?.final, undefined, 'a non-terminal state is no final summary');
  t.equal(index.get(c)?.final, undefined, 'an unknown state is ignored');
  t.equal(index.size, 3, 'final lines add no runs');
  t.notOk((await fs.readFile(file, 'utf8')).includes('RUNNING'), 'nothing written for a run that has not ended');

  // Seen by the server itself: kept at once, written once.
  await index.recordFinal(c, { state: 'CANCELED' });
  await index.recordFinal(c, { state: 'CANCELED' });
  t.equal(index.get(c)?.final?.state, 'CANCELED');
  t.equal((await fs.readFile(file, 'utf8')).split('\n').filter((l) => l.includes(`"final":"${c}"`) && l.includes('CANCELED')).length, 1, 'one line per run');

  const reopened = await RunIndex.open(file, store);
  t.same([a, b, c].map((id) => reopened.get(id)?.final?.state), ['COMPLETE', undefined, 'CANCELED'], 'a new server knows them from the file alone');
  t.same(pageOf(reopened, 10).entries.map((e) => e.runId), [c, b, a], 'the order is untouched');
});

t.test('concurrent adds are written together and keep unique, ordered sequence numbers', async (t) => {
  const { file, store } = await setup(t);
  const one = await RunIndex.open(file, store);
  const two = await RunIndex.open(file, store); // a second process on the same file
  const ids = Array.from({ length: 200 }, newRunId);
  await Promise.all(ids.map((id, i) => (i % 2 ? one : two).add(id, { i: String(i) })));
  const lines = (await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; run_id: string });
  t.equal(lines.length, 200, 'one line per run');
  const fresh = await RunIndex.open(file, store);
  t.same(fresh.all().map((e) => e.runId), lines.map((l) => l.run_id), 'listed in the file order');
  t.same(fresh.all().map((e) => e.seq), lines.map((_, i) => i + 1), 'numbered 1..200 in file order, whoever wrote them');
  t.equal(new Set(lines.map((l) => l.run_id)).size, 200, 'no run twice');
  await one.refresh();
  t.equal(visit(one, 7).ids.length, 200, 'every run listed');
});

t.test('ended runs are counted as they end; the rest are listed as unfinished', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const ids = Array.from({ length: 5 }, newRunId);
  for (const id of ids) await index.add(id, {});
  t.same(index.unfinished().map((e) => e.runId), ids, 'all unfinished at first');
  await index.recordFinal(ids[0]!, { state: 'COMPLETE' });
  await appendFinal(file, ids[1]!, { state: 'COMPLETE' });
  await appendFinal(file, ids[2]!, { state: 'EXECUTOR_ERROR' });
  await appendFinal(file, ids[2]!, { state: 'COMPLETE' }); // a second final line for a run changes nothing
  await index.refresh();
  t.same(Object.fromEntries(index.endedCounts()), { COMPLETE: 2, EXECUTOR_ERROR: 1 });
  t.same(index.unfinished().map((e) => e.runId), ids.slice(3));
  const reopened = await RunIndex.open(file, store);
  t.same(Object.fromEntries(reopened.endedCounts()), { COMPLETE: 2, EXECUTOR_ERROR: 1 }, 'the same after a restart');
  t.same(reopened.unfinished().map((e) => e.runId), ids.slice(3));
});

t.test('deleted runs: gone from pages, owners\' pages, counts and the file; numbers never given again', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const ids = Array.from({ length: 6 }, newRunId);
  for (const [i, id] of ids.entries()) await index.add(id, {}, i % 2 === 0 ? 'ann' : 'bob');
  await index.recordFinal(ids[0]!, { state: 'COMPLETE', end_time: '2024-01-01T00:00:00Z' });
  await index.recordFinal(ids[1]!, { state: 'COMPLETE' });
  await index.recordFinal(ids[2]!, { state: 'CANCELED' });
  const before = pageOf(index, 2);
  t.same(before.entries.map((e) => e.runId), [ids[5], ids[4]]);

  await index.recordDeleted(ids[0]!); // ann's, ended
  await index.recordDeleted(ids[3]!); // bob's, not ended
  await index.recordDeleted(ids[5]!); // the newest
  await index.recordDeleted(ids[5]!); // twice: nothing more happens
  t.notOk(index.has(ids[0]!));
  t.equal(index.get(ids[3]!), undefined);
  t.equal(index.size, 3);
  t.same(visit(index, 1).ids, [ids[4], ids[2], ids[1]], 'a listing walks the others, page by page');
  t.same(pageOf(index, 10, undefined, 'ann').entries.map((e) => e.runId), [ids[4], ids[2]], "ann's page");
  t.same(pageOf(index, 10, undefined, 'bob').entries.map((e) => e.runId), [ids[1]], "bob's page");
  t.same(Object.fromEntries(index.endedCounts()), { COMPLETE: 1, CANCELED: 1 }, 'counts lose the deleted ended run');
  t.same(index.unfinished().map((e) => e.runId).sort(), [ids[4]!].sort(), 'and the unfinished ones');
  t.same(pageOf(index, 2, before.nextPageToken).entries.map((e) => e.runId), [ids[2], ids[1]], 'a token from before the deletions goes on where it was');

  // The next run must not take the newest deleted run's number: a token below it would then show it.
  const tokenBelowDeleted = encodePageToken('runs', index.all().at(-1)!.seq + 1);
  const late = newRunId();
  await index.add(late, {});
  t.equal(index.all().at(-1)!.seq, 7, 'numbers go on after the deleted newest run (6)');
  t.notOk(pageOf(index, 10, tokenBelowDeleted).entries.some((e) => e.runId === late), 'so an older token does not show a newer run');

  const lines = (await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(lines.filter((l) => 'deleted' in l).map((l) => l.deleted), [ids[0], ids[3], ids[5], ids[5]], 'tombstones in the file');

  const reopened = await RunIndex.open(file, store);
  t.same(reopened.all().map((e) => [e.runId, e.seq]), index.all().map((e) => [e.runId, e.seq]), 'a reader of the whole file finds the same runs with the same numbers');
  t.same(Object.fromEntries(reopened.endedCounts()), { COMPLETE: 1, CANCELED: 1 });

  const other = await RunIndex.open(file, store);
  await index.recordDeleted(ids[4]!);
  await other.refresh();
  t.notOk(other.has(ids[4]!), 'another instance following the file drops it too');
});

t.test('a tombstone after a torn line is a line of its own', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const [a, b] = [newRunId(), newRunId()];
  await index.add(a, {});
  await index.add(b, {});
  await fs.appendFile(file, '{"seq": 3, "run_id": "run-torn'); // a crash mid-append
  await appendDeleted(file, a);
  const reopened = await RunIndex.open(file, store);
  t.same(reopened.all().map((e) => e.runId), [b], 'the deleted run is gone, the other kept');
  await t.rejects(appendDeleted(file, 'run-../../x'), /invalid run id/);
});

t.test('times come back exactly as they were written, whatever their form', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const times = [
    ['2025-03-01T10:00:00Z', '2025-03-01T10:00:07Z'], // wesTime: seconds
    ['2025-03-01T10:00:00.123Z', '2025-03-01T10:00:07.000Z'], // toISOString
    ['2025-03-01T12:00:00+02:00', '2025-03-01 10:00:07'], // parseable, but another spelling
    ['yesterday', ''], // not a time at all; an empty one is none
    [undefined, '2025-03-01T10:00:07.5Z'],
    ['+012025-03-01T10:00:00.000Z', undefined],
  ] as const;
  const ids = times.map(() => newRunId());
  for (const id of ids) await index.add(id, {});
  for (const [i, [start, end]] of times.entries()) {
    await appendFinal(file, ids[i]!, { state: 'COMPLETE', ...(start === undefined ? {} : { start_time: start }), ...(end === undefined ? {} : { end_time: end }) });
  }
  await index.refresh();
  const reopened = await RunIndex.open(file, store);
  for (const ix of [index, reopened]) {
    for (const [i, [start, end]] of times.entries()) {
      const want = { state: 'COMPLETE', ...(start === undefined ? {} : { start_time: start }), ...(end ? { end_time: end } : {}) };
      t.same(ix.get(ids[i]!)!.final, want, `${start} / ${end}`);
      t.strictSame(Object.keys(ix.get(ids[i]!)!.final!), Object.keys(want), 'no extra keys');
    }
  }
  // Retention reads end times from the columns: those before a cutoff, oldest first, as stored.
  t.same(
    reopened.endedBefore(Date.parse('2025-03-01T10:00:07.400Z'), 10),
    [
      { runId: ids[0], end: '2025-03-01T10:00:07Z' },
      { runId: ids[1], end: '2025-03-01T10:00:07.000Z' },
      { runId: ids[2], end: '2025-03-01 10:00:07' },
    ],
  );
  t.same(reopened.endedBefore(Date.parse('2026-01-01T00:00:00Z'), 2).length, 2, 'no more than asked for');
  await reopened.recordDeleted(ids[0]!);
  t.same(reopened.endedBefore(Date.parse('2026-01-01T00:00:00Z'), 10).map((d) => d.runId), [ids[1], ids[2], ids[4]], 'a deleted run is not due');
});

t.test('tags are shared between runs with the same ones, yet each run keeps its own', async (t) => {
  const { file, store } = await setup(t);
  const index = await RunIndex.open(file, store);
  const a = newRunId();
  const b = newRunId();
  const c = newRunId();
  await index.add(a, { x: '1', y: '2' }, 'ann');
  await index.add(b, { y: '2', x: '1' }, 'bob');
  await index.add(c, { x: '1', y: '2' });
  t.same(index.get(a)!.tags, { x: '1', y: '2' });
  t.same(Object.keys(index.get(b)!.tags), ['y', 'x'], 'the order of the keys is the run\'s');
  t.equal(index.get(c)!.owner, undefined);
  t.equal(index.get(b)!.owner, 'bob');
  t.same(index.select({ owner: 'nobody' }, 10), [], 'an owner without runs has none');
  t.same(index.select({ tagKey: 'y', tagValue: '2', ascending: true }, 10).map((e) => e.runId), [a, b, c]);
  t.throws(() => {
    (index.get(a)!.tags as Record<string, string>).x = 'changed';
  }, 'the tags handed out cannot be changed under the index');
});
