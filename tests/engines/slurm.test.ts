import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import type { Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { makeConfig, type FerryConfig } from '../../src/config/config.js';
import { TASK_KEY } from '../../src/tasks/supervisor.js';
import { attachFolder, buildTestApp, call, killAllRuns, outputPath, submit, tempDir, waitForState, workflowsDir, type FilePart } from '../helper.js';

/**
 * Runs on a real Slurm cluster: a one-node cluster from Debian's slurm-wlm
 * (scripts/slurm-cluster.sh), started here when it is not already up and
 * stopped afterwards. Each run's engine is a Slurm job; Toil's own jobs are
 * Slurm jobs too. States come from the scheduler, cancel goes through it,
 * and a supervisor that dies hands its job to a new one.
 */

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const clusterScript = path.join(repoRoot, 'scripts', 'slurm-cluster.sh');
const ALL_DONE = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED', 'PREEMPTED'];

const root = process.getuid?.() === 0;
const canSudo = root || spawnSync('sudo', ['-n', 'true']).status === 0;
if (!canSudo) {
  t.plan(0, 'a Slurm cluster needs root (or sudo without a password) to start its daemons');
} else {
  t.before(startCluster);
}

/** The cluster, held for this test process: started if it was down, stopped when its last holder leaves. */
async function startCluster(): Promise<void> {
  const res = spawnSync('bash', [clusterScript, 'start', '--holder', String(process.pid)], { encoding: 'utf8', timeout: 900_000 });
  if (res.status !== 0) throw new Error(`the Slurm cluster did not start: ${res.stderr}`);
  t.teardown(() => {
    spawnSync('bash', [clusterScript, 'release', String(process.pid)], { stdio: 'ignore', timeout: 120_000 });
  });
  const env = spawnSync('bash', [clusterScript, 'env'], { encoding: 'utf8' }).stdout;
  const conf = /SLURM_CONF=(\S+)/.exec(env)?.[1];
  if (!conf) throw new Error(`no SLURM_CONF from the cluster script: ${env}`);
  // The server and its supervisors find the cluster through it, as an operator's would.
  process.env.SLURM_CONF = conf;
}

interface Job {
  id: string;
  state: string;
  name: string;
  comment: string;
}

/** Every job the controller knows, finished ones included. */
async function squeue(): Promise<Job[]> {
  const { stdout } = await execFileP('squeue', ['--noheader', '--states=all', '--format=%i|%T|%j|%k']);
  return stdout.split('\n').filter(Boolean).map((line) => {
    const [id, state, name, comment] = line.split('|').map((f) => f.trim());
    return { id: id!, state: state!, name: name!, comment: comment! };
  });
}
const ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED']);
/** The run's jobs still in the queue (its own and its engine's). */
const activeJobsOf = async (runId: string): Promise<Job[]> =>
  (await squeue()).filter((j) => ACTIVE.has(j.state) && (j.name === `ferry-${runId}` || j.comment === `ferry-${runId}`));

/**
 * Toil's own Slurm jobs run outside the run's sandbox, as the user the run
 * is (nobody, for a root server): the work folder must be passable for it,
 * as the README says; tempDir makes it so.
 */
const slurmConfig = (over: Partial<FerryConfig> = {}): Partial<FerryConfig> => ({
  executor: 'slurm',
  slurm: { options: [], partitions: [], pollMs: 500 },
  maxConcurrentRuns: 100,
  ...over,
});

const file = async (dir: string, name: string, as = name): Promise<FilePart> => ({ filename: as, content: await fs.readFile(path.join(workflowsDir, dir, name)) });

async function submitCwl(t: Test, app: FastifyInstance, dir: string, name: string, params: unknown, extra: Record<string, string> = {}, attach: FilePart[] = []): Promise<string> {
  const res = await submit(t, app, {
    workflow_type: 'CWL', workflow_type_version: name === 'main.cwl' ? 'v1.2' : 'v1.0', workflow_url: name,
    workflow_params: JSON.stringify(params), ...extra,
  }, [await file(dir, name), ...attach]);
  t.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

async function runLog(t: Test, app: FastifyInstance, runId: string): Promise<{ state: string; run_log: { system_logs?: string[]; exit_code?: number }; outputs: Record<string, { location: string }> }> {
  return (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json();
}

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> => {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
};

t.test('runs as Slurm jobs', async (t) => {
  const app = await buildTestApp(t, slurmConfig({ workDir: await tempDir(t, 'ferry-slurm-') }));
  // Over its one-minute limit: submitted first, its outcome checked last, so the wait overlaps the other runs.
  const overTime = await submitCwl(t, app, 'sleep', 'sleep.cwl', { seconds: 240 }, { workflow_engine_parameters: JSON.stringify({ '--time': '1' }) });

  t.test('service-info says where runs go', async (t) => {
    const si = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { tags: Record<string, string> };
    t.equal(si.tags.executor, 'slurm');
  });

  t.test('scheduler options: checked, and refused with 400 when not allowed', async (t) => {
    for (const [params, why] of [
      [{ '--partition': 'nope' }, /must be one of debug, short/],
      [{ '--time': 'forever' }, /time limit/],
      [{ '--mem': '-1' }, /memory size/],
      [{ '--cpus-per-task': '0' }, /whole number/],
      [{ '--nodelist': 'vm' }, /not an option cwltool accepts/],
    ] as const) {
      const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"x"}', workflow_engine_parameters: JSON.stringify(params) }, [await file('echo', 'echo.cwl')]);
      t.equal(res.statusCode, 400, JSON.stringify(params));
      t.match((res.json() as { msg: string }).msg, why);
    }
  });

  t.test('cwltool: the run is one Slurm job, named for it, with its partition and time; COMPLETE with its outputs', async (t) => {
    const runId = await submitCwl(t, app, 'echo', 'echo.cwl', { message: 'hello slurm' }, { workflow_engine: 'cwltool', workflow_engine_parameters: JSON.stringify({ '--partition': 'short', '--time': '5' }) });
    t.equal(await waitForState(t, app, runId, ALL_DONE, 180_000), 'COMPLETE');
    const log = await runLog(t, app, runId);
    const jobId = /as job (\d+)/.exec((log.run_log.system_logs ?? []).join('\n'))?.[1];
    t.ok(jobId, 'the system logs name the job');
    t.equal((log as unknown as { request: { tags: Record<string, string> } }).request.tags.slurm_job_id, jobId, 'and the run log\'s tags');
    const { stdout } = await execFileP('scontrol', ['show', 'job', '-o', jobId!]);
    t.match(stdout, `JobName=ferry-${runId}`);
    t.match(stdout, 'Partition=short');
    t.match(stdout, 'TimeLimit=00:05:00');
    t.match(stdout, `WorkDir=${path.join(app.ferry.config.workDir, runId, 'execution')}`);
    t.equal((await fs.readFile(outputPath(app, log.outputs.output!.location), 'utf8')).trim(), 'hello slurm');
    t.equal(log.run_log.exit_code, 0);
  });

  t.test('Toil: its own jobs are Slurm jobs of the run while it runs; COMPLETE with its outputs', async (t) => {
    const res = await submit(t, app, {
      workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'main.cwl', workflow_engine: 'toil',
      workflow_params: await fs.readFile(path.join(workflowsDir, 'two-step', 'inputs.json'), 'utf8'),
    }, await attachFolder(path.join(workflowsDir, 'two-step')));
    t.equal(res.statusCode, 200, res.body);
    const runId = (res.json() as { run_id: string }).run_id;
    const toilJobs = new Set<string>();
    await waitFor('the run to end', async () => {
      for (const j of await squeue()) if (j.comment === `ferry-${runId}` && j.name.startsWith('toil_job_')) toilJobs.add(j.id);
      const state = ((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` })).json() as { state: string }).state;
      return ALL_DONE.includes(state);
    }, 300_000);
    const log = await runLog(t, app, runId);
    t.equal(log.state, 'COMPLETE', JSON.stringify(log.run_log.system_logs));
    t.ok(toilJobs.size >= 2, `Toil's jobs went to Slurm (${toilJobs.size} seen)`);
    t.equal((await fs.readFile(outputPath(app, log.outputs.count_file!.location), 'utf8')).trim(), '4');
    const tasks = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks` })).json() as { task_logs: { system_logs?: string[] }[] };
    const named = tasks.task_logs.flatMap((task) => task.system_logs ?? []).join('\n');
    t.ok([...toilJobs].some((id) => named.includes(`Slurm job ${id}`)), 'task logs carry their Slurm job ids');
    t.same(await activeJobsOf(runId), [], 'nothing of the run is left in the queue');
  });

  t.test('a job Slurm would never start (more CPUs than the partition has): EXECUTOR_ERROR, not QUEUED for ever', async (t) => {
    const runId = await submitCwl(t, app, 'echo', 'echo.cwl', { message: 'x' }, { workflow_engine_parameters: JSON.stringify({ '--cpus-per-task': '64' }) });
    t.equal(await waitForState(t, app, runId, ALL_DONE, 120_000), 'EXECUTOR_ERROR');
    t.match((await runLog(t, app, runId)).run_log.system_logs?.join('\n'), /would never start/);
    t.same(await activeJobsOf(runId), []);
  });

  t.test('a failing tool: EXECUTOR_ERROR', async (t) => {
    const runId = await submitCwl(t, app, 'fail', 'fail.cwl', JSON.parse(await fs.readFile(path.join(workflowsDir, 'fail', 'inputs.json'), 'utf8')));
    t.equal(await waitForState(t, app, runId, ALL_DONE, 180_000), 'EXECUTOR_ERROR');
    t.match((await runLog(t, app, runId)).run_log.system_logs?.join('\n'), /exited with code [1-9]/);
  });

  t.test('cancel: CANCELED, and no job of the run left in the queue', async (t) => {
    const runId = await submitCwl(t, app, 'sleep', 'sleep.cwl', { seconds: 300 });
    t.equal(await waitForState(t, app, runId, ['RUNNING', ...ALL_DONE], 180_000), 'RUNNING');
    const res = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` });
    t.equal(res.statusCode, 200);
    t.equal(await waitForState(t, app, runId, ALL_DONE, 120_000), 'CANCELED');
    t.same(await activeJobsOf(runId), [], 'the queue holds nothing of the run');
  });

  t.test('scancel behind Ferry\'s back: SYSTEM_ERROR saying so', async (t) => {
    const runId = await submitCwl(t, app, 'sleep', 'sleep.cwl', { seconds: 300 });
    t.equal(await waitForState(t, app, runId, ['RUNNING', ...ALL_DONE], 180_000), 'RUNNING');
    const [job] = await activeJobsOf(runId);
    await execFileP('scancel', [job!.id]);
    t.equal(await waitForState(t, app, runId, ALL_DONE, 120_000), 'SYSTEM_ERROR');
    t.match((await runLog(t, app, runId)).run_log.system_logs?.join('\n'), `job ${job!.id} was cancelled outside Ferry`);
  });

  t.test('a supervisor killed mid-run: a new one takes over the job, and the run completes', async (t) => {
    const runId = await submitCwl(t, app, 'sleep', 'sleep.cwl', { seconds: 8 });
    t.equal(await waitForState(t, app, runId, ['RUNNING', ...ALL_DONE], 180_000), 'RUNNING');
    const owner = await app.ferry.store.get(runId, TASK_KEY);
    process.kill(Number(owner!.split(':')[2]), 'SIGKILL');
    t.equal(await waitForState(t, app, runId, ALL_DONE, 180_000), 'COMPLETE');
    t.match((await runLog(t, app, runId)).run_log.system_logs?.join('\n'), /watches the run's Slurm job \d+ again/);
  });

  t.test('the job over its --time: EXECUTOR_ERROR saying time limit', async (t) => {
    t.equal(await waitForState(t, app, overTime, ALL_DONE, 300_000), 'EXECUTOR_ERROR');
    t.match((await runLog(t, app, overTime)).run_log.system_logs?.join('\n'), /reached its time limit/);
    t.same(await activeJobsOf(overTime), []);
  });
});

t.test('server and supervisor killed mid-run, then a new server: the run completes', async (t) => {
  const workDir = await tempDir(t, 'ferry-slurm-restart-');
  const config = makeConfig({ logLevel: 'silent', cancelGraceMs: 3000, ...slurmConfig(), workDir });
  t.teardown(() => killAllRuns(workDir));
  const first = await buildApp(config);
  const runId = await submitCwl(t, first, 'sleep', 'sleep.cwl', { seconds: 10 });
  t.equal(await waitForState(t, first, runId, ['RUNNING', ...ALL_DONE], 180_000), 'RUNNING');
  const owner = await first.ferry.store.get(runId, TASK_KEY);
  await first.close();
  process.kill(Number(owner!.split(':')[2]), 'SIGKILL');
  const second = await buildTestApp(t, slurmConfig({ workDir }));
  t.equal(await waitForState(t, second, runId, ALL_DONE, 180_000), 'COMPLETE');
  const log = await runLog(t, second, runId);
  t.equal(log.state, 'COMPLETE', JSON.stringify(log.run_log.system_logs) + await fs.readFile(path.join(workDir, runId, 'supervisor.log'), 'utf8'));
});

t.test('20 runs at once on a small cluster: all complete, never more running than Slurm allows', async (t) => {
  const app = await buildTestApp(t, slurmConfig({ workDir: await tempDir(t, 'ferry-slurm-') }));
  const runIds = await Promise.all(Array.from({ length: 20 }, (_, i) => submitCwl(t, app, 'echo', 'echo.cwl', { message: `run ${i}` })));
  const mine = new Set(runIds.map((id) => `ferry-${id}`));
  let most = 0;
  await waitFor('all 20 runs to end', async () => {
    most = Math.max(most, (await squeue()).filter((j) => mine.has(j.name) && j.state === 'RUNNING').length);
    const states = await Promise.all(runIds.map(async (id) => ((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${id}/status` })).json() as { state: string }).state));
    return states.every((s) => ALL_DONE.includes(s));
  }, 600_000);
  for (const id of runIds) {
    const log = await runLog(t, app, id);
    t.equal(log.state, 'COMPLETE', `${id}: ${JSON.stringify(log.run_log.system_logs)}`);
  }
  const { stdout } = await execFileP('sinfo', ['--noheader', '--format=%c']);
  const cpus = Number(stdout.trim().split('\n')[0]);
  t.ok(most >= 1 && most <= cpus, `at most ${cpus} jobs (one CPU each) ran at once: ${most} seen`);
});
