import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { ferryVersion } from '../src/api/spec.js';
import { runFerry, spawnFerry, startFerry } from './ferry-process.js';
import { tempDir } from './helper.js';

// `ferry serve` in place of `toil server`, the command line kept: real server
// processes started with Toil 5.9's server options (tests/config/toil-server.test.ts
// reads all 23 of them; here they are run).

t.test("Toil's options Ferry has nothing to do for are taken and noted; the rest mean what they mean in Toil", async (t) => {
  const dir = await tempDir(t);
  const logFile = path.join(dir, 'toil-server.log');
  const ferry = await startFerry(t, [
    '--debug', '--bypass_celery', '-w', '3', '--swagger_ui', '--cors', '--cors_origins', 'https://a.example', '--wes_dialect', 'agc',
    '--opt=toil:--retryCount=2', '--logInfo', '--logFile', logFile, '--rotatingLogging', '--host', '127.0.0.1', '--port', '0',
    '--work_dir', path.join(dir, 'workflows'), '--state_store', path.join(dir, 'state'), '--metrics-listen', 'off',
  ]);
  const notes = ferry.logLines().map((l) => String(l.msg));
  t.ok(notes.some((m) => m.startsWith('--debug: logging at debug level')), '--debug noted');
  t.ok(notes.some((m) => m.startsWith('--bypass_celery: Ferry needs no Celery')), '--bypass_celery noted');
  t.ok(notes.some((m) => m.startsWith('--workers 3: Ferry serves every request from one process')), '-w 3 noted, saying what Ferry does instead');
  t.ok(notes.some((m) => m.startsWith("--swagger_ui: the API docs are also at Toil's path")), '--swagger_ui noted');
  t.notOk(ferry.logLines().some((l) => l.level === 20), '--logInfo after --debug: info, as the last level given');

  const ui = await fetch(`${ferry.url}/ga4gh/wes/v1/ui/`);
  t.equal(ui.status, 200, "--swagger_ui: Toil's docs path");
  t.match(await ui.text(), /swagger-ui-bundle\.js/);
  const si = await fetch(`${ferry.url}/ga4gh/wes/v1/service-info`, { headers: { origin: 'https://a.example' } });
  t.equal(si.headers.get('access-control-allow-origin'), 'https://a.example', '--cors --cors_origins');
  const info = (await si.json()) as { tags: Record<string, string>; default_workflow_engine_parameters: { name: string; default_value: string }[] };
  t.equal(info.tags.wes_dialect, 'agc', '--wes_dialect');
  t.same(info.default_workflow_engine_parameters, [{ name: 'toil:--retryCount', type: 'string', default_value: '2' }], '--opt');
  t.ok((await fs.stat(path.join(dir, 'state'))).isDirectory(), '--state_store');
  t.ok((await fs.stat(path.join(dir, 'workflows'))).isDirectory(), '--work_dir');
  const logged = await fs.readFile(logFile, 'utf8');
  t.match(logged, /"msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"/, '--logFile: the log is written there too, as JSON lines');
  t.match(logged, /"msg":"--bypass_celery: /);
});

t.test("Toil's level switches: the last one wins (--logDebug shows debug lines, in --logFile too)", async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${createHash('sha256').update('right').digest('hex')}\n`);
  const logFile = path.join(dir, 'ferry.log');
  const ferry = await startFerry(t, ['--logError', '--logDebug', '--logFile', logFile, '--auth-tokens', tokens, '--port', '0', '--work_dir', path.join(dir, 'w'), '--metrics-listen', 'off']);
  const res = await fetch(`${ferry.url}/ga4gh/wes/v1/runs`, { headers: { authorization: 'Bearer wrong' } });
  t.equal(res.status, 401);
  await ferry.waitFor(/credentials: unknown token/);
  t.match(await fs.readFile(logFile, 'utf8'), /"level":20,.*"msg":"credentials: unknown token"/, 'a debug line, in the file too');
});

t.test('--logOff: only critical lines (none when all is well)', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort();
  const ferry = spawnFerry(['serve', '--logOff', '--port', String(port), '--work_dir', path.join(dir, 'w'), '--metrics-listen', 'off']);
  t.teardown(() => void ferry.child.kill());
  let status = 0;
  for (let i = 0; i < 600 && status !== 200; i++) {
    status = await fetch(`http://127.0.0.1:${port}/ga4gh/wes/v1/service-info`).then((r) => r.status, () => 0);
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(status, 200, 'it serves');
  ferry.child.kill('SIGTERM');
  const { code, stdout, stderr } = await ferry.done;
  t.equal(code, 0);
  t.equal(stdout, '', 'nothing logged');
  t.equal(stderr, '');
});

t.test('--dest_bucket_base: the start is refused in one line saying why', async (t) => {
  const dir = await tempDir(t);
  const { code, stdout, stderr } = await runFerry(['serve', '--dest_bucket_base', 's3://bucket/outputs', '--work_dir', path.join(dir, 'w')]);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.equal(stderr.trim().split('\n').length, 1, 'one line');
  t.match(stderr, /^ferry: --dest_bucket_base s3:\/\/bucket\/outputs: .*no object store/);
  await t.rejects(fs.stat(path.join(dir, 'w')), 'nothing made');
});

t.test('--version, as toil server prints its own', async (t) => {
  const { code, stdout } = await runFerry(['serve', '--version']);
  t.equal(code, 0);
  t.equal(stdout.trim(), ferryVersion());
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
