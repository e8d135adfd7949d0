import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { wesTime } from '../../src/util/time.js';
import { buildTestApp, call, multipart, waitForState, workflowsDir } from '../helper.js';

/**
 * --retention-days: finished runs whose end is older than the retention time
 * are deleted in the background, a bounded number per sweep, through the
 * same path as DELETE; running runs and recent ones are kept. The clock is
 * the test's (days pass in a line), and one run's end time is backdated in
 * the store.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

async function submitTool(t: Test, app: FastifyInstance, tool: 'echo' | 'sleep', params: Record<string, unknown>): Promise<string> {
  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: `${tool}.cwl`, workflow_params: JSON.stringify(params) },
    [{ filename: `${tool}.cwl`, content: await fs.readFile(path.join(workflowsDir, tool, `${tool}.cwl`)) }],
  );
  const res = await call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: body.headers });
  t.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const statusOf = async (t: Test, app: FastifyInstance, runId: string): Promise<number> =>
  (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` })).statusCode;

async function listed(t: Test, app: FastifyInstance): Promise<string[]> {
  return ((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
}

t.test('sweeps delete finished runs past the retention time, a batch at a time, and keep the rest', async (t) => {
  let now = Date.now();
  const { logger, lines } = capturingLogger();
  const app = await buildTestApp(t, { maxConcurrentRuns: 1, retentionDays: 2 }, { clock: () => now, logger, retentionSweepMs: 0, retentionBatch: 2 });
  const { workDir, stateStore } = app.ferry.config;

  const echo = await submitTool(t, app, 'echo', { message: 'done' });
  t.equal(await waitForState(t, app, echo), 'COMPLETE');
  const blocker = await submitTool(t, app, 'sleep', { seconds: 300 });
  await waitForState(t, app, blocker, ['RUNNING']);
  // Canceled while they waited: ended, but the index has not noted their end (the sweep reads it from the store).
  const [old, b, c] = [await submitTool(t, app, 'sleep', {}), await submitTool(t, app, 'sleep', {}), await submitTool(t, app, 'sleep', {})];
  for (const id of [old, b, c]) await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${id}/cancel` });
  for (const id of [old, b, c]) await waitForState(t, app, id, ['CANCELED']);
  await app.ferry.store.set(old, 'end_time', wesTime(new Date(now - 10 * DAY_MS)));

  const first = await app.ferry.backend.retention.sweep();
  t.same(first, { deleted: [old], finished: [], more: false }, 'today: only the run that ended 10 days ago');
  t.equal(await statusOf(t, app, old), 404);
  t.notOk(await fs.access(path.join(workDir, old)).then(() => true, () => false), 'its folder is gone');
  t.same(await listed(t, app), [c, b, blocker, echo], 'the rest are kept');
  t.match(lines.find((l) => l.msg === 'run deleted: past the retention time'), { run_id: old, retention_days: 2 }, 'each deletion is logged');
  t.match(lines.find((l) => l.msg === 'retention sweep'), { deleted: 1, more: false }, 'and each sweep that deleted something');

  now += DAY_MS;
  t.same((await app.ferry.backend.retention.sweep()).deleted, [], 'a day later: none is 2 days old yet');

  now += 2 * DAY_MS;
  const second = await app.ferry.backend.retention.sweep();
  t.same(second, { deleted: [echo, b], finished: [], more: true }, 'three days later: two (the batch), oldest first, and more to do');
  const third = await app.ferry.backend.retention.sweep();
  t.same(third, { deleted: [c], finished: [], more: false }, 'the next sweep takes the rest');
  t.same(await listed(t, app), [blocker], 'the running run is kept, however old');
  t.same(((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { system_state_counts: unknown }).system_state_counts, { RUNNING: 1 });
  for (const id of [echo, b, c]) {
    t.equal(await statusOf(t, app, id), 404);
    t.notOk(await fs.access(path.join(stateStore, id)).then(() => true, () => false), 'no record left');
  }
  t.same((await fs.readdir(workDir)).filter((e) => e.startsWith('run-')), [blocker], 'only its folder is left');
});

t.test('without a retention time, nothing is deleted however old', async (t) => {
  const now = Date.now() + 10_000 * DAY_MS;
  const app = await buildTestApp(t, {}, { clock: () => now, retentionSweepMs: 0 });
  const echo = await submitTool(t, app, 'echo', { message: 'kept forever' });
  t.equal(await waitForState(t, app, echo), 'COMPLETE');
  t.same(await app.ferry.backend.retention.sweep(), { deleted: [], finished: [], more: false });
  t.equal(await statusOf(t, app, echo), 200);
});

t.test('the sweeps run by themselves', async (t) => {
  const now = Date.now() + 3 * DAY_MS;
  const { logger, lines } = capturingLogger();
  const app = await buildTestApp(t, { retentionDays: 1 }, { clock: () => now, logger, retentionSweepMs: 200 });
  const echo = await submitTool(t, app, 'echo', { message: 'soon gone' });
  const deadline = Date.now() + 120_000;
  while ((await statusOf(t, app, echo)) !== 404) {
    if (Date.now() > deadline) throw new Error('the run was never swept');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.pass('finished, then deleted in the background');
  // The run is gone (404) from the moment its deletion is marked; the sweep logs it once the deletion is done.
  const logged = (): unknown => lines.find((l) => l.msg === 'run deleted: past the retention time');
  for (const until = Date.now() + 30_000; !logged() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  t.match(logged(), { run_id: echo });
  t.same(await listed(t, app), []);
});
