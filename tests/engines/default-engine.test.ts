import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { makeConfig } from '../../src/config/config.js';
import { buildTestApp, call, submit, tempDir, waitForState, workflowsDir } from '../helper.js';

t.test('--default-engine CWL=toil: a CWL run that names no engine runs on Toil', async (t) => {
  const app = await buildTestApp(t, { defaultEngines: { CWL: 'toil' } });
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"on toil"}' }, [
    { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
  ]);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { cmd: string[] } };
  t.equal(path.basename(log.run_log.cmd[0]!), 'toil-cwl-runner');
});

t.test('an engine the server lacks stops the start, saying which it has', async (t) => {
  const workDir = await tempDir(t);
  await t.rejects(buildApp(makeConfig({ workDir, logLevel: 'silent', defaultEngines: { CWL: 'nextflow' } })), { name: 'ConfigError', message: /CWL runs on 'cwltool', 'toil'/ });
  await t.rejects(buildApp(makeConfig({ workDir, logLevel: 'silent', defaultEngines: { NFL: 'nextflow' } })), { name: 'ConfigError', message: /runs no NFL workflows/ });
});
