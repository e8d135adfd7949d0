import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { runIndexFile } from '../../src/runs/run-index.js';
import { buildTestApp, call, multipart, tempDir, workflowsDir, runRoutes } from '../helper.js';

/**
 * DELETE /runs/{run_id}, Ferry's extension: a finished run goes entirely
 * (folder, record, index entries) and every route of it answers 404; a run
 * not finished is refused with 409; someone else's run is not found; of
 * concurrent deletions one wins; listings and their page tokens stay right.
 */

type Headers = Record<string, string>;

async function submitTool(t: Test, app: FastifyInstance, tool: 'echo' | 'sleep', params: Record<string, unknown>, headers: Headers = {}): Promise<string> {
  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: `${tool}.cwl`, workflow_params: JSON.stringify(params) },
    [{ filename: `${tool}.cwl`, content: await fs.readFile(path.join(workflowsDir, tool, `${tool}.cwl`)) }],
  );
  const res = await call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...headers } });
  t.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

const FINISHED = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];

/** Polls the run's status until it is in one of `states`. */
async function waitForState(t: Test, app: FastifyInstance, runId: string, states = FINISHED, timeoutMs = 120_000, headers: Headers = {}): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status`, headers });
    if (res.statusCode !== 200) throw new Error(`status of ${runId}: ${res.statusCode} ${res.body}`);
    state = (res.json() as { state: string }).state;
    // Written by hand on the server: exactly the text JSON.stringify gives, whichever way the state was found.
    t.equal(res.body, JSON.stringify({ run_id: runId, state }), 'the status, as JSON.stringify writes it');
    if (states.includes(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} still ${state} after ${timeoutMs} ms`);
}

const del = (t: Test, app: FastifyInstance, runId: string, headers: Headers = {}): Promise<LightMyRequestResponse> =>
  call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${runId}`, headers });

/** Every route of one run, DELETE too. */
const everyRoute = (runId: string): { method: 'GET' | 'POST' | 'DELETE'; url: string }[] => [...runRoutes(runId), { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${runId}` }];

async function expectGone(t: Test, app: FastifyInstance, runId: string, headers: Headers = {}): Promise<void> {
  for (const route of everyRoute(runId)) {
    const res = await call(t, app, { ...route, headers });
    t.equal(res.statusCode, 404, `${route.method} ${route.url}`);
    t.match(res.json(), { status_code: 404, msg: String }, 'the WES error body');
  }
}

/** Every run id of a listing, following its pages. */
async function listAll(t: Test, app: FastifyInstance, size = 100, headers: Headers = {}, from = ''): Promise<string[]> {
  const ids: string[] = [];
  let token = from;
  for (let pages = 0; pages < 100; pages++) {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs?page_size=${size}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`, headers });
    t.equal(res.statusCode, 200);
    const body = res.json() as { runs: { run_id: string }[]; next_page_token: string };
    ids.push(...body.runs.map((r) => r.run_id));
    token = body.next_page_token;
    if (!token) return ids;
  }
  throw new Error('paging does not end');
}

async function stateCounts(t: Test, app: FastifyInstance): Promise<Record<string, number>> {
  return ((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { system_state_counts: Record<string, number> }).system_state_counts;
}

const exists = (p: string): Promise<boolean> => fs.access(p).then(() => true, () => false);

/** Runs cheap to finish: queued behind a blocker, then canceled before they start. */
async function canceledRuns(t: Test, app: FastifyInstance, n: number, headers: Headers = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = await submitTool(t, app, 'sleep', { seconds: 300 }, headers);
    t.equal((await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${id}/cancel`, headers })).statusCode, 200);
    ids.push(id);
  }
  for (const id of ids) await waitForState(t, app, id, ['CANCELED'], 30_000, headers);
  return ids;
}

t.test('DELETE of a finished run (cwltool): 200, then nothing of it is left, even after a restart', async (t) => {
  const workDir = await tempDir(t);
  let app = await buildTestApp(t, { workDir });
  const { stateStore } = app.ferry.config;
  const gone = await submitTool(t, app, 'echo', { message: 'to be deleted' });
  const kept = await submitTool(t, app, 'echo', { message: 'kept' });
  t.equal(await waitForState(t, app, gone), 'COMPLETE');
  t.equal(await waitForState(t, app, kept), 'COMPLETE');
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${gone}` })).json() as { outputs: { output: { location: string } } };
  const outputUrl = new URL(log.outputs.output.location).pathname;
  t.equal((await call(t, app, { method: 'GET', url: outputUrl })).statusCode, 200, 'its output can be fetched before');
  const output = path.join(workDir, gone, 'outputs', 'output.txt');
  t.ok(await exists(output), 'its output is on disk before');
  t.same(await listAll(t, app), [kept, gone]);

  const res = await del(t, app, gone);
  t.equal(res.statusCode, 200);
  t.same(res.json(), { run_id: gone }, 'the body is the RunId');

  await expectGone(t, app, gone);
  t.same(await listAll(t, app), [kept], 'the listing skips it');
  t.same(await listAll(t, app, 1), [kept], 'page by page too');
  t.same(await stateCounts(t, app), { COMPLETE: 1 }, 'service-info counts only the other run');
  t.notOk(await exists(path.join(workDir, gone)), 'its folder is gone');
  t.notOk(await exists(output), 'with its outputs');
  t.equal((await call(t, app, { method: 'GET', url: outputUrl })).statusCode, 404, 'and its output URL is a 404');
  t.notOk(await exists(path.join(stateStore, gone)), 'its record is gone from the state store');
  t.notOk(await app.ferry.store.has(gone));
  t.notOk((await app.ferry.store.listRunIds()).includes(gone));
  t.notOk(await exists(path.join(stateStore, '.active', gone)), 'no active-run marker');
  t.same(await fs.readdir(path.join(stateStore, '.deleting')), [], 'no deletion left marked');
  t.match(await fs.readFile(runIndexFile(stateStore), 'utf8'), `{"deleted":"${gone}"}\n`, 'a tombstone in the index');
  const other = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${kept}` });
  t.equal((other.json() as { state: string }).state, 'COMPLETE', 'the other run is untouched');

  await app.close();
  app = await buildTestApp(t, { workDir });
  await expectGone(t, app, gone);
  t.same(await listAll(t, app), [kept], 'a restarted server does not list it either');
  t.same(await stateCounts(t, app), { COMPLETE: 1 });
  await fs.rm(runIndexFile(stateStore));
  await app.close();
  app = await buildTestApp(t, { workDir });
  t.same(await listAll(t, app), [kept], 'nor does an index rebuilt from the store');
});

t.test('a run not finished is 409; once canceled it can be deleted', async (t) => {
  const app = await buildTestApp(t, { maxConcurrentRuns: 1 });
  const running = await submitTool(t, app, 'sleep', { seconds: 300 });
  await waitForState(t, app, running, ['RUNNING']);
  const queued = await submitTool(t, app, 'sleep', { seconds: 300 });
  t.equal(await waitForState(t, app, queued, ['QUEUED']), 'QUEUED');

  for (const [runId, state] of [[running, 'RUNNING'], [queued, 'QUEUED']] as const) {
    const res = await del(t, app, runId);
    t.equal(res.statusCode, 409, `${state}: 409`);
    t.match(res.json(), { status_code: 409, msg: new RegExp(`is ${state}: only a finished run .* can be deleted; cancel it first`) });
    t.equal(await waitForState(t, app, runId, [state]), state, 'the run goes on as it was');
    t.ok(await exists(path.join(app.ferry.config.workDir, runId)), 'its folder is there');
  }
  t.same(await listAll(t, app), [queued, running]);

  t.equal((await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${running}/cancel` })).statusCode, 200);
  // cwltool takes seconds to die of SIGTERM (killed after the 3 s grace period): CANCELING meanwhile.
  const canceling = await del(t, app, running);
  t.equal(canceling.statusCode, 409, 'CANCELING: 409');
  t.match(canceling.json(), { msg: /is CANCELING/ });
  t.equal(await waitForState(t, app, running, FINISHED, 30_000), 'CANCELED');
  const deleted = await del(t, app, running);
  t.equal(deleted.statusCode, 200, 'CANCELED: deleted');
  await expectGone(t, app, running);
  t.same(await listAll(t, app), [queued]);
  await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${queued}/cancel` });
});

t.test('concurrent DELETEs, DELETE racing a cancel, and paging after deletions', async (t) => {
  const app = await buildTestApp(t, { maxConcurrentRuns: 1 });
  const { workDir, stateStore } = app.ferry.config;
  const blocker = await submitTool(t, app, 'sleep', { seconds: 300 });
  await waitForState(t, app, blocker, ['RUNNING']);
  const c = await canceledRuns(t, app, 8);
  const first = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs?page_size=3' })).json() as { runs: { run_id: string }[]; next_page_token: string };
  t.same(first.runs.map((r) => r.run_id), [c[7], c[6], c[5]]);

  const answers = await Promise.all(Array.from({ length: 5 }, () => del(t, app, c[6]!)));
  t.same(answers.map((r) => r.statusCode).sort(), [200, 404, 404, 404, 404], 'one DELETE deletes it, the others find no run');
  for (const r of answers.filter((a) => a.statusCode === 404)) t.match(r.json(), { status_code: 404 });

  const [deleted, canceled] = await Promise.all([del(t, app, c[4]!), call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${c[4]}/cancel` })]);
  t.equal(deleted.statusCode, 200, 'a DELETE racing a cancel of a canceled run deletes it');
  t.ok([200, 404].includes(canceled.statusCode), `the cancel answers 200 (before) or 404 (after): ${canceled.statusCode}`);
  t.notOk(await exists(path.join(stateStore, c[4]!)), 'and no record of it is begun again');

  // A queued run: canceled and deleted at once. Either the DELETE finds it unfinished (409) and
  // the run ends CANCELED, whole; or it finds it CANCELED and deletes it: never half of each.
  const q = await submitTool(t, app, 'sleep', { seconds: 300 });
  const [raced] = await Promise.all([del(t, app, q), call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${q}/cancel` })]);
  t.ok([200, 409].includes(raced.statusCode), `DELETE racing the cancel of a queued run: ${raced.statusCode}`);
  if (raced.statusCode === 409) {
    t.equal(await waitForState(t, app, q, ['CANCELED']), 'CANCELED', '409: the run ends CANCELED');
    t.ok(await exists(path.join(workDir, q)), 'with its folder');
    t.ok(await app.ferry.store.has(q), 'and its record');
    t.equal((await del(t, app, q)).statusCode, 200, 'and can be deleted then');
  }
  await expectGone(t, app, q);
  t.notOk(await exists(path.join(workDir, q)));
  t.notOk(await exists(path.join(stateStore, q)));

  for (const id of [c[1]!, c[2]!]) t.equal((await del(t, app, id)).statusCode, 200);
  const left = [c[7], c[5], c[3], c[0], blocker];
  for (const size of [1, 2, 3, 100]) t.same(await listAll(t, app, size), left, `pages of ${size}: every run left, once, in order`);
  t.same(await listAll(t, app, 3, {}, first.next_page_token), [c[3], c[0], blocker], 'a page token from before the deletions goes on where it was');
  t.same(await stateCounts(t, app), { CANCELED: 4, RUNNING: 1 });
  t.same((await fs.readdir(workDir)).filter((e) => e.startsWith('run-')).sort(), [...left].sort(), 'only their folders are left');
});

t.test('runs are owned: someone else\'s run is 404, admins delete any', async (t) => {
  const dir = await tempDir(t);
  const tokens = { ann: 'ann-token-0123456789', bob: 'bob-token-9876543210', root: 'root-token-abcdef' } as const;
  const bearer = (user: keyof typeof tokens): Headers => ({ authorization: `Bearer ${tokens[user]}` });
  const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
  await fs.writeFile(path.join(dir, 'tokens'), Object.entries(tokens).map(([u, tok]) => `${u} ${sha256(tok)}\n`).join(''));
  const app = await buildTestApp(t, { maxConcurrentRuns: 1, authTokens: path.join(dir, 'tokens'), admins: ['root'] });
  const blocker = await submitTool(t, app, 'sleep', { seconds: 300 }, bearer('ann'));
  await waitForState(t, app, blocker, ['RUNNING'], 120_000, bearer('ann'));
  const [annRun] = await canceledRuns(t, app, 1, bearer('ann'));
  const [bobRun] = await canceledRuns(t, app, 1, bearer('bob'));

  t.equal((await del(t, app, annRun!)).statusCode, 401, 'no credentials: 401');
  const notHers = await del(t, app, annRun!, bearer('bob'));
  t.equal(notHers.statusCode, 404, "bob does not find ann's run");
  t.match(notHers.json(), { status_code: 404 }, 'not found, never forbidden');
  t.equal((await del(t, app, blocker, bearer('bob'))).statusCode, 404, "nor her running one (no 409 tells it exists)");
  t.same(await listAll(t, app, 100, bearer('ann')), [annRun, blocker], "ann's runs are all there");

  t.equal((await del(t, app, annRun!, bearer('ann'))).statusCode, 200, 'ann deletes her own');
  await expectGone(t, app, annRun!, bearer('ann'));
  await expectGone(t, app, annRun!, bearer('root'));
  t.same(await listAll(t, app, 1, bearer('ann')), [blocker], "ann's pages skip it");
  t.equal((await del(t, app, bobRun!, bearer('root'))).statusCode, 200, "the admin deletes bob's");
  t.same(await listAll(t, app, 100, bearer('bob')), [], 'bob has no run left');
  t.same(await listAll(t, app, 100, bearer('root')), [blocker], 'the admin sees only the blocker');
});
