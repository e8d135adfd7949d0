import path from 'node:path';
import { fileURLToPath } from 'node:url';

export { usage } from './usage.js';
export { ConfigError } from './config-error.js';
export { isLoopbackHost } from './urls.js';
import { ConfigError } from './config-error.js';
import { isLoopbackHost, oidcConfig, publicUrlConfig } from './urls.js';
import { executorConfig, type ExecutorKind, type SlurmSettings } from './slurm.js';
import { readFlags, toInt } from './flags.js';
import { observabilitySettings } from './observability.js';
import { toilServerNotes } from './toil-server.js';
export type { ExecutorKind, SlurmSettings } from './slurm.js';

/** Which flavour of WES answers Ferry gives (Toil's `--wes_dialect`). */
export type WesDialect = 'standard' | 'agc';

/** One validated configuration object, built once and passed down. */
export interface FerryConfig {
  host: string;
  port: number;
  /** Where run folders live. */
  workDir: string;
  /** Where per-run state lives (a local folder). */
  stateStore: string;
  /** Server default engine options (`--opt`), each `--flag[=value]`, optionally `engine:`-prefixed. */
  engineOptions: string[];
  wesDialect: WesDialect;
  cors: boolean;
  corsOrigins: string[];
  logLevel: string;
  /** Log lines as JSON objects, `pretty` for people, or `auto`: pretty on a terminal, else JSON. */
  logFormat: 'json' | 'pretty' | 'auto';
  /** Also write the log to this file (Toil's `--logFile`), as JSON unless `pretty` is asked. */
  logFile?: string;
  /** Rotate the log file at 1 MB, keeping one old file `<file>.1` (Toil's `--rotatingLogging`). */
  logRotate: boolean;
  /** Where Prometheus metrics are served (`GET /metrics`, a listener of its own); null: not served there. */
  metricsListen: { host: string; port: number } | null;
  /** Whether `--metrics-listen` was given: a default address that is taken is passed over with a warning, a given one stops the start. */
  metricsListenGiven: boolean;
  /** Also serve `GET /metrics` on the API's port, to admins (to everyone where there is no authentication). */
  metricsOnApi: boolean;
  /** Swagger UI at `/ga4gh/wes/v1/docs`. */
  apiDocs: boolean;
  /** Toil's `--swagger_ui`: the docs also at Toil's `/ga4gh/wes/v1/ui/`. */
  toilSwaggerUi: boolean;
  /** What Ferry does instead of Toil's server options it has nothing to do for, logged at start. */
  startupNotes: string[];
  /** Check every response against the spec; non-conforming ones are logged (or thrown in tests). */
  validateResponses: 'off' | 'log' | 'throw';
  maxConcurrentRuns: number;
  /** Most accepted runs waiting for a slot; past it, submissions get 503 with Retry-After. */
  maxQueuedRuns: number;
  /** Accepted submissions per minute per user (per client address without authentication); 0: no limit. */
  maxSubmissionsPerMinute: number;
  defaultPageSize: number;
  maxPageSize: number;
  /** Largest single attachment, in bytes. */
  maxAttachmentBytes: number;
  maxAttachments: number;
  /** Largest non-file form field, in bytes. */
  maxFieldBytes: number;
  /** Folders under which `file://` workflow URLs may be read. Empty: none. */
  allowedFileRoots: string[];
  /**
   * How runs are driven: `supervisor` (default) gives each run a detached
   * supervisor process, so runs outlive the server; `inline` keeps them in
   * the server's process (they stop with it).
   */
  taskRunner: 'supervisor' | 'inline';
  /** Where each run's engine runs: on this machine, or as a job of a Slurm cluster. */
  executor: ExecutorKind;
  /** With `executor: 'slurm'`: the deployment's sbatch options, the partitions runs may ask for, the polling interval. */
  slurm: SlurmSettings;
  /** Time the engine gets after SIGTERM before its whole process group is killed. */
  cancelGraceMs: number;
  /** Finished runs are deleted this many days after they ended (in the background); 0: kept forever. */
  retentionDays: number;
  downloadTimeoutMs: number;
  maxDownloadBytes: number;
  /** Most entries (files and folders) a workflow.zip bundle may hold. */
  maxZipEntries: number;
  /** Most bytes a workflow.zip bundle may inflate to, counted as they are inflated. */
  maxZipBytes: number;
  /** Whether http(s) workflow URLs may point at loopback or private addresses. */
  allowPrivateDownloads: boolean;
  /** Apache htpasswd file of bcrypt entries: HTTP Basic logins. */
  authHtpasswd?: string;
  /** Static bearer tokens: `USER SHA256HEX` per line. */
  authTokens?: string;
  /** OpenID Connect issuer whose JWTs are taken as bearer tokens (exactly their `iss`). */
  oidcIssuer?: string;
  /** A value the JWTs' `aud` must be or include; required with an issuer. */
  oidcAudience?: string;
  /** The issuer's key set; default: `jwks_uri` of its discovery document. */
  oidcJwksUri?: string;
  /** The JWT claim that names the user. */
  oidcUserClaim: string;
  /** Claims that make a JWT's bearer an admin: equal to the value, or an array containing it. */
  oidcAdminClaims: { claim: string; value: string }[];
  /** Users who see and cancel every run. */
  admins: string[];
  /** Serve a non-loopback address without authentication, knowingly. */
  noAuth: boolean;
  /** Registered workflows only: sha256 digests and URL prefixes (see backend/workflow-allow-list). */
  workflowAllowList?: string;
  /**
   * The URL clients reach this server at (behind a proxy: its public URL),
   * the base of every link Ferry hands out; absent, each request's own
   * scheme and Host.
   */
  publicUrl?: string;
  /** Whether X-Forwarded-For/Proto/Host/Prefix from the proxy in front count. */
  trustProxy: boolean;
  /**
   * How each run is sandboxed: `bwrap` (bubblewrap; the server refuses to
   * start when it does not work), `none`, or `auto` (bwrap when a start-up
   * probe shows it works, else none with a warning). The server resolves
   * `auto` at start, so its runs and service-info see the mode in force.
   */
  sandbox: 'auto' | 'bwrap' | 'none';
  /** The engine a workflow type runs on when a submission names none (`CWL` → `toil`); absent types: the first offered. */
  defaultEngines: Record<string, string>;
  /** Whether sandboxed runs may reach the network. */
  sandboxNetwork: boolean;
  /** Where clients learn how to get credentials (service-info's `auth_instructions_url`). */
  authInstructionsUrl: string;
  serviceId: string;
  serviceName: string;
  organizationName: string;
  organizationUrl: string;
}

export const defaultConfig: Readonly<FerryConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  workDir: path.resolve('ferry-work'),
  stateStore: path.resolve('ferry-work', 'state_store'),
  engineOptions: [],
  wesDialect: 'standard',
  cors: false,
  corsOrigins: ['*'],
  logLevel: 'info',
  logFormat: 'json',
  logRotate: false,
  metricsListen: null,
  metricsListenGiven: false,
  metricsOnApi: false,
  apiDocs: true,
  toilSwaggerUi: false,
  startupNotes: [],
  validateResponses: 'off',
  maxConcurrentRuns: 4,
  maxQueuedRuns: 1000,
  maxSubmissionsPerMinute: 0,
  defaultPageSize: 100,
  maxPageSize: 1000,
  maxAttachmentBytes: 1024 * 1024 * 1024,
  maxAttachments: 1000,
  maxFieldBytes: 16 * 1024 * 1024,
  allowedFileRoots: [],
  taskRunner: 'supervisor',
  executor: 'local',
  slurm: Object.freeze({ options: [], partitions: [], pollMs: 2000 }) as SlurmSettings,
  cancelGraceMs: 5000,
  retentionDays: 0,
  downloadTimeoutMs: 60_000,
  maxDownloadBytes: 256 * 1024 * 1024,
  maxZipEntries: 10_000,
  maxZipBytes: 1024 * 1024 * 1024,
  allowPrivateDownloads: false,
  oidcUserClaim: 'sub',
  oidcAdminClaims: [],
  admins: [],
  noAuth: false,
  authInstructionsUrl: '',
  trustProxy: false,
  defaultEngines: {},
  sandbox: 'auto',
  sandboxNetwork: true,
  serviceId: 'org.ferry.wes',
  serviceName: 'Ferry',
  organizationName: 'Ferry',
  organizationUrl: 'https://example.org/ferry',
} satisfies FerryConfig);

/** Runs handed to Slurm at once when --max-concurrent-runs is not given. */
const SLURM_MAX_CONCURRENT_RUNS = 100;

/** The longest retention time taken, in days (a thousand years: past it, keep runs forever with 0). */
const MAX_RETENTION_DAYS = 365_000;

export interface ParsedCommandLine {
  config: FerryConfig;
  version: boolean;
  help: boolean;
}

/**
 * Builds the configuration from flags, then environment variables, then the
 * defaults, and validates it. Flags win over the environment.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ParsedCommandLine {
  const { str, list, bool } = readFlags(argv, env);
  const workDir = path.resolve(cwd, str('work-dir') ?? 'ferry-work');
  const stateStoreRaw = str('state-store');
  const stateStore = stateStoreRaw
    ? path.resolve(cwd, stateStoreRaw.startsWith('file://') ? fileURLToPath(stateStoreRaw) : stateStoreRaw)
    : path.join(workDir, 'state_store');
  if (stateStoreRaw && /^[a-z][a-z0-9+.-]*:\/\//i.test(stateStoreRaw) && !stateStoreRaw.startsWith('file://')) {
    throw new ConfigError(`--state-store supports local folders and file:// URLs only, got '${stateStoreRaw}'`);
  }
  const dialect = str('wes-dialect') ?? 'standard';
  if (dialect !== 'standard' && dialect !== 'agc') throw new ConfigError(`--wes-dialect must be 'standard' or 'agc', got '${dialect}'`);
  const port = toInt('--port', str('port') ?? String(defaultConfig.port), 0);
  if (port > 65535) throw new ConfigError(`--port must be at most 65535, got ${port}`);
  const defaultPageSize = toInt('--default-page-size', str('default-page-size') ?? String(defaultConfig.defaultPageSize), 1);
  const maxPageSize = toInt('--max-page-size', str('max-page-size') ?? String(defaultConfig.maxPageSize), 1);
  if (defaultPageSize > maxPageSize) throw new ConfigError('--default-page-size cannot exceed --max-page-size');
  const taskRunner = str('task-runner') ?? 'supervisor';
  if (taskRunner !== 'supervisor' && taskRunner !== 'inline') throw new ConfigError(`--task-runner must be 'supervisor' or 'inline', got '${taskRunner}'`);
  const sandbox = str('sandbox') ?? defaultConfig.sandbox;
  if (sandbox !== 'auto' && sandbox !== 'bwrap' && sandbox !== 'none') throw new ConfigError(`--sandbox must be 'auto', 'bwrap' or 'none', got '${sandbox}'`);
  const sandboxNetwork = str('sandbox-network') ?? 'on';
  if (sandboxNetwork !== 'on' && sandboxNetwork !== 'off') throw new ConfigError(`--sandbox-network must be 'on' or 'off', got '${sandboxNetwork}'`);
  const defaultEngines: Record<string, string> = {};
  for (const spec of list('default-engine') ?? []) {
    const m = /^([A-Za-z]+)=([a-z0-9-]+)$/i.exec(spec.trim());
    if (!m) throw new ConfigError(`--default-engine must look like TYPE=ENGINE (e.g. CWL=toil), got '${spec}'`);
    defaultEngines[m[1]!.toUpperCase()] = m[2]!.toLowerCase();
  }
  const retentionDays = toInt('--retention-days', str('retention-days') ?? '0', 0);
  if (retentionDays > MAX_RETENTION_DAYS) throw new ConfigError(`--retention-days must be at most ${MAX_RETENTION_DAYS} (0 keeps runs forever), got ${retentionDays}`);
  const corsOrigins = (str('cors-origins') ?? '*').split(',').map((s) => s.trim()).filter(Boolean);
  const engineOptions = list('opt') ?? [];
  for (const opt of engineOptions) {
    if (!/^([a-z0-9-]+:)?--?[A-Za-z]/.test(opt)) throw new ConfigError(`--opt must look like '[engine:]--flag[=value]', got '${opt}'`);
  }
  const debug = bool('debug') ?? false;
  const startupNotes = toilServerNotes({ debug, bypassCelery: bool('bypass-celery') ?? false, swaggerUi: bool('swagger-ui') ?? false, workers: str('workers'), destBucketBase: str('dest-bucket-base') });
  const config: FerryConfig = {
    ...defaultConfig,
    host: str('host') ?? defaultConfig.host,
    port,
    workDir,
    stateStore,
    engineOptions,
    wesDialect: dialect,
    cors: bool('cors') ?? false,
    corsOrigins,
    logLevel: str('log-level') ?? (debug ? 'debug' : defaultConfig.logLevel),
    ...observabilitySettings(
      { logFormat: str('log-format'), logFile: str('log-file'), logRotate: bool('log-rotate'), metricsListen: str('metrics-listen'), metricsOnApi: bool('metrics-on-api'), apiDocs: str('api-docs') },
      cwd,
    ),
    toilSwaggerUi: bool('swagger-ui') ?? false,
    startupNotes,
    validateResponses: bool('validate-responses') || debug ? 'log' : 'off',
    maxConcurrentRuns: toInt('--max-concurrent-runs', str('max-concurrent-runs') ?? String(defaultConfig.maxConcurrentRuns), 1),
    maxQueuedRuns: toInt('--max-queued-runs', str('max-queued-runs') ?? String(defaultConfig.maxQueuedRuns), 1),
    maxSubmissionsPerMinute: toInt('--max-submissions-per-minute', str('max-submissions-per-minute') ?? '0', 0),
    defaultPageSize,
    maxPageSize,
    maxAttachmentBytes: toInt('--max-attachment-bytes', str('max-attachment-bytes') ?? String(defaultConfig.maxAttachmentBytes), 1),
    maxAttachments: toInt('--max-attachments', str('max-attachments') ?? String(defaultConfig.maxAttachments), 0),
    maxZipEntries: toInt('--max-zip-entries', str('max-zip-entries') ?? String(defaultConfig.maxZipEntries), 1),
    maxZipBytes: toInt('--max-zip-bytes', str('max-zip-bytes') ?? String(defaultConfig.maxZipBytes), 1),
    allowedFileRoots: (list('allowed-file-root') ?? []).map((p) => path.resolve(cwd, p)),
    cancelGraceMs: toInt('--cancel-grace-seconds', str('cancel-grace-seconds') ?? String(defaultConfig.cancelGraceMs / 1000), 0) * 1000,
    retentionDays,
    allowPrivateDownloads: bool('allow-private-downloads') ?? false,
    ...publicUrlConfig(str('public-url')),
    trustProxy: bool('trust-proxy') ?? false,
    ...(str('workflow-allow-list') ? { workflowAllowList: path.resolve(cwd, str('workflow-allow-list')!) } : {}),
    ...(str('auth-htpasswd') ? { authHtpasswd: path.resolve(cwd, str('auth-htpasswd')!) } : {}),
    ...(str('auth-tokens') ? { authTokens: path.resolve(cwd, str('auth-tokens')!) } : {}),
    ...oidcConfig({ issuer: str('oidc-issuer'), audience: str('oidc-audience'), jwksUri: str('oidc-jwks-uri'), userClaim: str('oidc-user-claim') }, list('oidc-admin-claim') ?? []),
    admins: list('admin') ?? [],
    noAuth: bool('no-auth') ?? false,
    authInstructionsUrl: str('auth-instructions-url') ?? '',
    sandbox,
    sandboxNetwork: sandboxNetwork === 'on',
    defaultEngines,
    taskRunner,
    ...executorConfig({ executor: str('executor'), options: list('slurm-opt'), partitions: str('slurm-partitions'), pollSeconds: str('slurm-poll-seconds') }),
  };
  // On a cluster the scheduler queues runs: Ferry hands it this many at once (each watched by a supervisor here).
  if (config.executor === 'slurm' && str('max-concurrent-runs') === undefined) config.maxConcurrentRuns = SLURM_MAX_CONCURRENT_RUNS;
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  config.logLevel = config.logLevel.toLowerCase();
  if (config.logLevel === 'warning') config.logLevel = 'warn';
  if (config.logLevel === 'critical') config.logLevel = 'fatal';
  if (!levels.includes(config.logLevel)) throw new ConfigError(`--log-level must be one of ${levels.join(', ')}`);
  checkExposure(config);
  return { config, version: bool('version') ?? false, help: bool('help') ?? false };
}

/** Whether any way of authenticating is configured. */
export function authConfigured(config: Pick<FerryConfig, 'authHtpasswd' | 'authTokens' | 'oidcIssuer'>): boolean {
  return config.authHtpasswd !== undefined || config.authTokens !== undefined || config.oidcIssuer !== undefined;
}

/**
 * Submitting a workflow runs code on this machine: without authentication,
 * Ferry listens only where nobody else can reach it, unless told otherwise.
 */
function checkExposure(config: FerryConfig): void {
  if (authConfigured(config) || config.noAuth || isLoopbackHost(config.host)) return;
  throw new ConfigError(
    `--host ${config.host} would let anyone who reaches it run workflows here: configure authentication (--auth-htpasswd, --auth-tokens, --oidc-issuer) or pass --no-auth to serve it without.`,
  );
}

/** A config for tests and embedding: defaults plus overrides, paths made absolute. */
export function makeConfig(overrides: Partial<FerryConfig> & { workDir: string }): FerryConfig {
  const workDir = path.resolve(overrides.workDir);
  return {
    ...defaultConfig,
    stateStore: path.join(workDir, 'state_store'),
    ...overrides,
    workDir,
  };
}
