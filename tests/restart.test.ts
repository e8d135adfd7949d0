import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TASK_KEY } from '../src/tasks/supervisor.js';
import { findRunProcesses } from '../src/tasks/run-processes.js';
import { RESERVE_FILE } from '../src/tasks/workflow-task.js';
import { buildTestApp, call, killAllRuns, multipart, tempDir, waitForEngine, waitForState, workflowsDir, outputPath } from './helper.js';

// Runs are driven by detached supervisors: they outlive the server that
// started them, and a new server on the same folder picks them up.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Server {
  url: string;
  kill(sig: NodeJS.Signals): Promise<number | null>;
}

/** Starts a real server process on a free port. */
async function startServer(workDir: string, extra: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'serve', '--port', '0', '--work-dir', workDir, ...extra], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return {
    url,
    kill: async (sig) => {
      if (child.exitCode !== null) return child.exitCode;
      const exit = once(child, 'exit');
      child.kill(sig);
      const [code] = (await exit) as [number | null];
      return code;
    },
  };
}

async function post(serverUrl: string, tool: 'sleep' | 'slow-echo', params: Record<string, unknown>): Promise<string> {
  const content = await fs.readFile(path.join(workflowsDir, tool, `${tool}.cwl`));
  const { payload, headers } = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: `${tool}.cwl`, workflow_params: JSON.stringify(params) },
    [{ filename: `${tool}.cwl`, content }],
  );
  const res = await fetch(`${serverUrl}/ga4gh/wes/v1/runs`, { method: 'POST', body: payload, headers });
  if (res.status !== 200) throw new Error(`submission refused: ${await res.text()}`);
  return ((await res.json()) as { run_id: string }).run_id;
}

async function stateOf(serverUrl: string, runId: string): Promise<string> {
  return ((await (await fetch(`${serverUrl}/ga4gh/wes/v1/runs/${runId}/status`)).json()) as { state: string }).state;
}

/** Waits until the run's engine has a process (RUNNING is set just before the spawn). */
async function noProcessesLeft(workDir: string, runId: string): Promise<number[]> {
  let left = await findRunProcesses(runId, path.join(workDir, runId));
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await findRunProcesses(runId, path.join(workDir, runId));
  }
  return left;
}

t.test('SIGKILL of the server during 5 running runs: after a restart all 5 COMPLETE with their outputs', async (t) => {
  const workDir = await tempDir(t);
  t.teardown(() => killAllRuns(workDir));
  const server = await startServer(workDir, ['--max-concurrent-runs', '5']);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await post(server.url, 'slow-echo', { seconds: 6, message: `run ${i}` }));
  for (const id of ids) await waitForEngine(workDir, id);
  t.equal(await server.kill('SIGKILL'), null, 'the server was killed');

  const app = await buildTestApp(t, { workDir, maxConcurrentRuns: 5 });
  for (const [i, id] of ids.entries()) {
    t.equal(await waitForState(t, app, id), 'COMPLETE', `run ${i} completed`);
    const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${id}` })).json() as { outputs: { output: { location: string } } };
    t.equal(await fs.readFile(outputPath(app, log.outputs.output.location), 'utf8'), `run ${i}\n`);
  }
});

t.test('cancel works on a run started by a server that was killed', async (t) => {
  const workDir = await tempDir(t);
  t.teardown(() => killAllRuns(workDir));
  const server = await startServer(workDir);
  const runId = await post(server.url, 'sleep', { seconds: 300 });
  await waitForEngine(workDir, runId);
  await server.kill('SIGKILL');

  const app = await buildTestApp(t, { workDir });
  t.equal(await waitForState(t, app, runId, ['RUNNING']), 'RUNNING', 'still running under the new server');
  t.equal((await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` })).statusCode, 200);
  t.equal(await waitForState(t, app, runId, ['CANCELED', 'SYSTEM_ERROR', 'COMPLETE', 'EXECUTOR_ERROR'], 30_000), 'CANCELED');
  t.same(await noProcessesLeft(workDir, runId), [], 'no process of the run is left');
});

t.test('SIGKILL of a supervisor: the run ends SYSTEM_ERROR, says why, and leaves no process', async (t) => {
  const app = await buildTestApp(t);
  const workDir = app.ferry.config.workDir;
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const runId = await post(address, 'sleep', { seconds: 300 });
  await waitForEngine(workDir, runId);
  const owner = await app.ferry.store.get(runId, TASK_KEY);
  t.ok(owner, 'the run names its supervisor');
  process.kill(Number(owner!.split(':')[2]), 'SIGKILL');
  t.equal(await waitForState(t, app, runId, ['SYSTEM_ERROR', 'CANCELED', 'COMPLETE', 'EXECUTOR_ERROR'], 15_000), 'SYSTEM_ERROR');
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { system_logs: string[] } };
  t.match(log.run_log.system_logs.join('\n'), /supervisor stopped/);
  t.same(await noProcessesLeft(workDir, runId), [], 'the engine and its tools were killed');
  const left = await fs.readdir(path.join(workDir, runId));
  t.notOk(left.includes(RESERVE_FILE), 'the reserve is given back');
  t.notOk(left.includes('tmp'), 'so is the scratch space');
  const stored = await fs.readdir(path.join(app.ferry.config.stateStore, runId));
  t.notOk(stored.includes(RESERVE_FILE), 'and the reserve in the state store');
});

t.test('runs still QUEUED when the server died are started by the next server', async (t) => {
  const workDir = await tempDir(t);
  t.teardown(() => killAllRuns(workDir));
  const server = await startServer(workDir, ['--max-concurrent-runs', '1']);
  const blocker = await post(server.url, 'sleep', { seconds: 300 });
  const waiting = await post(server.url, 'slow-echo', { seconds: 0, message: 'queued' });
  await waitForEngine(workDir, blocker);
  t.equal(await stateOf(server.url, waiting), 'QUEUED');
  await server.kill('SIGKILL');

  const app = await buildTestApp(t, { workDir, maxConcurrentRuns: 1 });
  t.equal(await waitForState(t, app, waiting, ['QUEUED']), 'QUEUED', 'waits for the slot the adopted run holds');
  await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${blocker}/cancel` });
  t.equal(await waitForState(t, app, blocker), 'CANCELED');
  t.equal(await waitForState(t, app, waiting), 'COMPLETE', 'the queued run ran once the slot was free');
});

t.test('SIGTERM stops the server gracefully (exit 0) and its runs go on', async (t) => {
  const workDir = await tempDir(t);
  t.teardown(() => killAllRuns(workDir));
  const server = await startServer(workDir);
  const runId = await post(server.url, 'slow-echo', { seconds: 3, message: 'after the server' });
  await waitForEngine(workDir, runId);
  t.equal(await server.kill('SIGTERM'), 0, 'exits 0');
  const app = await buildTestApp(t, { workDir });
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
});
