import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { TASK_KEY } from '../../src/tasks/supervisor.js';
import { findRunProcesses } from '../../src/tasks/run-processes.js';
import { buildTestApp, submit, supervisorsOf, waitForState, workflowsDir } from '../helper.js';

// The server keeps one supervisor started ahead of the next run
// (`ferry run-task --standby`), so a run's start does not wait for a process
// to start and load.

/** Pids of standby supervisors serving `workDir`, from /proc. */
async function standbys(workDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').then((s) => s.split('\0'), () => [] as string[]);
    if (argv.includes('run-task') && argv.includes('--standby') && argv.includes(workDir)) pids.push(Number(name));
  }
  return pids;
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function echo(t: Test, app: FastifyInstance): Promise<string> {
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"standby"}' }, [
    { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
  ]);
  t.equal(res.statusCode, 200);
  return (res.json() as { run_id: string }).run_id;
}

t.test('a run is driven by the supervisor started ahead of it; an unused one leaves with the server', async (t) => {
  const app = await buildTestApp(t);
  const workDir = app.ferry.config.workDir;
  const [ready] = await until(() => standbys(workDir), (p) => p.length === 1);
  t.ok(ready, 'one supervisor waits for the next run');
  t.ok((await supervisorsOf(workDir)).includes(ready!), 'the teardown helper finds it among the supervisors of the work folder');
  const runId = await echo(t, app);
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const owner = await app.ferry.store.get(runId, TASK_KEY);
  t.equal(Number(owner?.split(':')[2]), ready, 'the waiting supervisor drove the run');
  // The supervisor logs the end just after recording it.
  const logged = await until(() => fs.readFile(path.join(workDir, runId, 'supervisor.log'), 'utf8'), (text) => /run finished/.test(text));
  t.match(logged, /run finished/, 'and logged to the run\'s supervisor.log');
  // The engine's start and end, in order, with their times (the bench reads them).
  const lines = logged.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; time: number; executor?: string; exit_code?: number });
  const started = lines.find((l) => l.msg === 'engine started');
  const ended = lines.find((l) => l.msg === 'engine ended');
  const finished = lines.find((l) => l.msg === 'run finished');
  t.equal(started?.executor, 'local', 'the engine\'s start is logged, with its executor');
  t.equal(ended?.exit_code, 0, 'its end, with the exit code');
  t.ok(started!.time <= ended!.time && ended!.time <= finished!.time, 'started ≤ ended ≤ run finished');
  const next = await until(() => standbys(workDir), (p) => p.length === 1 && p[0] !== ready);
  t.equal(next.length, 1, 'another one waits for the run after');
  t.not(next[0], ready);
  await app.close();
  t.same(await until(() => standbys(workDir), (p) => p.length === 0), [], 'an unused supervisor leaves when the server stops');
});

t.test('a standby supervisor that died is not needed: the run starts all the same', async (t) => {
  const app = await buildTestApp(t);
  const workDir = app.ferry.config.workDir;
  const [ready] = await until(() => standbys(workDir), (p) => p.length === 1);
  process.kill(ready!, 'SIGKILL');
  await until(() => standbys(workDir), (p) => p.length === 0);
  const runId = await echo(t, app);
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const owner = await app.ferry.store.get(runId, TASK_KEY);
  t.not(Number(owner?.split(':')[2]), ready, 'a supervisor of its own drove it');
});

t.test('a supervisor is not a process of its run, whichever way it started', async (t) => {
  // The run's processes are what a cancel kills and must be gone when the run
  // ends; the supervisor writes that end and only then exits.
  const app = await buildTestApp(t);
  const workDir = app.ferry.config.workDir;
  for (const way of ['standby', 'own']) {
    const [ready] = await until(() => standbys(workDir), (p) => p.length === 1);
    if (way === 'own') {
      process.kill(ready!, 'SIGKILL');
      await until(() => standbys(workDir), (p) => p.length === 0);
    }
    const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'sleep.cwl', workflow_params: '{"seconds":60}' }, [
      { filename: 'sleep.cwl', content: await fs.readFile(path.join(workflowsDir, 'sleep', 'sleep.cwl')) },
    ]);
    const runId = (res.json() as { run_id: string }).run_id;
    const runDir = path.join(workDir, runId);
    const owner = await until(() => app.ferry.store.get(runId, TASK_KEY), (o) => o !== null);
    const supervisor = Number(owner?.split(':')[2]);
    t.ok(supervisor > 0, `${way}: the run has a supervisor`);
    // The engine has started once the run has a process that is not its supervisor.
    const pids = await until(() => findRunProcesses(runId, runDir), (p) => p.some((pid) => pid !== supervisor));
    t.ok(pids.length > 0, `${way}: the engine is among the run's processes`);
    t.equal(way === 'standby', supervisor === ready, `${way}: the expected supervisor drove it`);
    t.notOk(pids.includes(supervisor), `${way}: the supervisor is not one of them`);
    await app.inject({ method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` });
    t.equal(await waitForState(t, app, runId), 'CANCELED');
    t.same(await findRunProcesses(runId, runDir), [], `${way}: nothing of the run is left when it is CANCELED`);
  }
});
