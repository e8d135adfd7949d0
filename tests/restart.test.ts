import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import t from 'tap';
import { findRunProcesses } from '../src/tasks/workflow-task.js';
import { buildTestApp, call, multipart, tempDir, waitForState, workflowsDir } from './helper.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Starts a real server process on a free port; resolves to its base URL. */
async function startServer(workDir: string): Promise<{ url: string; kill: (sig: NodeJS.Signals) => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'serve', '--port', '0', '--work-dir', workDir], {
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
      const exit = once(child, 'exit');
      child.kill(sig);
      const [code] = (await exit) as [number | null];
      return code;
    },
  };
}

/** Submits a long sleep to a real server and waits until its engine runs. */
async function startSleepRun(serverUrl: string): Promise<string> {
  const sleep = await fs.readFile(path.join(workflowsDir, 'sleep', 'sleep.cwl'));
  const { payload, headers } = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'sleep.cwl', workflow_params: '{"seconds": 120}' },
    [{ filename: 'sleep.cwl', content: sleep }],
  );
  const res = await fetch(`${serverUrl}/ga4gh/wes/v1/runs`, { method: 'POST', body: payload, headers });
  if (res.status !== 200) throw new Error(`submission refused: ${await res.text()}`);
  const { run_id: runId } = (await res.json()) as { run_id: string };
  for (let i = 0; i < 300; i++) {
    const s = (await (await fetch(`${serverUrl}/ga4gh/wes/v1/runs/${runId}/status`)).json()) as { state: string };
    if (s.state === 'RUNNING') return runId;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} never started`);
}

t.test('a run whose server was killed reads SYSTEM_ERROR and leaves no process', async (t) => {
  const workDir = await tempDir(t);
  const server = await startServer(workDir);
  const runId = await startSleepRun(server.url);
  const runDir = path.join(workDir, runId);
  for (let i = 0; i < 300 && (await findRunProcesses(runId, runDir)).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  await server.kill('SIGKILL');
  t.ok((await findRunProcesses(runId, runDir)).length > 0, 'the engine outlived the killed server');

  // A new server on the same folder does not let the run claim to be running.
  const app = await buildTestApp(t, { workDir });
  t.equal(await waitForState(t, app, runId), 'SYSTEM_ERROR');
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { system_logs: string[] } };
  t.match(log.run_log.system_logs.join('\n'), /server that ran it stopped/);
  t.same(await findRunProcesses(runId, runDir), [], 'its processes were stopped');
  const list = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: { run_id: string }[] };
  t.same(list.runs.map((r) => r.run_id), [runId], 'the run is still listed');
});

t.test('SIGTERM stops the server gracefully; its runs end SYSTEM_ERROR, not lying', async (t) => {
  const workDir = await tempDir(t);
  const server = await startServer(workDir);
  const runId = await startSleepRun(server.url);
  t.equal(await server.kill('SIGTERM'), 0, 'exits 0');
  t.same(await findRunProcesses(runId, path.join(workDir, runId)), [], 'no process of the run left');
  const app = await buildTestApp(t, { workDir });
  t.equal(await waitForState(t, app, runId), 'SYSTEM_ERROR');
});
