import fs from 'node:fs/promises';
import path from 'node:path';
import Fastify from 'fastify';
import t from 'tap';
import { operationIds, type OperationId } from '../../generated/operations.js';
import { createWesApi } from '../../src/api/wes-api.js';
import { ToilBackend } from '../../src/backend/toil-backend.js';
import { WESBackend } from '../../src/backend/wes-backend.js';
import { buildTestApp, call, submit, tempDir, waitForState, workflowsDir } from '../helper.js';

const app = await buildTestApp(t, { maxConcurrentRuns: 4 });
const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
const UNKNOWN_RUN = `run-${'0'.repeat(32)}`;

function errorBody(res: { json(): unknown }): { msg: string; status_code: number } {
  return res.json() as { msg: string; status_code: number };
}

t.test('GET / redirects (302) to service-info with a relative Location', async (t) => {
  const res = await call(t, app, { method: 'GET', url: '/' });
  t.equal(res.statusCode, 302);
  t.equal(res.headers.location, 'ga4gh/wes/v1/service-info');
  t.notMatch(String(res.headers.location), /^\//, 'Location is relative, so it works behind a path prefix');
  // Following it from the root lands on service-info.
  const target = new URL(String(res.headers.location), 'http://x/').pathname;
  const si = await call(t, app, { method: 'GET', url: target });
  t.equal(si.statusCode, 200);
});

t.test('GET /engine/v1/status is 200 text/plain OK', async (t) => {
  const res = await call(t, app, { method: 'GET', url: '/engine/v1/status' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.equal(res.body, 'OK');
});

t.test('an unknown route is 404 with a WES error body', async (t) => {
  for (const url of ['/nope', '/ga4gh/wes/v1/nope', '/ga4gh/wes/v2/runs', '/toil/wes/v1/logs']) {
    const res = await call(t, app, { method: 'GET', url });
    t.equal(res.statusCode, 404, url);
    t.match(res.headers['content-type'], /^application\/json/);
    const body = errorBody(res);
    t.equal(body.status_code, 404);
    t.type(body.msg, 'string');
    t.same(Object.keys(body).sort(), ['msg', 'status_code']);
  }
});

t.test('a wrong method on a known path is 405 with a WES error body', async (t) => {
  for (const [method, url] of [
    ['DELETE', '/ga4gh/wes/v1/runs'],
    ['PUT', '/ga4gh/wes/v1/service-info'],
    ['POST', '/ga4gh/wes/v1/service-info'],
    ['GET', `/ga4gh/wes/v1/runs/${UNKNOWN_RUN}/cancel`],
  ] as const) {
    const res = await call(t, app, { method, url });
    t.equal(res.statusCode, 405, `${method} ${url}`);
    const body = errorBody(res);
    t.equal(body.status_code, 405);
    t.same(Object.keys(body).sort(), ['msg', 'status_code']);
  }
});

t.test('a 405 says which methods the path allows (Allow header, RFC 9110 §15.5.6)', async (t) => {
  const res = await call(t, app, { method: 'DELETE', url: '/ga4gh/wes/v1/runs' });
  t.equal(res.statusCode, 405);
  const allow = String(res.headers.allow ?? '')
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean)
    .sort();
  t.same(allow, ['GET', 'HEAD', 'POST'], `Allow: ${String(res.headers.allow)}`);
  const head = await app.inject({ method: 'HEAD', url: '/ga4gh/wes/v1/service-info' });
  t.equal(head.statusCode, 200, 'HEAD is served like GET');
  t.equal(head.body, '', 'without a body');
  const cancel = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${UNKNOWN_RUN}/cancel` });
  t.equal(cancel.statusCode, 405);
  t.match(String(cancel.headers.allow ?? ''), /POST/);
  // WES's GET and Ferry's DELETE share the path of a run.
  const run = await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${UNKNOWN_RUN}` });
  t.equal(run.statusCode, 405);
  t.same(String(run.headers.allow ?? '').split(',').map((m) => m.trim()).sort(), ['DELETE', 'GET', 'HEAD'], `Allow: ${String(run.headers.allow)}`);
  const missing = await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${UNKNOWN_RUN}` });
  t.equal(missing.statusCode, 404, 'DELETE of an unknown run: 404');
  t.equal((await call(t, app, { method: 'DELETE', url: '/ga4gh/wes/v1/runs/..%2f..%2fetc' })).statusCode, 404, 'and of a name that is no run id');
});

t.test('a URL with broken percent-encoding is 400 with a WES error body', async (t) => {
  for (const url of ['/ga4gh/wes/v1/runs/%ZZ', '/ga4gh/wes/v1/runs/run-%E0%A4%A/status']) {
    const res = await call(t, app, { method: 'GET', url });
    t.equal(res.statusCode, 400, url);
    t.match(res.headers['content-type'], /^application\/json/);
    const body = res.json() as Record<string, unknown>;
    t.same(Object.keys(body).sort(), ['msg', 'status_code'], `WES error body, got ${res.body}`);
  }
});

t.test('unknown query parameters are ignored, as Toil (connexion) does', async (t) => {
  // Cache-busters and the like must not break clients.
  const si = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info?_=1700000000' });
  t.equal(si.statusCode, 200, si.body);
  const runs = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs?page_size=1&foo=bar' });
  t.equal(runs.statusCode, 200, runs.body);
  // Declared parameters are still checked.
  const bad = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs?page_size=abc&foo=bar' });
  t.equal(bad.statusCode, 400);
});

t.test('POST /runs with a JSON body is 415 with a WES error body', async (t) => {
  const res = await call(t, app, {
    method: 'POST',
    url: '/ga4gh/wes/v1/runs',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ workflow_url: 'x.cwl', workflow_type: 'CWL', workflow_type_version: 'v1.0' }),
  });
  t.equal(res.statusCode, 415);
  t.equal(errorBody(res).status_code, 415);
  t.match(errorBody(res).msg, /multipart\/form-data/);
  const none = await call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
  t.equal(none.statusCode, 415, 'text/plain too');
  const runs = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' });
  t.same((runs.json() as { runs: unknown[] }).runs, [], 'no run was created');
});

t.test('a POST whose JSON body does not parse is 400 with a WES error body', async (t) => {
  for (const url of [`/ga4gh/wes/v1/runs/${UNKNOWN_RUN}/cancel`, '/ga4gh/wes/v1/runs']) {
    const res = await call(t, app, { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{"oops": ' });
    t.equal(res.statusCode, 400, url);
    t.equal(errorBody(res).status_code, 400);
    t.match(errorBody(res).msg, /JSON/);
  }
});

t.test('log routes', async (t) => {
  t.test('404 for an unknown run', async (t) => {
    for (const which of ['stdout', 'stderr']) {
      for (const id of [UNKNOWN_RUN, 'not-a-run-id']) {
        const res = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${id}/${which}` });
        t.equal(res.statusCode, 404, `${id} ${which}`);
        t.equal(errorBody(res).status_code, 404);
      }
    }
  });

  t.test('a finished run serves its stdout and stderr, with ranges', async (t) => {
    const res = await submit(
      t,
      app,
      { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: 'hello logs' }) },
      [{ filename: 'echo.cwl', content: echo }],
    );
    t.equal(res.statusCode, 200, res.body);
    const runId = (res.json() as { run_id: string }).run_id;
    t.equal(await waitForState(t, app, runId), 'COMPLETE');
    const runDir = path.join(app.ferry.config.workDir, runId);

    for (const which of ['stdout', 'stderr'] as const) {
      const onDisk = await fs.readFile(path.join(runDir, which), 'utf8');
      const whole = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/${which}` });
      t.equal(whole.statusCode, 200, `${which} is 200`);
      t.match(whole.headers['content-type'], /^text\/plain/);
      t.equal(whole.body, onDisk, `${which} is the engine's ${which}`);
      t.equal(whole.headers['accept-ranges'], 'bytes');
    }
    const stdout = await fs.readFile(path.join(runDir, 'stdout'));
    t.ok(stdout.length > 4, 'stdout has more than 4 bytes');
    t.match(stdout.toString(), /output\.txt/, 'cwltool printed its output object');

    const part = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stdout`, headers: { range: 'bytes=0-3' } });
    t.equal(part.statusCode, 206);
    t.equal(part.headers['content-range'], `bytes 0-3/${stdout.length}`);
    t.equal(part.headers['content-length'], '4');
    t.equal(part.rawPayload.toString('hex'), stdout.subarray(0, 4).toString('hex'));
    t.match(part.headers['content-type'], /^text\/plain/);

    const tail = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stdout`, headers: { range: 'bytes=-5' } });
    t.equal(tail.statusCode, 206);
    t.equal(tail.headers['content-range'], `bytes ${stdout.length - 5}-${stdout.length - 1}/${stdout.length}`);
    t.equal(tail.rawPayload.toString('hex'), stdout.subarray(stdout.length - 5).toString('hex'));

    const bad = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stdout`, headers: { range: `bytes=${stdout.length + 100}-` } });
    t.equal(bad.statusCode, 416);
    t.equal(errorBody(bad).status_code, 416);
    t.equal(bad.headers['content-range'], `bytes */${stdout.length}`);

    // The run log points at these routes, relative to itself.
    const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { stdout: string; stderr: string } };
    t.equal(new URL(log.run_log.stdout, `http://x/ga4gh/wes/v1/runs/${runId}`).pathname, `/toil/wes/v1/logs/${runId}/stdout`);
    t.equal(new URL(log.run_log.stderr, `http://x/ga4gh/wes/v1/runs/${runId}`).pathname, `/toil/wes/v1/logs/${runId}/stderr`);

    // While a log file is absent the route is 404, not 500.
    await fs.rm(path.join(runDir, 'stderr'));
    const absent = await call(t, app, { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stderr` });
    t.equal(absent.statusCode, 404);
    t.equal(errorBody(absent).status_code, 404);
  });
});

t.test('every operationId is bound to a backend method', async (t) => {
  const backend = app.ferry.backend;
  for (const id of operationIds) {
    t.type(backend.resolveOperationId(id), 'function', `${id} is bound`);
  }
  const specIds = app.ferry.api
    .getOperations()
    .map((o) => o.operationId)
    .sort();
  t.same(specIds, [...operationIds].sort(), 'the generated list matches the bundled spec');
  t.doesNotThrow(() => backend.assertComplete(), 'the real backend is complete');
  // Ids are typed; one that slips past the compiler is still refused.
  t.throws(() => backend.resolveOperationId('NoSuchOperation' as OperationId), /NoSuchOperation/);
});

t.test('a backend missing a method is refused', async (t) => {
  class Partial extends WESBackend {
    async GetServiceInfo(): Promise<unknown> {
      return { status: 200, body: {} };
    }
  }
  const partial = new Partial();
  t.type(partial.resolveOperationId('GetServiceInfo'), 'function');
  t.throws(() => partial.assertComplete(), /ListRuns/, 'assertComplete names what is missing');
  t.throws(() => partial.resolveOperationId('ListRuns'), /ListRuns/);

  // A ToilBackend subclass that loses one method.
  class Broken extends ToilBackend {}
  Object.defineProperty(Broken.prototype, 'GetTask', { value: undefined });
  const broken = new Broken((app.ferry.backend as unknown as { deps: ConstructorParameters<typeof ToilBackend>[0] }).deps);
  t.throws(() => broken.assertComplete(), /GetTask/);
  t.doesNotThrow(() => broken.assertComplete(['GetServiceInfo', 'ListRuns']), 'only the ids asked about are checked');

  // And the API layer will not start on it.
  const fastify = Fastify({ logger: false });
  t.teardown(() => fastify.close());
  await t.rejects(
    createWesApi(fastify, {
      backend: broken,
      workDir: await tempDir(t),
      limits: { maxAttachmentBytes: 1024, maxAttachments: 1, maxFieldBytes: 1024 },
      validateResponses: 'off',
      routeOptions: true,
    }),
    /GetTask/,
  );
});

t.test('--cors: preflights are answered and allowed origins get the header', async (t) => {
  const cors = await buildTestApp(t, { cors: true, corsOrigins: ['https://a.example'] });
  const preflight = await cors.inject({
    method: 'OPTIONS',
    url: '/ga4gh/wes/v1/runs',
    headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' },
  });
  t.equal(preflight.statusCode, 204);
  t.equal(preflight.headers['access-control-allow-origin'], 'https://a.example');
  const allowed = await call(t, cors, { method: 'GET', url: '/ga4gh/wes/v1/service-info', headers: { origin: 'https://a.example' } });
  t.equal(allowed.statusCode, 200);
  t.equal(allowed.headers['access-control-allow-origin'], 'https://a.example');
  const other = await call(t, cors, { method: 'GET', url: '/ga4gh/wes/v1/service-info', headers: { origin: 'https://evil.example' } });
  t.notOk(other.headers['access-control-allow-origin'], 'other origins get no CORS header');
});
