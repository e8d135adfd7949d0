import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config/config.js';

/**
 * `toil server`'s command line, read by Ferry: every one of Toil 5.9's 23
 * server options (its own and Toil's logging options, as `toil server
 * --help` lists them), with the arity argparse gives each.
 */
const CWD = '/srv/toil-cwd';
const load = (argv: string[]) => loadConfig(argv, {}, CWD).config;

t.test('the options Ferry already had, in Toil\'s spelling', async (t) => {
  const c = load([
    '--host', '127.0.0.2', '--port', '9001', '--cors', '--cors_origins', 'https://a.example',
    '--work_dir', 'workflows', '--state_store', '/var/toil-state', '--opt=--logLevel=CRITICAL', '--wes_dialect', 'agc', '--logLevel', 'WARNING',
  ]);
  t.equal(c.host, '127.0.0.2');
  t.equal(c.port, 9001);
  t.equal(c.cors, true);
  t.same(c.corsOrigins, ['https://a.example']);
  t.equal(c.workDir, path.join(CWD, 'workflows'));
  t.equal(c.stateStore, '/var/toil-state');
  t.same(c.engineOptions, ['--logLevel=CRITICAL'], 'a value that looks like a Toil option stays a value');
  t.equal(c.wesDialect, 'agc');
  t.equal(c.logLevel, 'warn');
  t.equal(loadConfig(['--version'], {}, CWD).version, true);
});

t.test('-o is --opt, in every way argparse reads it', async (t) => {
  t.same(load(['-o', '--retryCount=2']).engineOptions, ['--retryCount=2'], '-o VALUE');
  t.same(load(['-o=--retryCount=2']).engineOptions, ['--retryCount=2'], '-o=VALUE (argparse drops the =)');
  t.same(load(['-o--retryCount=2']).engineOptions, ['--retryCount=2'], '-oVALUE');
  t.same(load(['-o', '--logDebug', '--opt=--clean=always']).engineOptions, ['--logDebug', '--clean=always'], "the value of -o is not read as Toil's --logDebug");
  t.equal(load(['-o', '--logDebug']).logLevel, 'info');
});

t.test("Toil's level switches: the last level given wins, --logLevel included", async (t) => {
  const cases: [string[], string][] = [
    [['--logCritical'], 'fatal'],
    [['--logError'], 'error'],
    [['--logWarning'], 'warn'],
    [['--logInfo'], 'info'],
    [['--logDebug'], 'debug'],
    [['--logOff'], 'fatal'],
    [['--logDebug', '--logError'], 'error'],
    [['--logError', '--logLevel', 'Debug'], 'debug'],
    [['--logLevel=debug', '--logWarning'], 'warn'],
    [['--log-level', 'trace', '--logInfo'], 'info'],
  ];
  for (const [argv, level] of cases) t.equal(load(argv).logLevel, level, argv.join(' '));
  t.equal(loadConfig(['--logDebug'], { FERRY_LOG_LEVEL: 'error' }, CWD).config.logLevel, 'debug', 'the command line beats the environment');
  t.throws(() => load(['--logDebug=yes']), ConfigError, 'a switch takes no value');
  t.throws(() => load(['--logLevel', 'LOUD']), { name: 'ConfigError', message: /--log-level must be one of/ });
});

t.test('--logFile and --rotatingLogging', async (t) => {
  const c = load(['--logFile', 'ferry.log', '--rotatingLogging']);
  t.equal(c.logFile, path.join(CWD, 'ferry.log'));
  t.equal(c.logRotate, true);
  t.equal(load(['--logFile=/var/log/ferry.log']).logRotate, false);
  t.equal(load(['--rotatingLogging']).logFile, undefined, 'the switch alone is taken, as Toil takes it (nothing to rotate)');
});

t.test('--debug: debug logs and responses checked, unless a level is given', async (t) => {
  const c = load(['--debug']);
  t.equal(c.logLevel, 'debug');
  t.equal(c.validateResponses, 'log');
  t.match(c.startupNotes.join('\n'), /--debug/);
  t.equal(load(['--debug', '--logWarning']).logLevel, 'warn');
});

t.test('--swagger_ui: the docs also at Toil\'s path', async (t) => {
  t.equal(load([]).toilSwaggerUi, false);
  t.equal(load([]).apiDocs, true, 'the docs are on by default');
  const c = load(['--swagger_ui']);
  t.equal(c.toilSwaggerUi, true);
  t.match(c.startupNotes.join('\n'), /\/ga4gh\/wes\/v1\/ui\//);
});

t.test('--bypass_celery and -w/--workers: taken, and what Ferry does instead is noted', async (t) => {
  t.match(load(['--bypass_celery']).startupNotes.join('\n'), /Ferry needs no Celery/);
  for (const argv of [['-w', '4'], ['--workers', '4'], ['--workers=4'], ['-w4'], ['-w=4']]) {
    t.match(load(argv).startupNotes.join('\n'), /--workers 4: Ferry serves every request from one process/, argv.join(' '));
  }
  for (const bad of [['-w', '0'], ['--workers=many']]) t.throws(() => load(bad), { name: 'ConfigError', message: /--workers must be a whole number/ }, bad.join(' '));
  t.same(load([]).startupNotes, [], 'nothing to say without them');
});

t.test('--dest_bucket_base: refused, in one line saying why', async (t) => {
  let err: unknown;
  try {
    load(['--dest_bucket_base', 's3://bucket/outputs']);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  t.match((err as Error).message, /^--dest_bucket_base s3:\/\/bucket\/outputs: Ferry keeps each run's outputs in its run folder .*no object store/);
  t.notOk((err as Error).message.includes('\n'), 'one line');
  t.equal((err as ConfigError).showUsage, false, 'no usage text after it');
  let unknown: unknown;
  try {
    load(['--no-such-toil-flag']);
  } catch (e) {
    unknown = e;
  }
  t.equal((unknown as ConfigError).showUsage, true, 'an unknown flag shows the usage');
});

t.test('all 23 at once (Toil\'s own example shapes)', async (t) => {
  const argv = [
    '--debug', '--bypass_celery', '--host=127.0.0.1', '--port=8081', '--swagger_ui', '--cors', '--cors_origins=*', '-w', '2',
    '--work_dir=/w', '--state_store=/w/state', '--opt=--logLevel=CRITICAL', '-o', '--workDir=/tmp', '--wes_dialect=standard',
    '--logCritical', '--logError', '--logWarning', '--logInfo', '--logDebug', '--logOff', '--logLevel=INFO', '--logFile=/tmp/f.log', '--rotatingLogging',
  ];
  const c = load(argv);
  t.equal(c.logLevel, 'info', 'the last level: --logLevel=INFO');
  t.same(c.engineOptions, ['--logLevel=CRITICAL', '--workDir=/tmp']);
  t.equal(c.startupNotes.length, 4, '--debug, --bypass_celery, --workers, --swagger_ui noted');
  t.throws(() => load([...argv, '--dest_bucket_base=s3://b']), ConfigError);
});
