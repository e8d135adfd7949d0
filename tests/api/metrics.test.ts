import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import t, { type Test } from 'tap';
import { buildTestApp, multipart, tempDir, workflowsDir } from '../helper.js';
import { runFerry, startFerry } from '../ferry-process.js';

// Ferry's Prometheus metrics, read with an independent parser of the text
// format (not prom-client's own), before and after things happen.

type Families = ReturnType<typeof parsePrometheus>;

/**
 * The text parsed twice: as it is (every family typed), and with the
 * histograms' TYPE lines left out, because this parser merges the series of
 * a labelled histogram into one; untyped, each `_count` series stands alone.
 */
function parse(text: string): Families {
  const typed = parsePrometheus(text);
  const histograms = new Set(typed.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name));
  const plain = parsePrometheus(text.split('\n').filter((line) => !/^# TYPE \S+ histogram$/.test(line)).join('\n'));
  return [...typed.filter((f) => !histograms.has(f.name)), ...plain.filter((f) => f.type === 'UNTYPED'), ...typed.filter((f) => histograms.has(f.name))];
}

/** The value of a counter or gauge sample (0 when the sample is not there), or how many a histogram has observed. */
function value(families: Families, name: string, labels: Record<string, string> = {}): number {
  const histogram = families.some((f) => f.name === name && f.type === 'HISTOGRAM');
  // Untyped series come as one family per run of lines: a `_count` series may be in several.
  const samples = families.filter((f) => (histogram ? f.name === `${name}_count` && f.type === 'UNTYPED' : f.name === name)).flatMap((f) => f.metrics);
  const sample = samples.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample ? Number(sample.value) : 0;
}

const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));

async function post(base: string, fields: Record<string, string>): Promise<Response> {
  const { payload, headers } = multipart(fields, [{ filename: 'echo.cwl', content: echo }]);
  return fetch(`${base}/ga4gh/wes/v1/runs`, { method: 'POST', body: payload, headers });
}

t.test('a real server: the metrics listener, and values that move with a submission, a refusal and a run', async (t) => {
  const workDir = await tempDir(t);
  const ferry = await startFerry(t, ['--port', '0', '--work-dir', workDir, '--metrics-listen', '127.0.0.1:0']);
  const [, metricsUrl] = await ferry.waitFor(/metrics listening at (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
  const scrape = async (): Promise<Families> => {
    const res = await fetch(metricsUrl!);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return parse(await res.text());
  };
  const before = await scrape();
  for (const state of ['QUEUED', 'RUNNING', 'COMPLETE', 'EXECUTOR_ERROR', 'CANCELED']) t.equal(value(before, 'ferry_runs', { state }), 0, `no run ${state} yet`);
  t.equal(value(before, 'ferry_run_queue_length'), 0);
  t.equal(value(before, 'ferry_submissions_total', { outcome: 'accepted', status_code: '200' }), 0, 'shown at zero from the start');
  t.ok(before.some((f) => f.name === 'process_cpu_seconds_total'), "and the process's own metrics");

  const refused = await post(ferry.url, { workflow_type: 'NOPE', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl' });
  t.equal(refused.status, 400);
  const accepted = await post(ferry.url, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"metrics"}' });
  t.equal(accepted.status, 200);
  const { run_id: runId } = (await accepted.json()) as { run_id: string };
  let state = '';
  for (let i = 0; i < 1200 && !['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR'].includes(state); i++) {
    state = ((await (await fetch(`${ferry.url}/ga4gh/wes/v1/runs/${runId}/status`)).json()) as { state: string }).state;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(state, 'COMPLETE');

  const after = await scrape();
  t.equal(value(after, 'ferry_submissions_total', { outcome: 'accepted', status_code: '200' }), 1, 'one submission accepted');
  t.equal(value(after, 'ferry_submissions_total', { outcome: 'refused', status_code: '400' }), 1, 'one refused, by its status code');
  t.equal(value(after, 'ferry_http_request_duration_seconds', { operation: 'RunWorkflow', status_code: '200' }), 1, 'requests timed by operationId');
  t.equal(value(after, 'ferry_http_request_duration_seconds', { operation: 'RunWorkflow', status_code: '400' }), 1);
  t.ok(value(after, 'ferry_http_request_duration_seconds', { operation: 'GetRunStatus', status_code: '200' }) >= 1, 'the polling too');
  t.equal(value(after, 'ferry_runs', { state: 'COMPLETE' }), 1, 'runs by state');
  t.equal(value(after, 'ferry_runs', { state: 'QUEUED' }), 0);
  t.equal(value(after, 'ferry_run_duration_seconds', { engine: 'cwltool', outcome: 'COMPLETE' }), 1, 'the run\'s duration, by engine and outcome');
  t.equal(value(after, 'ferry_run_queue_length'), 0);

  t.equal((await fetch(`${ferry.url}/metrics`)).status, 404, 'not on the API port unless asked (--metrics-on-api)');
  t.equal((await fetch(metricsUrl!.replace(/\/metrics$/, '/other'))).status, 404, 'the listener serves /metrics only');
  t.equal((await fetch(metricsUrl!, { method: 'POST' })).status, 405);
});

t.test('--metrics-on-api: admins only, and each failed credential counted by reason', async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  await fs.writeFile(tokens, `ann ${sha('ann-token')}\nbob ${sha('bob-token')}\n`);
  const app = await buildTestApp(t, { authTokens: tokens, admins: ['ann'], metricsOnApi: true });
  const get = (token?: string) => app.inject({ url: '/metrics', headers: token ? { authorization: `Bearer ${token}` } : {} });
  t.equal((await get()).statusCode, 401, 'no credentials');
  t.equal((await get('wrong')).statusCode, 401, 'bad credentials');
  const user = await get('bob-token');
  t.equal(user.statusCode, 403, "a user's credentials");
  t.same(user.json(), { msg: 'The metrics are for admins.', status_code: 403 });
  const admin = await get('ann-token');
  t.equal(admin.statusCode, 200, "an admin's");
  const families = parse(admin.body);
  t.equal(value(families, 'ferry_auth_failures_total', { reason: 'no_credentials' }), 1);
  t.equal(value(families, 'ferry_auth_failures_total', { reason: 'bad_credentials' }), 1);
  t.equal(value(families, 'ferry_auth_failures_total', { reason: 'not_admin' }), 1);
  t.equal((await app.inject({ url: '/ga4gh/wes/v1/runs' })).statusCode, 401);
  t.equal(value(parse((await get('ann-token')).body), 'ferry_auth_failures_total', { reason: 'no_credentials' }), 2, 'a run route refused counts too');
  t.equal((await app.inject({ url: '/ga4gh/wes/v1/service-info' })).statusCode, 200);
  t.equal(value(parse((await get('ann-token')).body), 'ferry_auth_failures_total', { reason: 'no_credentials' }), 2, 'a public route asks for none');
});

/** A port some other listener holds for the duration of the test. */
async function hold(t: Pick<Test, 'teardown'>, port = 0): Promise<number | null> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port }, () => resolve(true));
  });
  if (!ok) return null;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

t.test('a metrics address that is taken: asked for, the start stops in one line; the default, a warning', async (t) => {
  const workDir = await tempDir(t);
  const busy = (await hold(t))!;
  const res = await runFerry(['serve', '--port', '0', '--work-dir', workDir, '--metrics-listen', `127.0.0.1:${busy}`]);
  t.equal(res.code, 1);
  t.match(res.stderr, new RegExp(`^ferry: --metrics-listen 127\\.0\\.0\\.1:${busy}: .*EADDRINUSE`));
  t.equal(res.stderr.trim().split('\n').length, 1, 'one line');

  // The default port (9464) held here, or by another server on this machine: either way it is taken.
  await hold(t, 9464);
  const ferry = await startFerry(t, ['--port', '0', '--work-dir', workDir]);
  t.match(ferry.output(), /metrics not served: the default address is taken/);
  t.equal((await fetch(`${ferry.url}/ga4gh/wes/v1/service-info`)).status, 200, 'and the server serves');
  await ferry.stop();

  const off = await startFerry(t, ['--port', '0', '--work-dir', workDir, '--metrics-listen', 'off']);
  t.notMatch(off.output(), /metrics/, 'off: no listener, nothing said');
});
