import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { buildTestApp, call, multipart, tempDir, workflowsDir } from '../helper.js';

/**
 * Limits per principal through the real app, on a clock the test moves:
 * submissions a minute per user (per client address without users), and
 * failed logins slowed down per client address. Both answer 429 with
 * Retry-After and the WES error body (the spec declares no 429; `call`
 * holds every error body to ErrorResponse).
 */

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const TOKENS = { ann: 'ann-token-0123456789', bob: 'bob-token-9876543210' } as const;
const bearer = (user: keyof typeof TOKENS): Record<string, string> => ({ authorization: `Bearer ${TOKENS[user]}` });
const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));

/** A clock for the app, moved by the test. */
let now = 1_700_000_000_000;
const clock = (): number => now;

async function tokensFile(t: Test): Promise<string> {
  const file = path.join(await tempDir(t), 'tokens');
  await fs.writeFile(file, `${Object.entries(TOKENS).map(([u, tok]) => `${u} ${sha256(tok)}`).join('\n')}\n`);
  return file;
}

function submitAs(t: Test, app: FastifyInstance, headers: Record<string, string>, fields: Record<string, string> = {}, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> {
  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: 'hi' }), ...fields },
    [{ filename: 'echo.cwl', content: echo }],
  );
  return call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...headers }, remoteAddress });
}

/** What a submission could leave behind: run folders, and anything half-received. */
async function leftovers(workDir: string): Promise<{ runs: string[]; staging: string[] }> {
  const entries = await fs.readdir(workDir);
  const staging = await fs.readdir(path.join(workDir, '.staging')).catch(() => [] as string[]);
  return { runs: entries.filter((e) => e.startsWith('run-')).sort(), staging };
}

function tooMany(t: Test, res: LightMyRequestResponse, retryAfter: string, what: string): void {
  t.equal(res.statusCode, 429, what);
  t.equal(res.headers['retry-after'], retryAfter, `${what}: Retry-After`);
  t.same(res.json(), { msg: (res.json() as { msg: string }).msg, status_code: 429 }, `${what}: the WES error body`);
}

t.test('submissions a minute, per user', async (t) => {
  const workDir = await tempDir(t);
  const app = await buildTestApp(t, { workDir, authTokens: await tokensFile(t), maxSubmissionsPerMinute: 2, maxConcurrentRuns: 1 }, { clock });
  const listed = async (): Promise<string[]> => {
    const res = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers: bearer('ann') });
    return (res.json() as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
  };

  t.equal((await submitAs(t, app, bearer('ann'))).statusCode, 200);
  t.equal((await submitAs(t, app, bearer('ann'))).statusCode, 200);
  const before = await leftovers(workDir);
  const listing = await listed();
  t.equal(before.runs.length, 2);

  tooMany(t, await submitAs(t, app, bearer('ann')), '30', 'the third within the minute');
  // Refused before the body is read: a form that is not even multipart is not looked at.
  const garbage = await call(t, app, {
    method: 'POST',
    url: '/ga4gh/wes/v1/runs',
    payload: 'not a form at all',
    headers: { ...bearer('ann'), 'content-type': 'multipart/form-data; boundary=nothing' },
  });
  tooMany(t, garbage, '30', 'a malformed upload past the limit');
  t.same(await leftovers(workDir), before, 'no run folder, nothing staged');
  t.same(await listed(), listing, 'the listing unchanged');

  await t.test('another user is not affected; only accepted submissions count', async (t) => {
    t.equal((await submitAs(t, app, bearer('bob'))).statusCode, 200, "bob's first");
    const bad = await submitAs(t, app, bearer('bob'), { workflow_type: 'NOPE' });
    t.equal(bad.statusCode, 400, 'a refused submission');
    t.equal((await submitAs(t, app, bearer('bob'))).statusCode, 200, "bob's second: the refused one did not count");
    tooMany(t, await submitAs(t, app, bearer('bob')), '30', "bob's third");
  });

  await t.test('slots free as the minute goes by', async (t) => {
    now += 29_000;
    tooMany(t, await submitAs(t, app, bearer('ann')), '1', 'a second before a slot frees');
    now += 1000;
    t.equal((await submitAs(t, app, bearer('ann'))).statusCode, 200, 'one slot freed');
    tooMany(t, await submitAs(t, app, bearer('ann')), '30', 'and only one');
    now += 60_000;
    t.equal((await submitAs(t, app, bearer('ann'))).statusCode, 200, 'after the window');
    t.equal((await submitAs(t, app, bearer('ann'))).statusCode, 200, 'after the window, the second');
    t.equal((await leftovers(workDir)).runs.length, 7, 'ann 5, bob 2');
  });
});

t.test('without users, submissions are counted per client address', async (t) => {
  const app = await buildTestApp(t, { maxSubmissionsPerMinute: 1, maxConcurrentRuns: 1 }, { clock });
  t.equal((await submitAs(t, app, {}, {}, '192.0.2.1')).statusCode, 200);
  tooMany(t, await submitAs(t, app, {}, {}, '192.0.2.1'), '60', 'the second from one address');
  t.equal((await submitAs(t, app, {}, {}, '192.0.2.2')).statusCode, 200, 'another address');
});

t.test('failed logins are slowed down per client address', async (t) => {
  const app = await buildTestApp(t, { authTokens: await tokensFile(t) }, { clock });
  const attacker = '198.51.100.7';
  const runs = (headers: Record<string, string>, remoteAddress: string): Promise<LightMyRequestResponse> =>
    call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers, remoteAddress });
  const wrong = { authorization: 'Bearer a-guess' };

  for (let i = 1; i <= 5; i++) t.equal((await runs(wrong, attacker)).statusCode, 401, `failure ${i}: checked, refused`);
  tooMany(t, await runs(bearer('ann'), attacker), '1', 'then even the right token waits, unchecked');
  tooMany(t, await runs(wrong, attacker), '1', 'and a wrong one');
  tooMany(t, await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info', headers: wrong, remoteAddress: attacker }), '1', 'credentials on a public route too');
  t.equal((await runs({}, attacker)).statusCode, 401, 'a request without credentials checks nothing: a plain 401');
  t.equal((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info', remoteAddress: attacker })).statusCode, 200, 'public routes without credentials answer');

  await t.test('no one is locked out from elsewhere', async (t) => {
    t.equal((await runs(bearer('ann'), '198.51.100.8')).statusCode, 200, 'ann at another address');
    t.equal((await runs(bearer('bob'), '2001:db8::1')).statusCode, 200, 'bob at another');
  });

  await t.test('the wait doubles with each failure, up to a minute', async (t) => {
    now += 1000;
    t.equal((await runs(wrong, attacker)).statusCode, 401, 'checked again after the wait');
    tooMany(t, await runs(wrong, attacker), '2', 'the sixth failure: two seconds');
    for (let i = 0; i < 8; i++) {
      now += 60_000;
      t.equal((await runs(wrong, attacker)).statusCode, 401);
    }
    tooMany(t, await runs(bearer('ann'), attacker), '60', 'capped at a minute');
  });

  await t.test('after the wait, the right credentials work and start the address afresh', async (t) => {
    now += 60_000;
    t.equal((await runs(bearer('ann'), attacker)).statusCode, 200);
    for (let i = 1; i <= 4; i++) t.equal((await runs(wrong, attacker)).statusCode, 401, `failure ${i} after the reset`);
    t.equal((await runs(bearer('ann'), attacker)).statusCode, 200, 'four failures do not hold the address back');
  });
});
