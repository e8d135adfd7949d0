import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ActiveRuns } from '../../src/runs/active-runs.js';
import { Staging } from '../../src/backend/staging.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import type { TaskRunner } from '../../src/tasks/task-runner.js';
import { journalDir, readJournal, recoverJournal, SubmissionJournal, type JournalEntry } from '../../src/runs/submission-journal.js';
import { buildTestApp, call, outputPath, restoreJournal, snapshotJournal, submit, tempDir, waitForState, workflowsDir } from '../helper.js';

const newRunId = (): string => `run-${Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('')}`;

async function setup(tt: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(tt);
  const workDir = path.join(dir, 'work');
  const stateStore = path.join(dir, 'store');
  await fs.mkdir(workDir);
  await fs.mkdir(stateStore);
  const store = new LocalStateStore(stateStore);
  const activeRuns = new ActiveRuns(stateStore);
  const journal = new SubmissionJournal(stateStore, [workDir, stateStore], undefined, 60_000);
  tt.teardown(() => journal.close());
  return { workDir, stateStore, store, activeRuns, journal };
}

function entryFor(runId: string): JournalEntry {
  return {
    v: 1,
    run_id: runId,
    dirs: ['execution', 'execution/sub'],
    files: {
      'request.json': Buffer.from('{"workflow_url":"echo.cwl"}\n').toString('base64'),
      'execution/echo.cwl': Buffer.from('cwlVersion: v1.0\n').toString('base64'),
      'execution/sub/data.bin': Buffer.from([0, 1, 2, 255]).toString('base64'),
    },
    record: { engine: 'cwltool', workflow: 'echo.cwl', state: 'QUEUED' },
  };
}

t.test('a run whose plain writes were all lost is rebuilt from its entry', async (t) => {
  const s = await setup(t);
  const runId = newRunId();
  await s.journal.write(entryFor(runId));
  t.match(await fs.readdir(journalDir(s.stateStore)), [/^\d+-\d+-\d+\.jsonl$/], 'one segment');
  t.same((await readJournal(s.stateStore)).entries.map((e) => e.run_id), [runId], 'holding the entry');
  const repaired = await recoverJournal(s);
  t.same(repaired, [runId]);
  const runDir = path.join(s.workDir, runId);
  t.equal(await fs.readFile(path.join(runDir, 'execution/echo.cwl'), 'utf8'), 'cwlVersion: v1.0\n');
  t.same([...(await fs.readFile(path.join(runDir, 'execution/sub/data.bin')))], [0, 1, 2, 255], 'binary content as sent');
  t.same(await s.store.getAll(runId), { engine: 'cwltool', workflow: 'echo.cwl', state: 'QUEUED' }, 'the first record is back');
  t.same(await s.activeRuns.list(), [runId], 'and the run is active again');
  t.same(await fs.readdir(journalDir(s.stateStore)), [], 'the journal is emptied');
});

t.test('only what differs is written again; later keys are kept', async (t) => {
  const s = await setup(t);
  const runId = newRunId();
  const entry = entryFor(runId);
  // As if every write had reached the disk but one file came back cut short and the record torn.
  const runDir = path.join(s.workDir, runId);
  for (const d of entry.dirs) await fs.mkdir(path.join(runDir, d), { recursive: true });
  for (const [rel, data] of Object.entries(entry.files)) await fs.writeFile(path.join(runDir, rel), Buffer.from(data, 'base64'));
  await fs.writeFile(path.join(runDir, 'execution/echo.cwl'), 'cwlVer');
  const before = (await fs.stat(path.join(runDir, 'request.json'))).mtimeMs;
  await fs.mkdir(path.join(s.stateStore, runId));
  await fs.writeFile(path.join(s.stateStore, runId, 'record.json'), '{"engine":');
  await fs.writeFile(path.join(s.stateStore, runId, 'state'), 'COMPLETE'); // written later, by its supervisor
  await s.journal.write(entry);
  t.same(await recoverJournal(s), [runId]);
  t.equal(await fs.readFile(path.join(runDir, 'execution/echo.cwl'), 'utf8'), 'cwlVersion: v1.0\n', 'the cut file is whole again');
  t.equal((await fs.stat(path.join(runDir, 'request.json'))).mtimeMs, before, 'an intact file is not rewritten');
  t.equal(await s.store.get(runId, 'engine'), 'cwltool', 'the torn record is rewritten');
  t.equal(await s.store.get(runId, 'state'), 'COMPLETE', 'a key written later still wins');
  t.same(await s.activeRuns.list(), [], 'a finished run is not made active');
  // Nothing to do the second time.
  await s.journal.write(entry);
  t.same(await recoverJournal(s), [], 'an intact run needs no repair');
});

t.test('entries that cannot be trusted are dropped without making a run', async (t) => {
  const s = await setup(t);
  const dir = journalDir(s.stateStore);
  await fs.mkdir(dir, { recursive: true });
  const torn = newRunId();
  await fs.writeFile(path.join(dir, `${torn}.json`), JSON.stringify(entryFor(torn)).slice(0, 40));
  const climbing = newRunId();
  const bad = entryFor(climbing);
  bad.files['../../escape'] = Buffer.from('x').toString('base64');
  await fs.writeFile(path.join(dir, `${climbing}.json`), JSON.stringify(bad));
  const misnamed = newRunId();
  await fs.writeFile(path.join(dir, `${newRunId()}.json`), JSON.stringify(entryFor(misnamed)));
  t.same(await recoverJournal(s), []);
  t.same(await fs.readdir(s.workDir), [], 'no run folder made');
  t.same((await fs.readdir(s.stateStore)).filter((n) => n.startsWith('run-')), [], 'no record made');
  t.same(await fs.readdir(dir), [], 'and the entries are gone');
  t.notOk(await fs.stat(path.join(s.workDir, '..', 'escape')).catch(() => null), 'nothing written outside the run');
});

t.test('a checkpoint drops settled entries only; a withdrawn entry is gone at once', async (t) => {
  const s = await setup(t);
  const [a, b, c] = [newRunId(), newRunId(), newRunId()];
  for (const id of [a, b, c]) await s.journal.write(entryFor(id));
  s.journal.settled(a);
  await s.journal.withdraw(c);
  const ids = async (): Promise<string[]> => (await readJournal(s.stateStore)).entries.map((e) => e.run_id);
  t.same(await ids(), [a, b], 'the withdrawn entry would bring nothing back');
  await s.journal.checkpoint();
  t.same(await ids(), [a, b], 'a segment with an unsettled entry stays');
  const d = newRunId();
  await s.journal.write(entryFor(d));
  t.equal((await fs.readdir(journalDir(s.stateStore))).length, 2, 'entries written after a checkpoint go to a new segment');
  s.journal.settled(b);
  s.journal.settled(d);
  await s.journal.close();
  t.same(await fs.readdir(journalDir(s.stateStore)), [], 'closing checkpoints the rest');
});

t.test('concurrent submissions share one batch: one write and one flush', async (t) => {
  const s = await setup(t);
  const ids = Array.from({ length: 20 }, newRunId);
  await Promise.all(ids.map((id) => s.journal.write(entryFor(id))));
  t.same(s.journal.stats, { batches: 1, lines: 20 }, 'twenty entries, one fdatasync');
  t.same((await readJournal(s.stateStore)).entries.map((e) => e.run_id).sort(), [...ids].sort());
  // Entries arriving while a batch is being flushed wait for it and share the next one.
  const more = Array.from({ length: 10 }, newRunId);
  const first = s.journal.write(entryFor(more[0]!));
  await new Promise((r) => setImmediate(r));
  await Promise.all([first, ...more.slice(1).map((id) => s.journal.write(entryFor(id)))]);
  t.same(s.journal.stats, { batches: 3, lines: 30 }, 'one batch for the first, one for the nine that came during it');
  const repaired = await recoverJournal(s);
  t.equal(repaired.length, 30, 'every entry rebuilds its run');
});

/**
 * Makes every fdatasync of a file fail with EIO (the disk failed) until the returned function is
 * called. Folders are synced with fsync, which keeps working.
 */
async function failingDatasync(dir: string): Promise<() => void> {
  const probe = await fs.open(path.join(dir, '.probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  await fs.rm(path.join(dir, '.probe'));
  const datasync = proto.datasync;
  proto.datasync = async () => {
    throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
  };
  return () => {
    proto.datasync = datasync;
  };
}

t.test('a batch whose flush fails refuses every entry in it and leaves none behind', async (t) => {
  const s = await setup(t);
  const kept = newRunId();
  await s.journal.write(entryFor(kept));
  const restore = await failingDatasync(s.workDir);
  t.teardown(restore);
  const refused = Array.from({ length: 5 }, newRunId);
  const results = await Promise.allSettled(refused.map((id) => s.journal.write(entryFor(id))));
  restore();
  t.same(results.map((r) => r.status), Array(5).fill('rejected'), 'every waiter of the batch is refused');
  t.match((results[0] as PromiseRejectedResult).reason, { code: 'EIO' });
  t.same((await readJournal(s.stateStore)).entries.map((e) => e.run_id), [kept], 'the batch is cut out again: only the entry flushed before it');
  const later = newRunId();
  await s.journal.write(entryFor(later));
  t.same((await readJournal(s.stateStore)).entries.map((e) => e.run_id), [kept, later], 'and the next batch is written whole');
  t.same((await recoverJournal(s)).sort(), [kept, later].sort(), 'no refused run is rebuilt');
});

t.test('submissions whose journal batch fails all get the WES error and leave no run', async (t) => {
  const dir = await tempDir(t);
  const workDir = path.join(dir, 'work');
  const stateStore = path.join(dir, 'store');
  const app = await buildTestApp(t, { workDir, stateStore }, { journalCheckpointMs: 3_600_000 });
  const files = [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }];
  const fields = (i: number) => ({ workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: `m${i}` }) });
  const restore = await failingDatasync(dir);
  t.teardown(restore);
  const answers = await Promise.all([0, 1, 2, 3].map((i) => submit(t, app, fields(i), files)));
  restore();
  for (const res of answers) {
    t.equal(res.statusCode, 500, 'a failed flush is a server error');
    t.same(res.json(), { msg: 'The server failed to handle the request; the error is in its log.', status_code: 500 }, 'with the WES body, no details');
  }
  t.same((await readJournal(stateStore)).entries, [], 'no entry left to bring any back');
  t.same((await fs.readdir(workDir)).filter((n) => n.startsWith('run-')), [], 'no run folder');
  t.same((await fs.readdir(stateStore)).filter((n) => n.startsWith('run-')), [], 'no record');
  t.same(await new ActiveRuns(stateStore).list(), [], 'no active marker');
  t.same(((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: unknown[] }).runs, [], 'none listed');
  const after = await submit(t, app, fields(9), files);
  t.equal(after.statusCode, 200, 'once the disk works again, so do submissions');
});

t.test('a batch torn by a crash: the entries flushed before it are rebuilt, the torn one is not', async (t) => {
  const s = await setup(t);
  const [a, b, torn] = [newRunId(), newRunId(), newRunId()];
  await Promise.all([s.journal.write(entryFor(a)), s.journal.write(entryFor(b))]);
  const [segment] = await fs.readdir(journalDir(s.stateStore));
  // The crash came while the next batch was being written: half of its line reached the disk.
  const line = JSON.stringify(entryFor(torn));
  await fs.appendFile(path.join(journalDir(s.stateStore), segment!), line.slice(0, line.length - 10));
  t.same((await recoverJournal(s)).sort(), [a, b].sort());
  t.notOk(await fs.stat(path.join(s.workDir, torn)).catch(() => null), 'no folder for the torn entry');
  t.equal(await s.store.get(torn, 'state'), null, 'nor a record');
  t.same(await fs.readdir(journalDir(s.stateStore)), [], 'the journal is emptied');
});

t.test('a submission acknowledged before a machine crash survives it', async (t) => {
  const dir = await tempDir(t);
  const workDir = path.join(dir, 'work');
  const stateStore = path.join(dir, 'store');
  const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: 'after the crash' }) };
  const files = [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }];
  // The first server goes down before it starts the run (its runner only holds runs) and before its journal's checkpoint.
  const held: string[] = [];
  const holding: TaskRunner = {
    run: (runId) => void held.push(runId),
    cancel: async () => undefined,
    reapAbandoned: async () => undefined,
    isOk: () => true,
    isLive: (runId) => held.includes(runId),
    isWaiting: (runId) => held.includes(runId),
    get queueLength() {
      return held.length;
    },
    settled: async () => undefined,
    close: async () => undefined,
  };
  const first = await buildTestApp(t, { workDir, stateStore }, { taskRunner: holding, journalCheckpointMs: 3_600_000 });
  const res = await submit(t, first, fields, files);
  t.equal(res.statusCode, 200);
  const runId = (res.json() as { run_id: string }).run_id;
  t.same((await readJournal(stateStore)).entries.map((e) => e.run_id), [runId], 'the acknowledged submission has its journal entry');
  const saved = await snapshotJournal(stateStore);
  t.same(held, [runId]);
  // Stopped without its last checkpoint: the journal is put back below as a crash would have left it.
  await first.close();
  // The machine went down before the plain writes reached the disk: the run folder and record are gone.
  await fs.rm(path.join(workDir, runId), { recursive: true });
  await fs.rm(path.join(stateStore, runId), { recursive: true });
  await restoreJournal(stateStore, saved);
  const second = await buildTestApp(t, { workDir, stateStore });
  t.equal(await waitForState(t, second, runId), 'COMPLETE', 'the run is rebuilt and runs');
  const log = (await call(t, second, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { outputs: { output?: { location?: string } } };
  const location = log.outputs.output?.location ?? '';
  t.equal(await fs.readFile(outputPath(second, location), 'utf8'), 'after the crash\n', 'with its own inputs');
  t.same(await fs.readdir(journalDir(stateStore)), [], 'and the journal is empty');
});

t.test('a submission that fails after its entry is written withdraws it and leaves nothing', async (t) => {
  const dir = await tempDir(t);
  const workDir = path.join(dir, 'work');
  const stateStore = path.join(dir, 'store');
  const app = await buildTestApp(t, { workDir, stateStore }, { journalCheckpointMs: 3_600_000 });
  const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"x"}' };
  const files = [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }];
  // The run folder cannot be put in place (the disk failed between the entry and the rename).
  const moveTo = Staging.prototype.moveTo;
  Staging.prototype.moveTo = async () => {
    throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
  };
  t.teardown(() => {
    Staging.prototype.moveTo = moveTo;
  });
  const res = await submit(t, app, fields, files);
  Staging.prototype.moveTo = moveTo;
  t.equal(res.statusCode, 500);
  t.same((await readJournal(stateStore)).entries, [], 'the entry is withdrawn: a restart will not bring the submission back');
  t.same((await fs.readdir(workDir)).filter((n) => n.startsWith('run-')), [], 'no run folder');
  t.same((await fs.readdir(stateStore)).filter((n) => n.startsWith('run-')), [], 'no record');
  t.same(await new ActiveRuns(stateStore).list(), [], 'no active marker');
  const listed = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: unknown[] };
  t.same(listed.runs, [], 'and no run listed');
});
