import path from 'node:path';
import t from 'tap';
import { ConfigError, defaultConfig, loadConfig, makeConfig, usage } from '../src/config/config.js';

const CWD = '/srv/ferry-test-cwd';
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env, CWD).config;

t.test('defaults', async (t) => {
  const { config, version, help } = loadConfig([], {}, CWD);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.port, 8080);
  t.equal(config.workDir, path.join(CWD, 'ferry-work'), './ferry-work resolved against the cwd');
  t.equal(config.stateStore, path.join(CWD, 'ferry-work', 'state_store'));
  t.same(config.engineOptions, []);
  t.equal(config.wesDialect, 'standard');
  t.equal(config.cors, false);
  t.same(config.corsOrigins, ['*']);
  t.equal(config.logLevel, 'info');
  t.equal(config.validateResponses, 'off');
  t.equal(config.maxConcurrentRuns, defaultConfig.maxConcurrentRuns);
  t.equal(config.defaultPageSize, 100);
  t.equal(config.maxPageSize, 1000);
  t.same(config.allowedFileRoots, []);
  t.equal(config.allowPrivateDownloads, false);
  t.equal(config.cancelGraceMs, 5000);
  t.equal(version, false);
  t.equal(help, false);
  t.ok(path.isAbsolute(loadConfig([], {}).config.workDir), 'with the real cwd the work dir is absolute too');
});

t.test("Ferry's own flags", async (t) => {
  const c = load([
    '--host=0.0.0.0',
    '--port',
    '9090',
    '--work-dir',
    'runs',
    '--state-store=/var/state',
    '--cors',
    '--cors-origins',
    'https://a.example, https://b.example',
    '--validate-responses',
    '--max-concurrent-runs=8',
    '--default-page-size=10',
    '--max-page-size=20',
    '--max-attachment-bytes=1024',
    '--max-attachments=3',
    '--allowed-file-root=data',
    '--allowed-file-root=/abs/root',
    '--cancel-grace-seconds=2',
    '--allow-private-downloads',
    '--auth-tokens=tokens.txt',
    '--auth-htpasswd=/etc/ferry/htpasswd',
    '--admin=ann',
    '--admin=bob',
    '--auth-instructions-url=https://wes.example/how',
  ]);
  t.equal(c.host, '0.0.0.0');
  t.equal(c.authTokens, path.join(CWD, 'tokens.txt'));
  t.equal(c.authHtpasswd, '/etc/ferry/htpasswd');
  t.same(c.admins, ['ann', 'bob']);
  t.equal(c.authInstructionsUrl, 'https://wes.example/how');
  t.equal(c.noAuth, false);
  t.equal(c.port, 9090);
  t.equal(c.workDir, path.join(CWD, 'runs'));
  t.equal(c.stateStore, '/var/state');
  t.equal(c.cors, true);
  t.same(c.corsOrigins, ['https://a.example', 'https://b.example']);
  t.equal(c.validateResponses, 'log');
  t.equal(c.maxConcurrentRuns, 8);
  t.equal(c.defaultPageSize, 10);
  t.equal(c.maxPageSize, 20);
  t.equal(c.maxAttachmentBytes, 1024);
  t.equal(c.maxAttachments, 3);
  t.same(c.allowedFileRoots, [path.join(CWD, 'data'), '/abs/root']);
  t.equal(c.cancelGraceMs, 2000);
  t.equal(c.allowPrivateDownloads, true);
  t.equal(load(['--work-dir=/w']).stateStore, '/w/state_store', 'the state store follows the work dir');
  t.equal(load(['--state-store=file:///var/st']).stateStore, '/var/st', 'file:// state store URLs');
  t.equal(loadConfig(['--version'], {}, CWD).version, true);
  t.equal(loadConfig(['-h'], {}, CWD).help, true);
});

t.test("Toil's underscore spellings", async (t) => {
  const c = load(['--work_dir=/toil/work', '--state_store', '/toil/state', '--wes_dialect=agc', '--cors_origins=https://x.example', '--logLevel=DEBUG']);
  t.equal(c.workDir, '/toil/work');
  t.equal(c.stateStore, '/toil/state');
  t.equal(c.wesDialect, 'agc');
  t.same(c.corsOrigins, ['https://x.example']);
  t.equal(c.logLevel, 'debug');
  t.equal(load(['--logLevel', 'WARNING']).logLevel, 'warn', "Python's WARNING");
  t.equal(load(['--logLevel=CRITICAL']).logLevel, 'fatal', "Python's CRITICAL");
  t.equal(load(['--log-level=error']).logLevel, 'error');
  t.equal(load(['--work_dir', 'rel']).workDir, path.join(CWD, 'rel'));
  // Values are never rewritten, only flag names.
  t.equal(load(['--work_dir=/a_b/c_d']).workDir, '/a_b/c_d');
  t.same(load(['--opt=toil:--max_x=a_b']).engineOptions, ['toil:--max_x=a_b']);
});

t.test('environment variables', async (t) => {
  const env = {
    FERRY_HOST: '0.0.0.0',
    FERRY_PORT: '9000',
    FERRY_WORK_DIR: '/env/work',
    FERRY_WES_DIALECT: 'agc',
    FERRY_CORS: 'true',
    FERRY_CORS_ORIGINS: 'https://e.example',
    FERRY_LOG_LEVEL: 'warn',
    FERRY_OPTS: 'toil:--retryCount=2; --debug',
    FERRY_ALLOWED_FILE_ROOTS: '/r1:/r2',
    FERRY_MAX_CONCURRENT_RUNS: '3',
    FERRY_ALLOW_PRIVATE_DOWNLOADS: 'yes',
    FERRY_CANCEL_GRACE_SECONDS: '7',
    FERRY_VALIDATE_RESPONSES: '1',
    FERRY_NO_AUTH: '1',
    FERRY_ADMINS: 'ann:bob',
  };
  const c = load([], env);
  t.equal(c.host, '0.0.0.0');
  t.equal(c.port, 9000);
  t.equal(c.workDir, '/env/work');
  t.equal(c.stateStore, '/env/work/state_store');
  t.equal(c.wesDialect, 'agc');
  t.equal(c.cors, true);
  t.same(c.corsOrigins, ['https://e.example']);
  t.equal(c.logLevel, 'warn');
  t.same(c.engineOptions, ['toil:--retryCount=2', '--debug']);
  t.same(c.allowedFileRoots, ['/r1', '/r2']);
  t.equal(c.maxConcurrentRuns, 3);
  t.equal(c.allowPrivateDownloads, true);
  t.equal(c.cancelGraceMs, 7000);
  t.equal(c.validateResponses, 'log');
  t.equal(c.noAuth, true);
  t.same(c.admins, ['ann', 'bob']);
  t.equal(load([], { FERRY_CORS: 'off' }).cors, false);
  t.equal(load([], { FERRY_PORT: '' }).port, 8080, 'an empty variable counts as unset');

  t.test('flags beat the environment', async (t) => {
    const f = load(['--port=9001', '--work_dir=/flag/work', '--opt=cwltool:--debug', '--wes-dialect=standard', '--logLevel=ERROR'], env);
    t.equal(f.port, 9001);
    t.equal(f.workDir, '/flag/work');
    t.same(f.engineOptions, ['cwltool:--debug'], '--opt replaces FERRY_OPTS');
    t.equal(f.wesDialect, 'standard');
    t.equal(f.logLevel, 'error');
    t.equal(f.host, '0.0.0.0', 'what no flag sets still comes from the environment');
  });
});

t.test('--opt is repeatable and keeps order', async (t) => {
  const c = load(['--opt', 'toil:--retryCount=2', '--opt=--debug', '--opt=cwltool:--on-error=continue']);
  t.same(c.engineOptions, ['toil:--retryCount=2', '--debug', 'cwltool:--on-error=continue']);
  const roots = load(['--allowed-file-root=/a', '--allowed-file-root', '/b']);
  t.same(roots.allowedFileRoots, ['/a', '/b']);
});

t.test('bad values throw ConfigError', async (t) => {
  const bad: [string[], NodeJS.ProcessEnv?][] = [
    [['--port', 'abc']],
    [['--port=-1']],
    [['--port=65536']],
    [['--port=80.5']],
    [['--wes-dialect', 'xyz']],
    [['--wes_dialect=xyz']],
    [['--no-such-flag']],
    [['--work-dir']],
    [['positional']],
    [['--log-level=loud']],
    [['--max-concurrent-runs=0']],
    [['--default-page-size=0']],
    [['--default-page-size=50', '--max-page-size=10']],
    [['--max-attachment-bytes=1k']],
    [['--cancel-grace-seconds=-1']],
    [['--state-store=s3://bucket/prefix']],
    [['--opt=garbage']],
    [['--cors=yes']],
    [[], { FERRY_PORT: 'abc' }],
    [[], { FERRY_WES_DIALECT: 'xyz' }],
    [[], { FERRY_CORS: 'maybe' }],
    [[], { FERRY_OPTS: 'nope' }],
  ];
  for (const [argv, env] of bad) {
    const label = `${argv.join(' ')} ${JSON.stringify(env ?? {})}`;
    let thrown: unknown = null;
    try {
      loadConfig(argv, env ?? {}, CWD);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof ConfigError, `${label}: throws ConfigError (got ${String(thrown)})`);
  }
  try {
    loadConfig(['--port', 'abc'], {}, CWD);
  } catch (err) {
    t.match((err as Error).message, /port/, 'the message names the flag');
  }
});

t.test('makeConfig', async (t) => {
  const c = makeConfig({ workDir: 'rel-work', port: 1 });
  t.equal(c.workDir, path.resolve('rel-work'));
  t.equal(c.stateStore, path.join(path.resolve('rel-work'), 'state_store'));
  t.equal(c.port, 1);
  t.equal(c.host, defaultConfig.host);
});

t.test('without authentication, only a loopback address is served unless --no-auth says so', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
    t.equal(load([`--host=${host}`]).host, host, `${host} needs no authentication`);
  }
  for (const host of ['0.0.0.0', '::', '192.0.2.7', 'wes.example']) {
    t.throws(() => load([`--host=${host}`]), { name: 'ConfigError', message: /--host .*--auth-htpasswd, --auth-tokens, --oidc-issuer.*--no-auth/ }, `${host} refused, saying what to do`);
    t.equal(load([`--host=${host}`, '--no-auth']).noAuth, true, `${host} with --no-auth`);
    t.equal(load([`--host=${host}`, '--auth-tokens=t']).host, host, `${host} with tokens`);
    t.equal(load([`--host=${host}`, '--auth-htpasswd=h']).host, host, `${host} with an htpasswd file`);
    t.equal(load([`--host=${host}`, '--oidc-issuer=https://login.example', '--oidc-audience=ferry']).host, host, `${host} with an OIDC issuer`);
  }
});

t.test('OpenID Connect: flags, environment, and what they need', async (t) => {
  const issuer = 'https://login.example/realms/wes';
  const c = load([
    `--oidc-issuer=${issuer}`,
    '--oidc-audience=ferry',
    '--oidc-jwks-uri=https://login.example/keys',
    '--oidc-user-claim=preferred_username',
    '--oidc-admin-claim=groups=wes-admins',
    '--oidc-admin-claim=https://wes.example/role=a=b',
    '--host=0.0.0.0',
  ]);
  t.equal(c.oidcIssuer, issuer, 'kept exactly, as tokens carry it');
  t.equal(c.oidcAudience, 'ferry');
  t.equal(c.oidcJwksUri, 'https://login.example/keys');
  t.equal(c.oidcUserClaim, 'preferred_username');
  t.same(c.oidcAdminClaims, [{ claim: 'groups', value: 'wes-admins' }, { claim: 'https://wes.example/role', value: 'a=b' }], 'split at the first =');
  t.equal(c.host, '0.0.0.0', 'an issuer is authentication: a non-loopback host is served');

  const e = load([], {
    FERRY_OIDC_ISSUER: `${issuer}/`,
    FERRY_OIDC_AUDIENCE: 'ferry',
    FERRY_OIDC_USER_CLAIM: 'email',
    FERRY_OIDC_ADMIN_CLAIMS: 'https://wes.example/roles=admin; groups=ops',
    FERRY_HOST: 'wes.example',
  });
  t.equal(e.oidcIssuer, `${issuer}/`);
  t.equal(e.oidcJwksUri, undefined, 'default: from the discovery document');
  t.equal(e.oidcUserClaim, 'email');
  t.same(e.oidcAdminClaims, [{ claim: 'https://wes.example/roles', value: 'admin' }, { claim: 'groups', value: 'ops' }], "';'-separated: claim names may hold colons");

  const d = load([]);
  t.equal(d.oidcIssuer, undefined);
  t.equal(d.oidcUserClaim, 'sub');
  t.same(d.oidcAdminClaims, []);
  t.equal(load([`--oidc-issuer=http://127.0.0.1:9000`, '--oidc-audience=a']).oidcIssuer, 'http://127.0.0.1:9000', 'http to loopback');
  t.equal(load([`--oidc-issuer=http://localhost/x`, '--oidc-audience=a']).oidcIssuer, 'http://localhost/x');

  t.throws(() => load([`--oidc-issuer=${issuer}`]), { name: 'ConfigError', message: /--oidc-audience/ }, 'an issuer needs an audience');
  t.throws(() => load([`--oidc-issuer=${issuer}`, '--oidc-audience=']), { name: 'ConfigError', message: /--oidc-audience/ });
  for (const flag of ['--oidc-audience=a', '--oidc-jwks-uri=https://k.example', '--oidc-user-claim=email', '--oidc-admin-claim=a=b']) {
    t.throws(() => load([flag]), { name: 'ConfigError', message: /need --oidc-issuer/ }, `${flag} without an issuer`);
  }
  for (const bad of ['http://login.example', 'login.example', 'ftp://login.example', '']) {
    t.throws(() => load([`--oidc-issuer=${bad}`, '--oidc-audience=a']), { name: 'ConfigError', message: /https/ }, `issuer '${bad}'`);
  }
  t.throws(() => load([`--oidc-issuer=${issuer}`, '--oidc-audience=a', '--oidc-jwks-uri=http://k.example']), { name: 'ConfigError', message: /--oidc-jwks-uri must be an https URL/ });
  for (const bad of ['groups', '=admins', 'groups=']) {
    t.throws(() => load([`--oidc-issuer=${issuer}`, '--oidc-audience=a', `--oidc-admin-claim=${bad}`]), { name: 'ConfigError', message: /NAME=VALUE/ }, `admin claim '${bad}'`);
  }
});

t.test('--max-submissions-per-minute', async (t) => {
  t.equal(load([]).maxSubmissionsPerMinute, 0, 'no limit by default');
  t.equal(load(['--max-submissions-per-minute=10']).maxSubmissionsPerMinute, 10);
  t.equal(load([], { FERRY_MAX_SUBMISSIONS_PER_MINUTE: '3' }).maxSubmissionsPerMinute, 3);
  t.equal(load(['--max_submissions_per_minute', '4'], { FERRY_MAX_SUBMISSIONS_PER_MINUTE: '3' }).maxSubmissionsPerMinute, 4, 'the flag wins');
  t.throws(() => load(['--max-submissions-per-minute=-1']), ConfigError);
  t.throws(() => load([], { FERRY_MAX_SUBMISSIONS_PER_MINUTE: 'lots' }), ConfigError);
  t.match(usage, /--max-submissions-per-minute N .*FERRY_MAX_SUBMISSIONS_PER_MINUTE/);
});

t.test('--sandbox and --sandbox-network', async (t) => {
  t.same([load([]).sandbox, load([]).sandboxNetwork], ['auto', true], 'bubblewrap when it works, with the network, by default');
  for (const mode of ['auto', 'bwrap', 'none'] as const) t.equal(load([`--sandbox=${mode}`]).sandbox, mode);
  t.equal(load([], { FERRY_SANDBOX: 'none' }).sandbox, 'none');
  t.equal(load(['--sandbox', 'bwrap'], { FERRY_SANDBOX: 'none' }).sandbox, 'bwrap', 'the flag wins');
  t.equal(load(['--sandbox-network=off']).sandboxNetwork, false);
  t.equal(load([], { FERRY_SANDBOX_NETWORK: 'off' }).sandboxNetwork, false);
  t.equal(load(['--sandbox_network', 'on'], { FERRY_SANDBOX_NETWORK: 'off' }).sandboxNetwork, true);
  t.throws(() => load(['--sandbox=docker']), { name: 'ConfigError', message: /--sandbox must be 'auto', 'bwrap' or 'none', got 'docker'/ });
  t.throws(() => load(['--sandbox-network=yes']), { name: 'ConfigError', message: /--sandbox-network must be 'on' or 'off'/ });
  t.match(usage, /--sandbox auto\|bwrap\|none .*FERRY_SANDBOX/);
  t.match(usage, /--sandbox-network on\|off .*FERRY_SANDBOX_NETWORK/);
});

t.test('--retention-days', async (t) => {
  t.equal(load([]).retentionDays, 0, 'runs are kept forever by default');
  t.equal(load(['--retention-days=30']).retentionDays, 30);
  t.equal(load(['--retention-days', '0']).retentionDays, 0, '0 keeps them forever');
  t.equal(load([], { FERRY_RETENTION_DAYS: '7' }).retentionDays, 7);
  t.equal(load(['--retention_days', '14'], { FERRY_RETENTION_DAYS: '7' }).retentionDays, 14, 'the flag wins');
  t.throws(() => load(['--retention-days=-1']), { name: 'ConfigError', message: /--retention-days/ });
  t.throws(() => load(['--retention-days=1.5']), ConfigError);
  t.throws(() => load([], { FERRY_RETENTION_DAYS: 'forever' }), ConfigError);
  t.throws(() => load(['--retention-days=365001']), { name: 'ConfigError', message: /at most 365000/ });
  t.match(usage, /--retention-days N .*FERRY_RETENTION_DAYS/);
});

t.test('--public-url and --trust-proxy', async (t) => {
  t.equal(load([]).publicUrl, undefined, 'links on each request\'s own base by default');
  t.equal(load([]).trustProxy, false);
  t.equal(load(['--public-url=https://wes.example/ferry/']).publicUrl, 'https://wes.example/ferry', 'kept without its trailing slash');
  t.equal(load([], { FERRY_PUBLIC_URL: 'http://10.0.0.1:8080' }).publicUrl, 'http://10.0.0.1:8080');
  t.equal(load(['--trust-proxy']).trustProxy, true);
  t.equal(load([], { FERRY_TRUST_PROXY: 'true' }).trustProxy, true);
  for (const bad of ['ftp://x/', 'wes.example', 'https://x/?a=1', 'https://x/#f', 'https://u:p@x/']) {
    t.throws(() => load([`--public-url=${bad}`]), { name: 'ConfigError', message: /--public-url must be an http\(s\) URL/ }, bad);
  }
  t.match(usage, /--public-url URL .*FERRY_PUBLIC_URL/);
  t.match(usage, /--trust-proxy .*FERRY_TRUST_PROXY/);
});

t.test('--default-engine', async (t) => {
  t.same(load([]).defaultEngines, {}, 'each type\'s first engine by default');
  t.same(load(['--default-engine=cwl=toil']).defaultEngines, { CWL: 'toil' });
  t.same(load([], { FERRY_DEFAULT_ENGINES: 'CWL=toil:WDL=toil' }).defaultEngines, { CWL: 'toil', WDL: 'toil' });
  t.throws(() => load(['--default-engine=toil']), { name: 'ConfigError', message: /--default-engine must look like TYPE=ENGINE/ });
  t.match(usage, /--default-engine TYPE=ENGINE .*FERRY_DEFAULT_ENGINES/);
});
