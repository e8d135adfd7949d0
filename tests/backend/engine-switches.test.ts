import path from 'node:path';
import t from 'tap';
import { attachFolder, buildTestApp, call, submit, waitForState, workflowsDir } from '../helper.js';

/**
 * A switch in `workflow_engine_parameters` sent as WES clients send one, with
 * an empty string (the spec's values are strings), reaches the engine bare:
 * `--parallel`, not `--parallel=` (which cwltool refuses).
 */

t.test('an empty value is a bare switch', async (t) => {
  const app = await buildTestApp(t);
  const res = await submit(
    t,
    app,
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message": "switch"}', workflow_engine_parameters: '{"--parallel": ""}' },
    await attachFolder(path.join(workflowsDir, 'echo')),
  );
  t.equal(res.statusCode, 200, res.body);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { cmd: string[] }; request: { workflow_engine_parameters: Record<string, string> } };
  t.ok(log.run_log.cmd.includes('--parallel'), 'passed bare');
  t.notOk(log.run_log.cmd.some((w) => w.startsWith('--parallel=')), 'not with an empty value');
  t.same(log.request.workflow_engine_parameters, { '--parallel': '' }, 'the request reads back as sent');
  const refused = await submit(
    t,
    app,
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message": "x"}', workflow_engine_parameters: '{"--on-error": ""}' },
    await attachFolder(path.join(workflowsDir, 'echo')),
  );
  t.equal(refused.statusCode, 400, 'an option that needs a value still needs one');
  t.match(refused.json(), { msg: /'--on-error' needs a value/ });
});
