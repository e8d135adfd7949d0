import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { authorization, ferryClient, FINAL_STATES } from '../../src/client/client.js';
import { buildTestApp, workflowsDir } from '../helper.js';

/** The typed client against a listening server: what the CLI and the dashboard build on. */

t.test('the client reads, submits and gets typed errors from a real server', async (t) => {
  const app = await buildTestApp(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const client = ferryClient({ url: `${url}/` });

  const info = await client.GET('/ga4gh/wes/v1/service-info');
  t.equal(info.response.status, 200);
  t.ok(info.data?.workflow_type_versions.CWL, 'service-info, typed');

  const form = new FormData();
  form.set('workflow_type', 'CWL');
  form.set('workflow_type_version', 'v1.0');
  form.set('workflow_url', 'echo.cwl');
  form.set('workflow_params', JSON.stringify({ message: 'from the client' }));
  form.set('workflow_attachment', new Blob([await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'))]), 'echo.cwl');
  const posted = await client.POST('/ga4gh/wes/v1/runs', { body: form as never, bodySerializer: (b) => b as FormData });
  t.equal(posted.response.status, 200, JSON.stringify(posted.error));
  const runId = posted.data!.run_id!;
  let state = '';
  for (let i = 0; i < 600 && !FINAL_STATES.has(state as never); i++) {
    state = (await client.GET('/ga4gh/wes/v1/runs/{run_id}/status', { params: { path: { run_id: runId } } })).data!.state!;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(state, 'COMPLETE');

  const missing = await client.GET('/ga4gh/wes/v1/runs/{run_id}', { params: { path: { run_id: 'run-00000000000000000000000000000000' } } });
  t.equal(missing.response.status, 404);
  t.equal(missing.error?.status_code, 404, 'the WES error body, typed');
});

t.test('credentials become the Authorization header', async (t) => {
  t.equal(authorization({ token: 'abc' }), 'Bearer abc');
  t.equal(authorization({ user: 'ana', password: 'pässwörd' }), `Basic ${Buffer.from('ana:pässwörd').toString('base64')}`);
  t.equal(authorization({}), undefined);
});
