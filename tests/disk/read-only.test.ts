import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, call, listTree, submit, waitForState, workflowsDir } from '../helper.js';
import { remountReadOnly, run, tmpfs } from './mounts.js';

// "Disk trouble": a read-only work folder. A real tmpfs holds the work folder
// and its state store and is remounted read-only: submissions must fail with
// a clear WES error (507, the same as a full disk: see storageError in
// src/api/errors.ts) and change nothing; reading routes keep working.

/** Every entry with its size and modification time: "nothing changed" means this is equal. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await listTree(dir)) {
    const st = await fs.lstat(path.join(dir, rel));
    out.push(`${rel} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
  }
  return out;
}

const echoFields = (message: string): Record<string, string> => ({
  workflow_type: 'CWL',
  workflow_type_version: 'v1.0',
  workflow_url: 'echo.cwl',
  workflow_params: JSON.stringify({ message }),
});

t.test('read-only disk: submissions get 507 with the WES body and change nothing; GET routes still work', async (t) => {
  const workDir = await tmpfs(t, '4m', 'a read-only disk has no faithful stand-in for root without one');
  if (!workDir) return void t.skip('tmpfs mounts are not permitted here (see the comment above)', () => undefined);
  const app = await buildTestApp(t, { workDir });
  const echo = { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) };

  const first = await submit(t, app, echoFields('before'), [echo]);
  t.equal(first.statusCode, 200, first.body);
  const runId = (first.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const listingBefore = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as unknown;
  const logBefore = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as unknown;

  await remountReadOnly(workDir);
  await t.rejects(fs.writeFile(path.join(workDir, 'probe'), 'x'), { code: 'EROFS' }, 'the work folder really is read-only');
  const before = await snapshot(workDir);

  t.test('a multipart submission with attachments', async (t) => {
    const res = await submit(t, app, echoFields('read-only'), [echo, { filename: 'data/x.txt', content: 'data' }]);
    t.equal(res.statusCode, 507, res.body);
    const body = res.json() as { msg: string; status_code: number };
    t.same(Object.keys(body).sort(), ['msg', 'status_code'], 'the WES error body');
    t.equal(body.status_code, 507);
    t.match(body.msg, /read-only/, 'the message says what is wrong');
    t.notMatch(body.msg, workDir, 'and shows no server path');
  });

  t.test('a url-encoded submission (nothing attached)', async (t) => {
    const res = await call(t, app, {
      method: 'POST',
      url: '/ga4gh/wes/v1/runs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...echoFields('form'), workflow_url: 'https://example.org/echo.cwl' }).toString(),
    });
    t.equal(res.statusCode, 507, res.body);
    t.match((res.json() as { msg: string }).msg, /read-only/);
  });

  t.test('nothing changed on disk', async (t) => {
    t.same(await snapshot(workDir), before);
  });

  t.test('GET routes answer from what is stored', async (t) => {
    const listing = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' });
    t.equal(listing.statusCode, 200);
    t.same(listing.json(), listingBefore, 'the listing is unchanged');
    const status = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` });
    t.equal(status.statusCode, 200);
    t.equal((status.json() as { state: string }).state, 'COMPLETE');
    const log = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
    t.equal(log.statusCode, 200);
    t.same(log.json(), logBefore, 'the run log is unchanged');
    t.equal((await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stderr` })).statusCode, 200);
    t.equal((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks` })).statusCode, 200);
    const info = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' });
    t.equal(info.statusCode, 200);
    t.same((info.json() as { system_state_counts: unknown }).system_state_counts, { COMPLETE: 1 });
    t.same(await snapshot(workDir), before, 'reading wrote nothing');
  });

  t.test('writable again: a submission succeeds and runs', async (t) => {
    await run('mount', ['-o', 'remount,rw', workDir]);
    const res = await submit(t, app, echoFields('after'), [echo]);
    t.equal(res.statusCode, 200, res.body);
    t.equal(await waitForState(t, app, (res.json() as { run_id: string }).run_id), 'COMPLETE');
    t.same(await listTree(path.join(workDir, '.staging')), [], 'nothing left in .staging');
  });
});
