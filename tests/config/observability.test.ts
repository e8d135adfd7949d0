import path from 'node:path';
import t from 'tap';
import { loadConfig, usage } from '../../src/config/config.js';

const CWD = '/srv/ferry-cwd';
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env, CWD).config;

t.test('--metrics-listen: loopback 9464 by default, HOST:PORT, [IPv6]:PORT, off', async (t) => {
  const d = load([]);
  t.same(d.metricsListen, { host: '127.0.0.1', port: 9464 });
  t.equal(d.metricsListenGiven, false, 'the default: a taken port is passed over');
  t.same(load(['--metrics-listen=0.0.0.0:9100']).metricsListen, { host: '0.0.0.0', port: 9100 });
  t.same(load(['--metrics-listen', '[::1]:9464']).metricsListen, { host: '::1', port: 9464 });
  t.same(load(['--metrics-listen=localhost:0']).metricsListen, { host: 'localhost', port: 0 });
  t.equal(load(['--metrics-listen=off']).metricsListen, null);
  t.equal(load([], { FERRY_METRICS_LISTEN: 'off' }).metricsListen, null);
  t.equal(load(['--metrics-listen=127.0.0.1:9100']).metricsListenGiven, true);
  for (const bad of ['9464', '127.0.0.1', '127.0.0.1:99999', ':9464', '::1:9464', 'on']) {
    t.throws(() => load([`--metrics-listen=${bad}`]), { name: 'ConfigError', message: /--metrics-listen must be HOST:PORT/ }, bad);
  }
  t.equal(load([]).metricsOnApi, false);
  t.equal(load(['--metrics-on-api']).metricsOnApi, true);
  t.equal(load([], { FERRY_METRICS_ON_API: 'true' }).metricsOnApi, true);
});

t.test('--log-format, --log-file, --log-rotate', async (t) => {
  t.equal(load([]).logFormat, 'auto', 'pretty on a terminal, JSON otherwise');
  for (const f of ['json', 'pretty', 'auto'] as const) t.equal(load([`--log-format=${f}`]).logFormat, f);
  t.equal(load([], { FERRY_LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  t.throws(() => load(['--log-format=xml']), { name: 'ConfigError', message: /--log-format must be 'json', 'pretty' or 'auto'/ });
  t.equal(load(['--log-file=logs/ferry.log']).logFile, path.join(CWD, 'logs/ferry.log'));
  t.equal(load([], { FERRY_LOG_FILE: '/var/log/ferry.log', FERRY_LOG_ROTATE: '1' }).logRotate, true);
});

t.test('--api-docs', async (t) => {
  t.equal(load([]).apiDocs, true, 'on by default');
  t.equal(load(['--api-docs=off']).apiDocs, false);
  t.equal(load([], { FERRY_API_DOCS: 'off' }).apiDocs, false);
  t.throws(() => load(['--api-docs=maybe']), { name: 'ConfigError', message: /--api-docs must be 'on' or 'off'/ });
});

t.test('the usage names them', async (t) => {
  for (const flag of ['--log-format', '--log-file', '--log-rotate', '--metrics-listen', '--metrics-on-api', '--api-docs', '--swagger_ui', '--dest_bucket_base', '--bypass_celery']) t.match(usage, flag);
});
