import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { encodePageToken } from '../../src/util/page-token.js';
import { buildTestApp, call, submit, workflowsDir } from '../helper.js';

interface RunSummary {
  run_id: string;
  state: string;
  tags: Record<string, string>;
  start_time?: string;
  end_time?: string;
}
interface RunList {
  runs: RunSummary[];
  next_page_token: string;
}

const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
const app = await buildTestApp(t, { maxConcurrentRuns: 2 });
const ZERO_RUN = `run-${'0'.repeat(32)}`;

async function submitEcho(tt: Test, tags: Record<string, string>): Promise<string> {
  const res = await submit(
    tt,
    app,
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: tags.n ?? 'x' }), tags: JSON.stringify(tags) },
    [{ filename: 'echo.cwl', content: echo }],
  );
  tt.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

async function list(tt: Test, query = ''): Promise<{ status: number; body: RunList }> {
  const res = await call(tt, app, { method: 'GET', url: `/ga4gh/wes/v1/runs${query}` });
  return { status: res.statusCode, body: res.json() as RunList };
}

/** Follows next_page_token from the first page to the last. */
async function walk(tt: Test, size: number): Promise<{ ids: string[]; pages: number; lastToken: string }> {
  const ids: string[] = [];
  let token = '';
  let pages = 0;
  do {
    const res = await list(tt, `?page_size=${size}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    tt.equal(res.status, 200);
    tt.ok(res.body.runs.length <= size, 'never more than page_size');
    ids.push(...res.body.runs.map((r) => r.run_id));
    token = res.body.next_page_token;
    pages++;
    if (pages > 50) throw new Error('paging does not end');
  } while (token !== '');
  return { ids, pages, lastToken: token };
}

t.test('an empty server lists nothing', async (t) => {
  const res = await list(t);
  t.equal(res.status, 200);
  t.same(res.body, { runs: [], next_page_token: '' });
});

// Five runs, oldest first.
const submitted: string[] = [];
t.test('submit five runs', async (t) => {
  for (let i = 0; i < 5; i++) submitted.push(await submitEcho(t, { n: String(i), suite: 'listing' }));
  t.equal(new Set(submitted).size, 5);
});

t.test('page_size=1 visits every run exactly once, newest first', async (t) => {
  const { ids, pages, lastToken } = await walk(t, 1);
  t.same(ids, [...submitted].reverse(), 'newest first, each once');
  t.equal(pages, 5);
  t.equal(lastToken, '', 'the last page has an empty token');
});

t.test('other page sizes agree', async (t) => {
  for (const size of [2, 3, 5, 100]) {
    const { ids, pages } = await walk(t, size);
    t.same(ids, [...submitted].reverse(), `page_size=${size}`);
    t.equal(pages, Math.max(1, Math.ceil(5 / size)), `page_size=${size}: ${Math.ceil(5 / size)} pages`);
  }
  const all = await list(t);
  t.equal(all.status, 200);
  t.same(all.body.runs.map((r) => r.run_id), [...submitted].reverse(), 'no page_size: the default page holds all five');
  t.equal(all.body.next_page_token, '');
});

t.test('RunSummary entries carry run_id, state and the submitted tags', async (t) => {
  const res = await list(t);
  for (const r of res.body.runs) {
    t.match(r.run_id, /^run-[0-9a-f]{32}$/);
    t.type(r.state, 'string');
    const n = String(submitted.indexOf(r.run_id));
    t.same(r.tags, { n, suite: 'listing' }, `tags of ${r.run_id}`);
  }
});

t.test('bad page_size is 400', async (t) => {
  for (const bad of ['0', '-1', 'abc', '1.5', '1e400']) {
    const res = await list(t, `?page_size=${encodeURIComponent(bad)}`);
    t.equal(res.status, 400, `page_size=${bad}`);
    t.equal((res.body as unknown as { status_code: number }).status_code, 400);
  }
});

t.test('an enormous page_size is clamped, not refused', async (t) => {
  const res = await list(t, '?page_size=1000000000000');
  t.equal(res.status, 200);
  t.equal(res.body.runs.length, 5);
  t.equal(res.body.next_page_token, '');
  const max = await list(t, `?page_size=${Number.MAX_SAFE_INTEGER}`);
  t.equal(max.status, 200);
});

t.test('forged and foreign page tokens are 400', async (t) => {
  const forged = [
    'garbage',
    'not a token!',
    '%%%',
    Buffer.from('{"k":"runs","c":-1}').toString('base64url'),
    Buffer.from('{"k":"runs","c":"3"}').toString('base64url'),
    Buffer.from('{"k":"runs","c":1.5}').toString('base64url'),
    Buffer.from('[]').toString('base64url'),
    Buffer.from('null').toString('base64url'),
    'x'.repeat(5000),
  ];
  for (const token of forged) {
    const res = await list(t, `?page_size=1&page_token=${encodeURIComponent(token)}`);
    t.equal(res.status, 400, `token ${token.slice(0, 40)}`);
  }
  // A token the task listing of a run hands out is no good for /runs…
  const taskToken = encodePageToken(`tasks:${submitted[0]}`, 1);
  const res = await list(t, `?page_token=${encodeURIComponent(taskToken)}`);
  t.equal(res.status, 400, 'a task-listing token is refused by /runs');
  // …and a /runs token is no good for a task listing.
  const runsPage = await list(t, '?page_size=1');
  const runsToken = runsPage.body.next_page_token;
  t.not(runsToken, '');
  const tasks = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${submitted[0]}/tasks?page_token=${encodeURIComponent(runsToken)}` });
  t.equal(tasks.statusCode, 400, 'a /runs token is refused by the task listing');
  // Nor is one run's task token good for another run.
  const other = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${submitted[1]}/tasks?page_token=${encodeURIComponent(taskToken)}` });
  t.equal(other.statusCode, 400, "one run's task token is refused for another run");
});

t.test('a run submitted between pages does not shift later pages', async (t) => {
  const newestFirst = [...submitted].reverse();
  const first = await list(t, '?page_size=2');
  t.same(first.body.runs.map((r) => r.run_id), newestFirst.slice(0, 2));
  const extra = await submitEcho(t, { n: 'extra', suite: 'listing' });
  const seen = [...first.body.runs.map((r) => r.run_id)];
  let token = first.body.next_page_token;
  while (token !== '') {
    const page = await list(t, `?page_size=2&page_token=${encodeURIComponent(token)}`);
    t.equal(page.status, 200);
    seen.push(...page.body.runs.map((r) => r.run_id));
    token = page.body.next_page_token;
  }
  t.same(seen, newestFirst, 'old runs each seen exactly once, none skipped');
  t.notOk(seen.includes(extra), 'the new run is not on the later pages');
  const fresh = await list(t, '?page_size=1');
  t.same(fresh.body.runs.map((r) => r.run_id), [extra], 'a fresh listing starts with the new run');
  submitted.push(extra);
});

t.test('unknown runs are 404 everywhere', async (t) => {
  const ids = [ZERO_RUN, `run-${'f'.repeat(32)}`, 'nope', 'run-XYZ', '..', `${submitted[0]!.toUpperCase()}`];
  for (const id of ids) {
    const enc = encodeURIComponent(id);
    for (const [method, url] of [
      ['GET', `/ga4gh/wes/v1/runs/${enc}`],
      ['GET', `/ga4gh/wes/v1/runs/${enc}/status`],
      ['GET', `/ga4gh/wes/v1/runs/${enc}/tasks`],
      ['GET', `/ga4gh/wes/v1/runs/${enc}/tasks/x`],
      ['POST', `/ga4gh/wes/v1/runs/${enc}/cancel`],
    ] as const) {
      const res = await call(t, app, { method, url });
      t.equal(res.statusCode, 404, `${method} ${url}`);
      t.equal((res.json() as { status_code: number }).status_code, 404);
    }
  }
});

t.test('an unknown task of a known run is 404', async (t) => {
  const runId = submitted[0]!;
  for (const bad of ['bad', '0', 'nope%2F..', encodeURIComponent('../../etc/passwd')]) {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks/${bad}` });
    t.equal(res.statusCode, 404, `task ${bad}`);
    t.equal((res.json() as { status_code: number }).status_code, 404);
  }
  // The run itself is there.
  const ok = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` });
  t.equal(ok.statusCode, 200);
  t.same(Object.keys(ok.json() as object).sort(), ['run_id', 'state']);
});
