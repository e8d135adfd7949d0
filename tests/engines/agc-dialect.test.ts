import path from 'node:path';
import t from 'tap';
import { attachFolder, buildTestApp, call, submit, waitForState, workflowsDir } from '../helper.js';

// Toil's `agc` dialect: tasks are named "<name>|<external batch id>", and
// tasks without a batch id are left out.
t.test('--wes-dialect agc', async (t) => {
  const app = await buildTestApp(t, { wesDialect: 'agc' });
  const info = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { tags: Record<string, string> };
  t.equal(info.tags.wes_dialect, 'agc');

  const files = await attachFolder(path.join(workflowsDir, 'two-step'));
  const res = await submit(t, app, {
    workflow_type: 'CWL',
    workflow_type_version: 'v1.2',
    workflow_url: 'main.cwl',
    workflow_engine: 'toil',
    workflow_params: JSON.stringify({ words: { class: 'File', location: 'data/words.txt' } }),
  }, files);
  t.equal(res.statusCode, 200, res.body);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const tasks = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks` })).json() as { task_logs: { name: string }[] };
  t.ok(tasks.task_logs.length > 0, 'jobs with a batch id are listed');
  for (const task of tasks.task_logs) t.match(task.name, /^[^|]+\|\S+$/, `${task.name} holds its batch id`);
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { task_logs: { name: string }[] };
  t.same(log.task_logs.map((x) => x.name), tasks.task_logs.map((x) => x.name), 'the run log lists the same tasks');

  // cwltool reports no batch ids: under agc it lists no tasks.
  const echo = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"x"}' },
    (await attachFolder(path.join(workflowsDir, 'echo'))).filter((f) => f.filename === 'echo.cwl'));
  const echoId = (echo.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, echoId), 'COMPLETE');
  const none = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${echoId}/tasks` })).json() as { task_logs: unknown[] };
  t.same(none.task_logs, []);
});
