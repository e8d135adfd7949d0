import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { findRunProcesses } from '../../src/tasks/run-processes.js';
import { attachFolder, buildTestApp, call, submit, waitForState, workflowsDir, outputPath } from '../helper.js';

// Real engines on small workflows: cwltool (the default) and Toil's CWL runner.
const engines = ['cwltool', 'toil'] as const;

interface RunLogBody {
  state: string;
  outputs: Record<string, { location: string; size: number; checksum?: string; basename: string }>;
  run_log: { exit_code?: number; cmd?: string[]; stdout: string; stderr: string; system_logs?: string[] };
  task_logs: { id: string; name: string; exit_code?: number }[];
  task_logs_url: string;
}

const sha1 = async (file: string): Promise<string> => createHash('sha1').update(await fs.readFile(file)).digest('hex');

t.test('CWL runs on real engines', async (t) => {
  const app = await buildTestApp(t, { maxConcurrentRuns: 4 });
  const echoFiles = await attachFolder(path.join(workflowsDir, 'echo'));

  t.test('v1.1 echo tool on cwltool reaches COMPLETE', async (t) => {
    const files = await attachFolder(path.join(workflowsDir, 'echo-v1.1'));
    const res = await submit(t, app, {
      workflow_type: 'CWL',
      workflow_type_version: 'v1.1',
      workflow_url: 'echo.cwl',
      workflow_params: JSON.stringify({ message: 'v1.1' }),
    }, files.filter((f) => f.filename === 'echo.cwl'));
    t.equal(res.statusCode, 200, res.body);
    const runId = (res.json() as { run_id: string }).run_id;
    t.equal(await waitForState(t, app, runId), 'COMPLETE');
  });

  for (const engine of engines) {
    t.test(`v1.0 echo tool on ${engine} reaches COMPLETE with output.txt`, async (t) => {
      const res = await submit(t, app, {
        workflow_type: 'CWL',
        workflow_type_version: 'v1.0',
        workflow_url: 'echo.cwl',
        workflow_engine: engine,
        workflow_params: JSON.stringify({ message: 'hello ferry' }),
        tags: JSON.stringify({ engine }),
      }, echoFiles.filter((f) => f.filename === 'echo.cwl'));
      t.equal(res.statusCode, 200, res.body);
      const runId = (res.json() as { run_id: string }).run_id;
      t.match(runId, /^run-[0-9a-f]{32}$/);
      t.equal(await waitForState(t, app, runId), 'COMPLETE');

      const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
      t.equal(log.state, 'COMPLETE');
      t.equal(log.run_log.exit_code, 0);
      t.ok(log.run_log.cmd?.[0]?.includes(engine === 'toil' ? 'toil-cwl-runner' : 'cwltool'), 'the engine asked for ran');
      const out = log.outputs.output!;
      t.equal(out.basename, 'output.txt');
      const file = outputPath(app, out.location);
      t.ok(file.startsWith(path.join(app.ferry.config.workDir, runId, 'outputs')), 'output lives in the run\'s outputs folder');
      const expected = 'hello ferry\n';
      t.equal(await fs.readFile(file, 'utf8'), expected);
      t.equal(out.size, Buffer.byteLength(expected));
      t.equal(await sha1(file), createHash('sha1').update(expected).digest('hex'));
      if (out.checksum) t.equal(out.checksum, `sha1$${await sha1(file)}`);

      // Task logs: non-empty, paged, each fetchable by id.
      t.ok(log.task_logs.length > 0, 'run log has task logs');
      const tasks = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks?page_size=1` })).json() as {
        task_logs: { id: string; name: string }[];
        next_page_token: string;
      };
      t.equal(tasks.task_logs.length, 1);
      const one = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks/${encodeURIComponent(tasks.task_logs[0]!.id)}` });
      t.equal(one.statusCode, 200);
      t.equal((one.json() as { name: string }).name, tasks.task_logs[0]!.name);

      // The log routes the run log points at serve the engine's output.
      const stdoutUrl = new URL(log.run_log.stdout, `http://x/ga4gh/wes/v1/runs/${runId}`).pathname;
      const stdout = await call(t, app, { method: 'GET', url: stdoutUrl });
      t.equal(stdout.statusCode, 200);
      t.match(stdout.headers['content-type'], /^text\/plain/);
      t.match(stdout.body, /output\.txt/);

      // Cancelling a finished run changes nothing.
      const cancel = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` });
      t.equal(cancel.statusCode, 200);
      t.equal(await waitForState(t, app, runId), 'COMPLETE');
    });

    t.test(`v1.2 two-step workflow with tools in a sub-folder on ${engine}`, async (t) => {
      const files = await attachFolder(path.join(workflowsDir, 'two-step'));
      const params = await fs.readFile(path.join(workflowsDir, 'two-step', 'inputs.json'), 'utf8');
      const res = await submit(t, app, {
        workflow_type: 'cwl',
        workflow_type_version: 'v1.2',
        workflow_url: 'main.cwl',
        workflow_engine: engine,
        workflow_params: params,
      }, files);
      t.equal(res.statusCode, 200, res.body);
      const runId = (res.json() as { run_id: string }).run_id;
      t.equal(await waitForState(t, app, runId), 'COMPLETE');
      const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
      t.equal(await fs.readFile(outputPath(app, log.outputs.upper_file!.location), 'utf8'), 'ALPHA\nBRAVO\nCHARLIE\nDELTA\n');
      t.equal((await fs.readFile(outputPath(app, log.outputs.count_file!.location), 'utf8')).trim(), '4');
      t.ok(log.task_logs.length >= 1, 'tasks listed');
    });

    t.test(`a failing tool on ${engine} ends EXECUTOR_ERROR with its exit code`, async (t) => {
      const files = await attachFolder(path.join(workflowsDir, 'fail'));
      const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'fail.cwl', workflow_engine: engine }, files);
      t.equal(res.statusCode, 200, res.body);
      const runId = (res.json() as { run_id: string }).run_id;
      t.equal(await waitForState(t, app, runId), 'EXECUTOR_ERROR');
      const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
      t.not(log.run_log.exit_code, 0);
      t.ok(typeof log.run_log.exit_code === 'number');
      t.same(log.outputs, {}, 'no outputs for a failed run');
      if (engine === 'cwltool') {
        t.ok(log.task_logs.some((task) => task.exit_code === 3), 'the tool\'s own exit code is in its task log');
      } else {
        t.ok(log.task_logs.some((task) => task.exit_code !== undefined && task.exit_code !== 0), 'the failed job is in the task logs');
      }
      const forbidden = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` });
      t.equal(forbidden.statusCode, 403);
      t.equal((forbidden.json() as { msg: string }).msg, "Workflow is in state: 'EXECUTOR_ERROR', which cannot be cancelled.");
    });

    t.test(`cancelling a long sleep on ${engine} ends CANCELED with no process left`, async (t) => {
      const files = await attachFolder(path.join(workflowsDir, 'sleep'));
      const res = await submit(t, app, {
        workflow_type: 'CWL',
        workflow_type_version: 'v1.0',
        workflow_url: 'sleep.cwl',
        workflow_engine: engine,
        workflow_params: '{"seconds": 300}',
      }, files);
      t.equal(res.statusCode, 200, res.body);
      const runId = (res.json() as { run_id: string }).run_id;
      const runDir = path.join(app.ferry.config.workDir, runId);
      t.equal(await waitForState(t, app, runId, ['RUNNING']), 'RUNNING');
      // Wait until the sleep itself is running, so the cancel has a tool to stop.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const pids = await findRunProcesses(runId, runDir);
        const cmds = await Promise.all(pids.map((p) => fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
        if (cmds.some((c) => c.startsWith('sleep\0'))) break;
        if (Date.now() + 1000 > deadline) t.fail('the sleep tool never started');
        await new Promise((r) => setTimeout(r, 200));
      }
      const started = Date.now();
      const cancel = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` });
      t.equal(cancel.statusCode, 200);
      t.same(cancel.json(), { run_id: runId });
      const status = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` })).json() as { state: string };
      t.ok(['CANCELING', 'CANCELED'].includes(status.state), `state right after cancel: ${status.state}`);
      t.equal(await waitForState(t, app, runId, ['CANCELED', 'COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR'], 30_000), 'CANCELED');
      t.ok(Date.now() - started < 15_000, `canceled in ${Date.now() - started} ms`);
      // The engine and its tools are gone; the run's supervisor exits right after writing CANCELED.
      let left = await findRunProcesses(runId, runDir);
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await findRunProcesses(runId, runDir);
      }
      t.same(left, [], 'no process of the run is left');
      // Cancel again: still CANCELED, still 200.
      t.equal((await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` })).statusCode, 200);
      t.equal(await waitForState(t, app, runId), 'CANCELED');
    });
  }
});
