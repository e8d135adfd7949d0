import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t from 'tap';
import type { Test } from 'tap';
import type { FerryConfig } from '../../src/config/config.js';
import { buildTestApp, call, multipart, tempDir, workflowsDir, runRoutes } from '../helper.js';

/**
 * Authentication and ownership through the real app: bearer tokens and HTTP
 * Basic against a file made by Apache's own `htpasswd -B`; two users, one
 * admin, and every run route tried by each for isolation.
 */

const run = promisify(execFile);
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const TOKENS = { ann: 'ann-token-0123456789', bob: 'bob-token-9876543210', root: 'root-token-abcdef' } as const;
const CAROL_PASSWORD = 'pa:ss wörd';
const bearer = (user: keyof typeof TOKENS): Record<string, string> => ({ authorization: `Bearer ${TOKENS[user]}` });
const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

async function authFiles(dir: string): Promise<Partial<FerryConfig>> {
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `# users and the sha256 of their tokens\n${Object.entries(TOKENS).map(([u, tok]) => `${u} ${sha256(tok)}`).join('\n')}\n`);
  const htpasswd = path.join(dir, 'htpasswd');
  await run('htpasswd', ['-B', '-c', '-b', htpasswd, 'carol', CAROL_PASSWORD]);
  return { authTokens: tokens, authHtpasswd: htpasswd, admins: ['root'], authInstructionsUrl: 'https://wes.example/credentials' };
}

async function submitAs(app: FastifyInstance, headers: Record<string, string>, message: string): Promise<LightMyRequestResponse> {
  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message }) },
    [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }],
  );
  return call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...headers } });
}

async function waitDone(app: FastifyInstance, runId: string, headers: Record<string, string>): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status`, headers });
    const state = (res.json() as { state: string }).state;
    if (['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'].includes(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}


const listed = async (app: FastifyInstance, headers: Record<string, string>, query = ''): Promise<{ runs: { run_id: string }[]; next_page_token: string }> => {
  const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs${query}`, headers });
  t.equal(res.statusCode, 200);
  return res.json() as { runs: { run_id: string }[]; next_page_token: string };
};

t.test('who may do what', async (t) => {
  const dir = await tempDir(t);
  const auth = await authFiles(dir);
  const workDir = path.join(dir, 'work');
  await fs.mkdir(workDir);
  // A run from before authentication was turned on: it belongs to no one.
  const before = await buildTestApp(t, { workDir });
  const orphan = (await submitAs(before, {}, 'from before')).json() as { run_id: string };
  await waitDone(before, orphan.run_id, {});
  await before.close();

  let app = await buildTestApp(t, { workDir, ...auth });

  await t.test('public routes answer everyone', async (t) => {
    const info = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' });
    t.equal(info.statusCode, 200);
    t.equal((info.json() as { auth_instructions_url: string }).auth_instructions_url, 'https://wes.example/credentials');
    t.equal((await call(t, app, { method: 'GET', url: '/engine/v1/status' })).statusCode, 200);
    t.equal((await call(t, app, { method: 'GET', url: '/' })).statusCode, 302);
  });

  await t.test('everything else needs credentials: 401 naming each scheme, the WES body', async (t) => {
    const cases: [string, Record<string, string>][] = [
      ['none', {}],
      ['an unknown token', { authorization: 'Bearer not-a-token' }],
      ['a wrong password', basic('carol', 'wrong')],
      ['an unknown user', basic('mallory', CAROL_PASSWORD)],
      ['a token as a password', basic('ann', TOKENS.ann)],
      ['a malformed header', { authorization: 'Basic !!!' }],
      ['another scheme', { authorization: `Digest ${TOKENS.ann}` }],
    ];
    // Each from an address of its own, or the failed-login throttle (limits.test.ts) would answer 429.
    let client = 0;
    for (const [label, headers] of cases) {
      for (const route of [{ method: 'GET' as const, url: '/ga4gh/wes/v1/runs' }, ...runRoutes(orphan.run_id)]) {
        const res = await call(t, app, { ...route, headers, remoteAddress: `192.0.2.${++client}` });
        t.equal(res.statusCode, 401, `${label}: ${route.method} ${route.url}`);
        t.same(res.json(), { msg: (res.json() as { msg: string }).msg, status_code: 401 });
        t.match(String(res.headers['www-authenticate']), /Basic realm="ferry".*Bearer realm="ferry"|Bearer realm="ferry".*Basic realm="ferry"/);
      }
    }
    const refused = await submitAs(app, {}, 'no one');
    t.equal(refused.statusCode, 401, 'a submission without credentials');
    t.same((await listed(app, bearer('root'))).runs.map((r) => r.run_id), [orphan.run_id], 'made no run');
  });

  const ann = (await submitAs(app, bearer('ann'), 'ann')).json() as { run_id: string };
  const bob = (await submitAs(app, bearer('bob'), 'bob')).json() as { run_id: string };
  const carolRes = await submitAs(app, basic('carol', CAROL_PASSWORD), 'carol');
  t.equal(carolRes.statusCode, 200, 'Basic against an htpasswd -B file');
  const carol = carolRes.json() as { run_id: string };
  t.equal(await waitDone(app, ann.run_id, bearer('ann')), 'COMPLETE');
  await waitDone(app, bob.run_id, bearer('bob'));
  await waitDone(app, carol.run_id, basic('carol', CAROL_PASSWORD));

  const isolation = async (t: Test, app: FastifyInstance): Promise<void> => {
    for (const route of runRoutes(ann.run_id)) {
      const own = await call(t, app, { ...route, headers: bearer('ann') });
      t.not(own.statusCode, 401, `ann: ${route.method} ${route.url}`);
      t.not(own.statusCode, 404, `ann finds her run: ${route.method} ${route.url}`);
      const admin = await call(t, app, { ...route, headers: bearer('root') });
      t.equal(admin.statusCode, own.statusCode, `the admin is answered as the owner: ${route.method} ${route.url}`);
      for (const [who, headers] of [['bob', bearer('bob')], ['carol', basic('carol', CAROL_PASSWORD)]] as const) {
        const other = await call(t, app, { ...route, headers });
        t.equal(other.statusCode, 404, `${who} does not find ann's run: ${route.method} ${route.url}`);
        t.match(other.json(), { status_code: 404 }, 'not found, never forbidden');
      }
    }
    for (const route of runRoutes(orphan.run_id)) {
      t.equal((await call(t, app, { ...route, headers: bearer('ann') })).statusCode, 404, `a run from before auth is no user's: ${route.url}`);
    }
    // DELETE ends a run: only others try it here, and find nothing.
    for (const [who, headers] of [['bob', bearer('bob')], ['carol', basic('carol', CAROL_PASSWORD)], ['ann', bearer('ann')]] as const) {
      const runId = who === 'ann' ? orphan.run_id : ann.run_id;
      const res = await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${runId}`, headers });
      t.equal(res.statusCode, 404, `${who} cannot delete ${who === 'ann' ? 'a run from before auth' : "ann's run"}`);
    }
    t.same((await listed(app, bearer('ann'))).runs.map((r) => r.run_id), [ann.run_id], 'ann lists her own run');
    t.same((await listed(app, bearer('bob'))).runs.map((r) => r.run_id), [bob.run_id], 'bob his');
    t.same((await listed(app, basic('carol', CAROL_PASSWORD))).runs.map((r) => r.run_id), [carol.run_id], 'carol hers');
    t.same((await listed(app, bearer('root'))).runs.map((r) => r.run_id), [carol.run_id, bob.run_id, ann.run_id, orphan.run_id], 'the admin lists all');
    const first = await listed(app, bearer('root'), '?page_size=2');
    const second = await listed(app, bearer('root'), `?page_size=2&page_token=${first.next_page_token}`);
    t.same([...first.runs, ...second.runs].map((r) => r.run_id), [carol.run_id, bob.run_id, ann.run_id, orphan.run_id], 'in pages');
    const annPage = await listed(app, bearer('ann'), '?page_size=1');
    t.equal(annPage.next_page_token, '', "one page holds all of ann's runs");
  };

  await t.test('each user finds only their own runs; the admin finds all', async (t) => isolation(t, app));

  // A restart: the new server is the outer test's, so the tests after this one use it.
  await app.close();
  app = await buildTestApp(t, { workDir, ...auth });
  await t.test('the owner is kept across a restart', async (t) => isolation(t, app));

  await t.test('cancel is the owner\'s or an admin\'s', async (t) => {
    const res = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${ann.run_id}/cancel`, headers: bearer('bob') });
    t.equal(res.statusCode, 404);
    t.equal((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${ann.run_id}/status`, headers: bearer('ann') })).json().state, 'COMPLETE', 'untouched');
  });

  await t.test('credentials reach no record, no request.json', async (t) => {
    const files = await Promise.all(
      [path.join(workDir, ann.run_id, 'request.json'), path.join(workDir, 'state_store', ann.run_id, 'record.json')].map((f) => fs.readFile(f, 'utf8')),
    );
    for (const text of files) {
      t.notMatch(text, TOKENS.ann);
      t.notMatch(text, /authorization/i);
    }
    t.match(files[1], /"owner":"ann"/, 'the record names the owner');
  });
});
