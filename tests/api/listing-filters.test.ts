import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildTestApp, call, multipart, tempDir, workflowsDir } from '../helper.js';

/**
 * ListRuns' filters (state, tag_key, tag_value, sort_order) through the real
 * app, over real runs in mixed states: COMPLETE (cwltool echo), EXECUTOR_ERROR
 * (the fail tool), RUNNING (sleep) and QUEUED (behind it: one run at a time),
 * owned by two users and listed by them and by an admin. Every answer is
 * checked against the spec by `call`.
 */

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const TOKENS = { ann: 'ann-token-filters-0123', bob: 'bob-token-filters-4567', root: 'root-token-filters-89ab' } as const;
type User = keyof typeof TOKENS;
const as = (user: User): Record<string, string> => ({ authorization: `Bearer ${TOKENS[user]}` });

const dir = await tempDir(t);
const tokens = path.join(dir, 'tokens');
await fs.writeFile(tokens, Object.entries(TOKENS).map(([u, tok]) => `${u} ${sha256(tok)}`).join('\n') + '\n');
const app = await buildTestApp(t, { maxConcurrentRuns: 1, authTokens: tokens, admins: ['root'] });

const WORKFLOWS = {
  echo: { file: 'echo/echo.cwl', params: { message: 'filters' } },
  fail: { file: 'fail/fail.cwl', params: {} },
  sleep: { file: 'sleep/sleep.cwl', params: { seconds: 300 } },
} as const;

async function submitAs(tt: Test, user: User, workflow: keyof typeof WORKFLOWS, tags: Record<string, string>): Promise<string> {
  const { file, params } = WORKFLOWS[workflow];
  const name = path.basename(file);
  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: name, workflow_params: JSON.stringify(params), tags: JSON.stringify(tags) },
    [{ filename: name, content: await fs.readFile(path.join(workflowsDir, file)) }],
  );
  const res = await call(tt, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...as(user) } });
  tt.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

async function stateOf(tt: Test, runId: string): Promise<string> {
  const res = await call(tt, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status`, headers: as('root') });
  return (res.json() as { state: string }).state;
}

async function waitFor(tt: Test, runId: string, states: string[]): Promise<string> {
  for (let i = 0; i < 1800; i++) {
    const state = await stateOf(tt, runId);
    if (states.includes(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} never reached ${states.join('/')}`);
}

interface RunList {
  runs: { run_id: string; state: string; tags: Record<string, string> }[];
  next_page_token: string;
}

async function list(tt: Test, user: User, query: string): Promise<{ status: number; body: RunList & { msg?: string } }> {
  const res = await call(tt, app, { method: 'GET', url: `/ga4gh/wes/v1/runs?${query}`, headers: as(user) });
  return { status: res.statusCode, body: res.json() as RunList & { msg?: string } };
}

/** Every run id of a listing, following its tokens with pages of `size`. */
async function walk(tt: Test, user: User, query: string, size: number, between?: () => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let token = '';
  for (let pages = 0; ; pages++) {
    if (pages > 40) throw new Error('paging does not end');
    const res = await list(tt, user, `${query}&page_size=${size}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    tt.equal(res.status, 200, `${query} page ${pages}: ${res.body.msg ?? ''}`);
    tt.ok(res.body.runs.length <= size, 'never more than page_size');
    if (token !== '') tt.ok(res.body.runs.length > 0, 'a token never leads to an empty page');
    ids.push(...res.body.runs.map((r) => r.run_id));
    token = res.body.next_page_token;
    if (token === '') return ids;
    await between?.();
  }
}

// The runs, oldest first: five that end, then one running and two waiting behind it.
const run: Record<string, string> = {};
t.test('runs in every kind of state', async (t) => {
  run.a1 = await submitAs(t, 'ann', 'echo', { project: 'x', kind: 'echo' });
  run.b1 = await submitAs(t, 'bob', 'echo', { project: 'y' });
  run.a2 = await submitAs(t, 'ann', 'fail', { project: 'x', kind: 'fail' });
  run.b2 = await submitAs(t, 'bob', 'fail', { project: 'x' });
  run.a3 = await submitAs(t, 'ann', 'echo', { kind: 'echo' });
  for (const id of [run.a1, run.b1, run.a3]) t.equal(await waitFor(t, id!, ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR']), 'COMPLETE');
  for (const id of [run.a2, run.b2]) t.equal(await waitFor(t, id!, ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR']), 'EXECUTOR_ERROR');
  run.a4 = await submitAs(t, 'ann', 'sleep', { project: 'x', kind: 'sleep' });
  t.equal(await waitFor(t, run.a4, ['RUNNING']), 'RUNNING');
  run.b3 = await submitAs(t, 'bob', 'sleep', { project: 'y' });
  run.a5 = await submitAs(t, 'ann', 'echo', { project: 'x', empty: '' });
  t.equal(await stateOf(t, run.b3), 'QUEUED', 'one run at a time: the others wait');
  t.equal(await stateOf(t, run.a5), 'QUEUED');
});

const ids = (...names: string[]): string[] => names.map((n) => run[n]!);

t.test('filters, as the admin (every run)', async (t) => {
  const cases: [string, string[]][] = [
    ['', ids('a5', 'b3', 'a4', 'a3', 'b2', 'a2', 'b1', 'a1')],
    ['state=COMPLETE', ids('a3', 'b1', 'a1')],
    ['state=EXECUTOR_ERROR', ids('b2', 'a2')],
    ['state=RUNNING', ids('a4')],
    ['state=QUEUED', ids('a5', 'b3')],
    ['state=RUNNING&state=QUEUED', ids('a5', 'b3', 'a4')],
    ['state=QUEUED&state=RUNNING&state=QUEUED', ids('a5', 'b3', 'a4')],
    ['state=COMPLETE&state=EXECUTOR_ERROR&sort_order=asc', ids('a1', 'b1', 'a2', 'b2', 'a3')],
    ['state=CANCELED', []],
    ['state=UNKNOWN', []],
    ['sort_order=asc', ids('a1', 'b1', 'a2', 'b2', 'a3', 'a4', 'b3', 'a5')],
    ['sort_order=desc', ids('a5', 'b3', 'a4', 'a3', 'b2', 'a2', 'b1', 'a1')],
    ['tag_key=project', ids('a5', 'b3', 'a4', 'b2', 'a2', 'b1', 'a1')],
    ['tag_key=project&tag_value=x', ids('a5', 'a4', 'b2', 'a2', 'a1')],
    ['tag_key=project&tag_value=x&state=EXECUTOR_ERROR', ids('b2', 'a2')],
    ['tag_key=project&tag_value=x&state=QUEUED&state=COMPLETE&sort_order=asc', ids('a1', 'a5')],
    ['tag_key=kind&tag_value=echo', ids('a3', 'a1')],
    ['tag_key=empty&tag_value=', ids('a5')],
    ['tag_key=project&tag_value=', []],
    ['tag_key=nope', []],
  ];
  for (const [query, expected] of cases) {
    const res = await list(t, 'root', query);
    t.equal(res.status, 200, `${query}: ${res.body.msg ?? ''}`);
    t.same(res.body.runs.map((r) => r.run_id), expected, query || 'no filter');
    t.equal(res.body.next_page_token, '', `${query}: one page`);
    const states = new URLSearchParams(query).getAll('state');
    for (const r of res.body.runs) if (states.length) t.ok(states.includes(r.state), `${query}: ${r.run_id} is ${r.state}`);
  }
});

t.test('filters see only what the caller may see', async (t) => {
  const cases: [User, string, string[]][] = [
    ['ann', '', ids('a5', 'a4', 'a3', 'a2', 'a1')],
    ['ann', 'state=COMPLETE', ids('a3', 'a1')],
    ['ann', 'state=QUEUED', ids('a5')],
    ['ann', 'state=EXECUTOR_ERROR&sort_order=asc', ids('a2')],
    ['ann', 'tag_key=project&tag_value=x', ids('a5', 'a4', 'a2', 'a1')],
    ['ann', 'tag_key=project&tag_value=y', []],
    ['bob', 'state=EXECUTOR_ERROR', ids('b2')],
    ['bob', 'state=QUEUED&state=RUNNING', ids('b3')],
    ['bob', 'tag_key=project&tag_value=y&sort_order=asc', ids('b1', 'b3')],
    ['bob', 'tag_key=kind', []],
  ];
  for (const [user, query, expected] of cases) {
    const res = await list(t, user, query);
    t.equal(res.status, 200);
    t.same(res.body.runs.map((r) => r.run_id), expected, `${user}: ${query || 'no filter'}`);
  }
  // Paged: a user's filtered pages hold only theirs.
  t.same(await walk(t, 'ann', 'tag_key=project', 1), ids('a5', 'a4', 'a2', 'a1'), "ann's project runs, one a page");
  t.same(await walk(t, 'bob', 'state=COMPLETE&state=EXECUTOR_ERROR&sort_order=asc', 1), ids('b1', 'b2'), "bob's ended runs, oldest first, one a page");
});

t.test('paging through filtered listings, both ways, while runs are submitted', async (t) => {
  const queries: [string, string[]][] = [
    ['tag_key=project&tag_value=x', ids('a5', 'a4', 'b2', 'a2', 'a1')],
    ['state=COMPLETE&state=EXECUTOR_ERROR', ids('a3', 'b2', 'a2', 'b1', 'a1')],
    ['state=QUEUED&state=RUNNING&state=COMPLETE', ids('a5', 'b3', 'a4', 'a3', 'b1', 'a1')],
  ];
  for (const [query, newestFirst] of queries) {
    for (const size of [1, 2, 3, 100]) {
      t.same(await walk(t, 'root', query, size), newestFirst, `${query}, pages of ${size}, newest first`);
      t.same(await walk(t, 'root', `${query}&sort_order=asc`, size), [...newestFirst].reverse(), `${query}, pages of ${size}, oldest first`);
    }
  }
  // A run that matches, submitted while pages are read: a listing newest first carries on below
  // where it was and does not show it; one oldest first reaches it at its end. Neither repeats or skips a run.
  const added: string[] = [];
  const submitOne = async (): Promise<void> => {
    added.push(await submitAs(t, 'ann', 'echo', { project: 'x', added: 'yes' }));
  };
  const desc = await walk(t, 'root', 'tag_key=project&tag_value=x', 2, submitOne);
  t.same(desc, ids('a5', 'a4', 'b2', 'a2', 'a1'), 'newest first: the same runs, once each');
  const asc = await walk(t, 'root', 'tag_key=project&tag_value=x&sort_order=asc', 2, submitOne);
  t.same(asc.slice(0, 5), ids('a1', 'a2', 'b2', 'a4', 'a5'), 'oldest first: the old ones in order…');
  // The walk ends only once it has caught up with the submissions.
  t.same(asc.slice(5), added, '…then every run submitted before its last page, in order, once each');
  for (const id of added) t.equal(await stateOf(t, id), 'QUEUED', 'the added runs wait behind the running one');
  run.added = added.join(',');
});

t.test('a page token belongs to its listing', async (t) => {
  const firstPage = async (query: string): Promise<{ token: string; shown: string }> => {
    const res = await list(t, 'root', `${query}&page_size=1`);
    t.equal(res.status, 200);
    t.not(res.body.next_page_token, '', `${query}: a token`);
    return { token: res.body.next_page_token, shown: res.body.runs[0]!.run_id };
  };
  const page = async (query: string): Promise<string> => (await firstPage(query)).token;
  const refused = async (query: string, token: string, label: string): Promise<void> => {
    const res = await list(t, 'root', `${query}&page_token=${encodeURIComponent(token)}`);
    t.equal(res.status, 400, label);
    t.equal((res.body as unknown as { status_code: number }).status_code, 400);
    t.match(res.body.msg, /belongs to another listing/, `${label}: says why`);
  };
  const complete = await page('state=COMPLETE');
  await refused('state=EXECUTOR_ERROR', complete, 'another state');
  await refused('state=COMPLETE&sort_order=asc', complete, 'another order');
  await refused('state=COMPLETE&tag_key=project', complete, 'another tag');
  await refused('', complete, 'no filter at all');
  await refused('state=COMPLETE', await page(''), "the plain listing's token with a filter");
  await refused('tag_key=project&tag_value=y', await page('tag_key=project&tag_value=x'), 'another tag value');
  // The same filters, however written, continue the same listing (page_size may change).
  const { token, shown } = await firstPage('state=RUNNING&state=QUEUED');
  const res = await list(t, 'root', `state=QUEUED&state=RUNNING&state=QUEUED&page_size=50&page_token=${encodeURIComponent(token)}`);
  t.equal(res.status, 200, 'states in another order, repeated, another page size');
  const rest = res.body.runs.map((r) => r.run_id);
  t.notOk(rest.includes(shown), 'the first page is not repeated');
  t.same(rest.slice(-3), ids('a5', 'b3', 'a4'), 'the listing carries on to its end');
});

t.test('bad filters are 400 with the WES body', async (t) => {
  const bad: [string, RegExp][] = [
    ['state=BOGUS', /state.*allowed values: UNKNOWN, QUEUED, INITIALIZING, RUNNING/],
    ['state=complete', /state/],
    ['state=RUNNING&state=NOPE', /state/],
    ['state=', /state/],
    ['sort_order=up', /sort_order.*allowed values: asc, desc/],
    ['sort_order=ASC', /sort_order/],
    ['sort_order=asc&sort_order=desc', /sort_order/],
    ['tag_value=x', /tag_key/],
    ['tag_key=', /tag_key/],
    ['tag_key=a&tag_key=b', /tag_key/],
  ];
  for (const [query, mentions] of bad) {
    const res = await list(t, 'root', query);
    t.equal(res.status, 400, query);
    t.match(res.body.msg, mentions, `${query}: ${res.body.msg}`);
  }
});

t.test('state filters follow runs as their states change', async (t) => {
  const cancel = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${run.a4}/cancel`, headers: as('ann') });
  t.equal(cancel.statusCode, 200);
  t.equal(await waitFor(t, run.a4!, ['CANCELED']), 'CANCELED');
  // The next one in line starts.
  t.equal(await waitFor(t, run.b3!, ['RUNNING']), 'RUNNING');
  t.same((await list(t, 'root', 'state=CANCELED')).body.runs.map((r) => r.run_id), ids('a4'), 'the canceled run is CANCELED');
  t.same((await list(t, 'root', 'state=RUNNING')).body.runs.map((r) => r.run_id), ids('b3'), 'and the next one RUNNING');
  const queued = (await list(t, 'root', 'state=QUEUED&sort_order=asc')).body.runs.map((r) => r.run_id);
  t.same(queued, [run.a5!, ...run.added!.split(',')], 'the rest still QUEUED, oldest first');
  t.same((await list(t, 'bob', 'state=RUNNING')).body.runs.map((r) => r.run_id), ids('b3'), "bob's running run");
  t.same((await list(t, 'ann', 'state=RUNNING')).body.runs, [], 'ann has none running');
  t.same((await list(t, 'ann', 'state=CANCELED&tag_key=kind&tag_value=sleep')).body.runs.map((r) => r.run_id), ids('a4'));
  // A run canceled while it waits in the queue leaves it, CANCELED.
  const dropped = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${run.a5}/cancel`, headers: as('ann') });
  t.equal(dropped.statusCode, 200);
  t.equal(await waitFor(t, run.a5!, ['CANCELED']), 'CANCELED');
  t.same((await list(t, 'root', 'state=CANCELED')).body.runs.map((r) => r.run_id), ids('a5', 'a4'), 'CANCELED: both');
  t.same((await list(t, 'root', 'state=QUEUED&sort_order=asc')).body.runs.map((r) => r.run_id), run.added!.split(','), 'QUEUED: the rest');
  t.same((await list(t, 'ann', 'state=CANCELING&state=QUEUED&state=CANCELED')).body.runs.map((r) => r.run_id), [...run.added!.split(',').reverse(), run.a5!, run.a4!]);
});

t.test('a deleted run leaves every filtered listing', async (t) => {
  const res = await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${run.a1}`, headers: as('ann') });
  t.equal(res.statusCode, 200, res.body);
  t.same((await list(t, 'root', 'state=COMPLETE')).body.runs.map((r) => r.run_id), ids('a3', 'b1'), 'COMPLETE');
  t.same((await list(t, 'root', 'tag_key=kind&tag_value=echo')).body.runs.map((r) => r.run_id), ids('a3'), 'by tag');
  t.same(await walk(t, 'ann', 'tag_key=project&tag_value=x&sort_order=asc', 1), [run.a2!, run.a4!, run.a5!, ...run.added!.split(',')], "ann's, page by page");
});
