import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, call, listTree, multipart, waitForState, workflowsDir } from './helper.js';

// 200 submissions with attachments at once against a server whose queue
// holds 10: each one is either accepted (and its run completes) or cleanly
// refused with 503 + Retry-After; the listing holds exactly the accepted ones.
t.test('a burst of 200 concurrent submissions', async (t) => {
  const app = await buildTestApp(t, { maxConcurrentRuns: 2, maxQueuedRuns: 10 });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
  const send = async (i: number): Promise<{ status: number; body: string; retryAfter: string | null }> => {
    const { payload, headers } = multipart(
      { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: `burst ${i}` }) },
      [
        { filename: 'echo.cwl', content: echo },
        { filename: `data/extra-${i}.txt`, content: Buffer.alloc(64 * 1024, i % 256) },
      ],
    );
    const res = await fetch(`${base}/ga4gh/wes/v1/runs`, { method: 'POST', body: payload, headers });
    return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
  };
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => send(i)));

  const accepted = results.filter((r) => r.status === 200).map((r) => (JSON.parse(r.body) as { run_id: string }).run_id);
  const refused = results.filter((r) => r.status === 503);
  const other = results.filter((r) => r.status !== 200 && r.status !== 503);
  t.comment(`accepted ${accepted.length}, refused ${refused.length}, other ${other.length}`);
  t.same(other, [], 'every answer is 200 or 503');
  t.equal(accepted.length + refused.length, 200, 'the counts add up');
  t.ok(accepted.length >= 10, 'at least a full queue was accepted');
  t.ok(refused.length > 0, 'the queue bound was reached');
  for (const r of refused) {
    const body = JSON.parse(r.body) as { msg: string; status_code: number };
    if (body.status_code !== 503 || typeof body.msg !== 'string' || !r.retryAfter) {
      t.fail(`a 503 without WES body or Retry-After: ${r.body}`);
      break;
    }
  }

  // The listing holds exactly the accepted runs, and each completes.
  const listed: string[] = [];
  let token = '';
  do {
    const page = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs?page_size=50${token ? `&page_token=${token}` : ''}` })).json() as {
      runs: { run_id: string }[];
      next_page_token: string;
    };
    listed.push(...page.runs.map((r) => r.run_id));
    token = page.next_page_token;
  } while (token);
  t.same([...listed].sort(), [...accepted].sort(), 'the listing holds exactly the accepted runs');
  const workDir = app.ferry.config.workDir;
  const folders = (await fs.readdir(workDir)).filter((e) => e.startsWith('run-'));
  t.same(folders.sort(), [...accepted].sort(), 'no run folder for a refused submission');
  t.same(await listTree(path.join(workDir, '.staging')), [], 'nothing left half-received');
  for (const id of accepted) t.equal(await waitForState(t, app, id, undefined, 300_000), 'COMPLETE', `${id} completed`);
});
