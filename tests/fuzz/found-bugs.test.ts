import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildTestApp, submit, workflowsDir, type FilePart } from '../helper.js';
import { buildRequest, parseResponses, rawExchange, type ParsedResponse } from './raw-http.js';

// Focused reproductions of what the fuzz suite (hostile-input.test.ts) found.
// Each fails until its cause in src/ is fixed; see the comment on each test.

const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
const echoFile: FilePart = { filename: 'echo.cwl', content: echo };
const good = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"hi"}' };

const app = await buildTestApp(t, { maxConcurrentRuns: 2 });
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as AddressInfo).port;
const workDir = app.ferry.config.workDir;

function isWesError(res: { status: number; headers: Record<string, unknown>; body: string }): boolean {
  if (!/^application\/json\b/.test(String(res.headers['content-type'] ?? ''))) return false;
  try {
    const b = JSON.parse(res.body) as Record<string, unknown>;
    return Object.keys(b).sort().join(',') === 'msg,status_code' && typeof b.msg === 'string' && b.status_code === res.status;
  } catch {
    return false;
  }
}

async function listRuns(): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/ga4gh/wes/v1/runs?page_size=1000' });
  return (res.json() as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
}

/** A refused submission: a 4xx with the WES body, and no run. */
async function expectRefused(t: Test, fields: Record<string, string>, files: FilePart[]): Promise<void> {
  const runsBefore = await listRuns();
  const stagingBefore = await stagingEntries();
  const res = await submit(t, app, fields, files);
  t.ok(res.statusCode >= 400 && res.statusCode < 500, `a client mistake is a 4xx, got ${res.statusCode}: ${res.body}`);
  t.ok(isWesError({ status: res.statusCode, headers: res.headers, body: res.body }), `WES error body: ${res.body}`);
  t.same(await listRuns(), runsBefore, 'no run was created');
  t.same(await stagingEntries(), stagingBefore, 'nothing is left in .staging');
}

/** Top-level entries of .staging (compared before and after, so one test's leak does not fail the next). */
async function stagingEntries(): Promise<string[]> {
  return (await fs.readdir(path.join(workDir, '.staging')).catch(() => [] as string[])).sort();
}

t.test('an attachment name longer than the file system allows under the staging folder is a 400, not a 500', async (t) => {
  // Cause: the attachment name check (now src/util/path-safety.ts checkRelativeName()) allows names up to
  // MAX_NAME_BYTES = 4096 bytes on their own, but attachmentPath() joins them
  // under `<workDir>/.staging/<id>/execution/`, so the mkdir fails with
  // ENAMETOOLONG (PATH_MAX is 4096), and src/api/multipart.ts asWesError()
  // passes every error whose code starts with 'E' through as a 500.
  const name = Array.from({ length: 17 }, () => 'a'.repeat(239)).join('/'); // 4079 bytes
  await expectRefused(t, good, [echoFile, { filename: name, content: 'x' }]);
});

t.test('an attachment that takes the place of wes_inputs.json is refused or accepted, never a 500', async (t) => {
  // Cause: src/backend/toil-backend.ts admit() writes
  // `<staging>/execution/wes_inputs.json` with atomicFileCreate(), whose
  // rename() fails with EISDIR when an attachment made `wes_inputs.json` a
  // folder; the error is not a WesError, so it leaves as a 500.
  for (const extra of ['wes_inputs.json/inside', 'wes_inputs.json/a/b']) {
    const runsBefore = await listRuns();
    const stagingBefore = await stagingEntries();
    const res = await submit(t, app, good, [echoFile, { filename: extra, content: 'x' }]);
    t.ok(res.statusCode < 500, `${extra}: no 5xx, got ${res.statusCode}: ${res.body}`);
    if (res.statusCode >= 400) {
      t.ok(isWesError({ status: res.statusCode, headers: res.headers, body: res.body }), 'WES error body');
      t.same(await listRuns(), runsBefore, 'no run was created');
    }
    t.same(await stagingEntries(), stagingBefore, 'nothing is left in .staging');
  }
});

t.test('an http(s) workflow_url that is not a URL is a 400, not a 500', async (t) => {
  // Cause: src/backend/workflow-source.ts download() starts with
  // `new URL(url)` outside any try; the TypeError (ERR_INVALID_URL) for
  // `http://`, `http://[`, `https://a b/`… leaves as a 500.
  for (const url of ['http://', 'HTTP:', 'http://[', 'https://a b/', 'http://%zz/', 'http://999.1.1.1/']) {
    await t.test(url, (t) => expectRefused(t, { ...good, workflow_url: url }, [echoFile]));
  }
});

/** Sends raw bytes; the answers Node or Fastify wrote, if any. */
async function rawAnswers(t: Test, bytes: Buffer, after: 'wait' | 'fin' = 'wait'): Promise<ParsedResponse[]> {
  const res = await rawExchange([bytes], { host: '127.0.0.1', port, after, timeoutMs: 5000 });
  t.not(res.end, 'timeout', 'the server answered or closed the connection');
  return parseResponses(res.data).responses;
}

function checkWesOrClosed(t: Test, what: string, answers: ParsedResponse[]): void {
  // Closing the connection without an answer is acceptable for broken HTTP; an answer must be the WES body.
  for (const a of answers) {
    t.ok(isWesError({ status: a.status, headers: a.headers, body: a.body.toString('utf8') }), `${what}: ${a.status} ${a.headers['content-type'] ?? '(no content-type)'} ${JSON.stringify(a.body.toString('utf8'))}`);
  }
}

t.test('requests Node refuses below the app are answered with the WES error body', async (t) => {
  // Cause: src/app.ts does not set Fastify's `clientErrorHandler`, so
  // Fastify's default writes {"error","message","statusCode"} for every
  // request Node's HTTP parser rejects (bad method, control bytes in the URL or
  // a header, broken chunking, a body cut short, headers over 16 KB -> 431).
  const cases: [string, Buffer, 'wait' | 'fin'][] = [
    ['unknown method', buildRequest('BREW', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close']]), 'wait'],
    ['NUL in the URL', buildRequest('GET', Buffer.from('/ga4gh/wes/v1/runs/a\u0000b', 'latin1'), [['Host', 'x'], ['Connection', 'close']]), 'wait'],
    ['NUL in a header', buildRequest('GET', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close'], ['X-A', 'a\u0000b']]), 'wait'],
    ['bad chunk size', buildRequest('POST', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close'], ['Content-Type', 'multipart/form-data; boundary=XX'], ['Transfer-Encoding', 'chunked']], Buffer.from('zz\r\nabc\r\n')), 'wait'],
    ['body shorter than Content-Length', buildRequest('POST', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close'], ['Content-Type', 'multipart/form-data; boundary=XX'], ['Content-Length', '500']], Buffer.from('--XX\r\n')), 'fin'],
    ['a 20 KB header', buildRequest('GET', '/toil/wes/v1/logs/x/stdout', [['Host', 'x'], ['Connection', 'close'], ['Range', `bytes=${'9'.repeat(20_000)}-`]]), 'wait'],
  ];
  for (const [what, bytes, after] of cases) checkWesOrClosed(t, what, await rawAnswers(t, bytes, after));
});

t.test('a url-encoded form with 1.5 million fields does not freeze the server', async (t) => {
  // Cause: src/app.ts parses application/x-www-form-urlencoded with
  // Object.fromEntries(new URLSearchParams(body)) and no limit on the number
  // of fields (multipart has `fields: 100`); the object of 1.5 million keys is
  // then copied again by readForm() ({ ...form }), openapi-backend, admit()
  // (`{ workflow_attachment, ...fields }`) and acceptSubmission()
  // (Object.entries), each copy seconds of blocked event loop: one 14 MB
  // request stops the server answering anyone (health checks included) for
  // 15-25 s on this machine.
  const body = Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => `k${i}=`).join('&'));
  const req = buildRequest('POST', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close'], ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', String(body.length)]], body);
  // Measured in CPU time burnt by this process (the server's), not by the clock: a busy machine must not fail this.
  const cpuBefore = process.cpuUsage();
  const answer = rawExchange([req], { host: '127.0.0.1', port, timeoutMs: 120_000 });
  // Let the body arrive, then ask for the health check while the form is handled.
  await new Promise((r) => setTimeout(r, 300));
  const health = await fetch(`http://127.0.0.1:${port}/engine/v1/status`);
  t.equal(health.status, 200, 'the health check is answered');
  const done = await answer;
  const cpu = process.cpuUsage(cpuBefore);
  const busyMs = Math.round((cpu.user + cpu.system) / 1000);
  t.ok(busyMs < 3000, `handling the form took ${busyMs} ms of CPU (limit 3000 ms)`);
  const [res] = parseResponses(done.data).responses;
  t.ok(res && res.status >= 400 && res.status < 500, `the form is refused with a 4xx, got ${res?.status}`);
});

t.test('Node built-in refusals (missing Host, unknown Expect) carry the WES error body', async (t) => {
  checkWesOrClosed(t, 'HTTP/1.1 without Host', await rawAnswers(t, Buffer.from('GET /ga4gh/wes/v1/runs HTTP/1.1\r\nConnection: close\r\n\r\n')));
  checkWesOrClosed(t, 'Expect: 200-ok', await rawAnswers(t, buildRequest('GET', '/ga4gh/wes/v1/runs', [['Host', 'x'], ['Connection', 'close'], ['Expect', '200-ok']])));
});
