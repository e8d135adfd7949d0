import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { deletingDir } from '../../src/runs/run-deletion.js';
import { appendDeleted, runIndexFile } from '../../src/runs/run-index.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { journalDir, readJournal } from '../../src/runs/submission-journal.js';
import { buildTestApp, call, multipart, restoreJournal, snapshotJournal, tempDir, waitForState, workflowsDir } from '../helper.js';

/** Whether the submission journal would rebuild the run after a machine crash. */
const journalHolds = async (stateStore: string, runId: string): Promise<boolean> => (await readJournal(stateStore)).entries.some((e) => e.run_id === runId);

/**
 * Deleting a run is crash-safe: one durable step (the marker in
 * `<store>/.deleting/`) makes the run gone, and whatever a crash leaves of it
 * afterwards is removed by the next server before it answers. Each state a
 * crash can leave between the steps is made here by hand, on real runs, and
 * a new server must finish every one of them. A deletion that fails part way
 * in a live server leaves the run gone, and is finished by the next sweep.
 */

const sleep = await fs.readFile(path.join(workflowsDir, 'sleep', 'sleep.cwl'));
const exists = (p: string): Promise<boolean> => fs.access(p).then(() => true, () => false);

async function submitSleep(t: Test, app: FastifyInstance): Promise<string> {
  const body = multipart({ workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'sleep.cwl', workflow_params: '{"seconds": 300}' }, [{ filename: 'sleep.cwl', content: sleep }]);
  const res = await call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: body.headers });
  t.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

/** A blocker that keeps the only slot, and `n` runs canceled while they waited for it (cheap finished runs). */
async function blockerAndCanceled(t: Test, app: FastifyInstance, n: number): Promise<{ blocker: string; canceled: string[] }> {
  const blocker = await submitSleep(t, app);
  await waitForState(t, app, blocker, ['RUNNING']);
  const canceled: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = await submitSleep(t, app);
    await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${id}/cancel` });
    canceled.push(id);
  }
  for (const id of canceled) await waitForState(t, app, id, ['CANCELED']);
  return { blocker, canceled };
}

async function listed(t: Test, app: FastifyInstance): Promise<string[]> {
  const res = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs?page_size=2' });
  const ids = (res.json() as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
  let token = (res.json() as { next_page_token: string }).next_page_token;
  while (token) {
    const next = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs?page_size=2&page_token=${encodeURIComponent(token)}` })).json() as { runs: { run_id: string }[]; next_page_token: string };
    ids.push(...next.runs.map((r) => r.run_id));
    token = next.next_page_token;
  }
  return ids;
}

const statusOf = async (t: Test, app: FastifyInstance, runId: string): Promise<number> =>
  (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` })).statusCode;

const counts = async (t: Test, app: FastifyInstance): Promise<Record<string, number>> =>
  ((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { system_state_counts: Record<string, number> }).system_state_counts;

t.test('every state a crash can leave mid-deletion is finished by the next server', async (t) => {
  const workDir = await tempDir(t);
  // Journal entries are kept (no checkpoint for an hour), as a machine crash would find them.
  const parts = { journalCheckpointMs: 3_600_000 };
  const app = await buildTestApp(t, { workDir, maxConcurrentRuns: 1 }, parts);
  const { stateStore } = app.ferry.config;
  const store = new LocalStateStore(stateStore);
  const { blocker, canceled } = await blockerAndCanceled(t, app, 6);
  const [marked, tombstoned, folderGone, allButMarker, rebuiltByJournal, kept] = canceled as [string, string, string, string, string, string];
  const doomed = [marked, tombstoned, folderGone, allButMarker, rebuiltByJournal];
  const index = runIndexFile(stateStore);
  t.ok(await journalHolds(stateStore, rebuiltByJournal), 'the submission journal holds the run (it could rebuild it)');
  const saved = await snapshotJournal(stateStore);

  // The first, durable step only: the marker.
  for (const id of doomed) await app.ferry.deletions.mark(id);
  t.same((await fs.readdir(deletingDir(stateStore))).sort(), [...doomed].sort(), 'one marker per run, on disk');
  for (const id of doomed) t.equal(await statusOf(t, app, id), 404, 'a marked run is gone at once');
  t.same(await listed(t, app), [kept, blocker], 'and the listing skips it');
  // Then as far as each crash got.
  for (const id of [tombstoned, folderGone, allButMarker]) await appendDeleted(index, id);
  for (const id of [folderGone, allButMarker, rebuiltByJournal]) await fs.rm(path.join(workDir, id), { recursive: true });
  await store.remove(allButMarker);
  await fs.rm(path.join(stateStore, '.active', allButMarker), { force: true });

  await app.close(); // the crash: nothing more of the deletions is done
  // A graceful close checkpoints the journal; a machine crash would have left this entry.
  await restoreJournal(stateStore, saved);
  for (const id of [marked, tombstoned]) t.ok(await exists(path.join(workDir, id)), 'the crash left the run folder');
  t.ok(await exists(path.join(stateStore, marked)), 'and the record');

  const next = await buildTestApp(t, { workDir, maxConcurrentRuns: 1 }, parts);
  for (const id of doomed) {
    t.equal(await statusOf(t, next, id), 404, `${id}: 404`);
    t.equal((await call(t, next, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${id}` })).statusCode, 404, 'DELETE again: 404');
    t.notOk(await exists(path.join(workDir, id)), 'no folder');
    t.notOk(await exists(path.join(stateStore, id)), 'no record');
    t.notOk(await exists(path.join(stateStore, '.active', id)), 'no active-run marker');
  }
  t.same(await fs.readdir(deletingDir(stateStore)), [], 'every deletion finished');
  t.same(await fs.readdir(journalDir(stateStore)), [], 'the journal did not bring any run back');
  t.same(await listed(t, next), [kept, blocker], 'the listing has the others');
  t.same(await counts(t, next), { CANCELED: 1, RUNNING: 1 });
  const tombstones = (await fs.readFile(index, 'utf8')).split('\n').filter((l) => l.startsWith('{"deleted"'));
  for (const id of doomed) t.ok(tombstones.includes(`{"deleted":"${id}"}`), 'each has its tombstone in the index');

  // The index rebuilt from the store does not bring them back either.
  await next.close();
  await fs.rm(index);
  const rebuilt = await buildTestApp(t, { workDir, maxConcurrentRuns: 1 }, parts);
  t.same(await listed(t, rebuilt), [kept, blocker], 'an index rebuilt from the store lists the same');
});

/** A state store whose removal of a run fails once (a disk error in the middle of a deletion). */
class FailingOnceStore extends LocalStateStore {
  failNext = false;
  override async remove(runId: string): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw Object.assign(new Error('EIO: i/o error, rmdir'), { code: 'EIO' });
    }
    return super.remove(runId);
  }
}

t.test('a deletion that fails part way: 500, the run stays gone, and the next sweep finishes it', async (t) => {
  const workDir = await tempDir(t);
  const store = new FailingOnceStore(path.join(workDir, 'state_store'));
  // No sweeps in the background: this test sweeps by hand. Journal entries are kept.
  const app = await buildTestApp(t, { workDir, maxConcurrentRuns: 1 }, { store, retentionSweepMs: 0, journalCheckpointMs: 3_600_000 });
  const { stateStore } = app.ferry.config;
  const { blocker, canceled } = await blockerAndCanceled(t, app, 2);
  const [victim, kept] = canceled as [string, string];
  t.same(await counts(t, app), { CANCELED: 2, RUNNING: 1 });
  t.ok(await journalHolds(stateStore, victim), 'its submission journal entry is there (it could rebuild the run)');

  store.failNext = true;
  const res = await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${victim}` });
  t.equal(res.statusCode, 500, 'the failure is a 500');
  t.notMatch(res.json(), { msg: /EIO|rmdir/ }, 'without its details');
  t.equal(await statusOf(t, app, victim), 404, 'the run is gone all the same');
  t.equal((await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${victim}` })).statusCode, 404);
  t.same(await listed(t, app), [kept, blocker]);
  t.same(await counts(t, app), { CANCELED: 1, RUNNING: 1 }, 'and not counted');
  t.ok(await exists(path.join(stateStore, victim)), 'its record is still on disk');
  t.same(await fs.readdir(deletingDir(stateStore)), [victim], 'marked for deletion');
  t.same(app.ferry.deletions.pending(), [victim]);

  const sweep = await app.ferry.backend.retention.sweep();
  t.same(sweep.finished, [victim], 'a sweep finishes it (retention is off: only this)');
  t.same(sweep.deleted, []);
  t.notOk(await exists(path.join(stateStore, victim)), 'the record is gone');
  t.same(await fs.readdir(deletingDir(stateStore)), [], 'the marker too');
  t.same(app.ferry.deletions.pending(), []);
  t.notOk(await journalHolds(stateStore, victim), 'its journal entry went with it');
  t.ok(await journalHolds(stateStore, kept), "the other run's stays");
  t.equal(await statusOf(t, app, victim), 404);
  t.same(await listed(t, app), [kept, blocker]);
});
