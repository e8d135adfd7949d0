import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { DEFAULT_PROBE_WAIT_MS } from '../../../src/backend/service-info.js';
import { buildTestApp, submit, workflowsDir } from '../../helper.js';

// Toil's Python is found by a probe in the background (tap runs each file in
// a process of its own: here it has not run yet when the app is built).

t.test("a PY submission made before Toil's Python is found waits for the probe, not refused for it", async (t) => {
  const app = await buildTestApp(t, {}, { probeWaitMs: DEFAULT_PROBE_WAIT_MS });
  const res = await submit(t, app, { workflow_type: 'PY', workflow_type_version: '0.0', workflow_url: 'workflow.py' }, [
    { filename: 'workflow.py', content: await fs.readFile(path.join(workflowsDir, 'py-children', 'workflow.py')) },
  ]);
  t.equal(res.statusCode, 400);
  t.match((res.json() as { msg: string }).msg, /^workflow_type 'py' requires 'workflow_type_version' to be one of '\['3\.\d+'\]'/, 'the versions the probe found');
});
