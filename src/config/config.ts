import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export { usage } from './usage.js';
export { ConfigError } from './config-error.js';
export { isLoopbackHost } from './urls.js';
import { ConfigError } from './config-error.js';
import { isLoopbackHost, oidcConfig, publicUrlConfig } from './urls.js';
import { executorConfig, type ExecutorKind, type SlurmSettings } from './slurm.js';
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

/** Command-line flags: name, type, environment variable, config key. */
const flags = {
  host: { type: 'string', env: 'FERRY_HOST' },
  port: { type: 'string', env: 'FERRY_PORT' },
  'work-dir': { type: 'string', env: 'FERRY_WORK_DIR' },
  'state-store': { type: 'string', env: 'FERRY_STATE_STORE' },
  opt: { type: 'string', multiple: true, env: 'FERRY_OPTS' },
  'wes-dialect': { type: 'string', env: 'FERRY_WES_DIALECT' },
  cors: { type: 'boolean', env: 'FERRY_CORS' },
  'cors-origins': { type: 'string', env: 'FERRY_CORS_ORIGINS' },
  'log-level': { type: 'string', env: 'FERRY_LOG_LEVEL' },
  'validate-responses': { type: 'boolean', env: 'FERRY_VALIDATE_RESPONSES' },
  'max-concurrent-runs': { type: 'string', env: 'FERRY_MAX_CONCURRENT_RUNS' },
  'max-queued-runs': { type: 'string', env: 'FERRY_MAX_QUEUED_RUNS' },
  'max-submissions-per-minute': { type: 'string', env: 'FERRY_MAX_SUBMISSIONS_PER_MINUTE' },
  'default-page-size': { type: 'string', env: 'FERRY_DEFAULT_PAGE_SIZE' },
  'max-page-size': { type: 'string', env: 'FERRY_MAX_PAGE_SIZE' },
  'max-attachment-bytes': { type: 'string', env: 'FERRY_MAX_ATTACHMENT_BYTES' },
  'max-attachments': { type: 'string', env: 'FERRY_MAX_ATTACHMENTS' },
  'max-zip-entries': { type: 'string', env: 'FERRY_MAX_ZIP_ENTRIES' },
  'max-zip-bytes': { type: 'string', env: 'FERRY_MAX_ZIP_BYTES' },
  'allowed-file-root': { type: 'string', multiple: true, env: 'FERRY_ALLOWED_FILE_ROOTS' },
  'cancel-grace-seconds': { type: 'string', env: 'FERRY_CANCEL_GRACE_SECONDS' },
  'task-runner': { type: 'string', env: 'FERRY_TASK_RUNNER' },
  'retention-days': { type: 'string', env: 'FERRY_RETENTION_DAYS' },
  executor: { type: 'string', env: 'FERRY_EXECUTOR' },
  'slurm-opt': { type: 'string', multiple: true, env: 'FERRY_SLURM_OPTS' },
  'slurm-partitions': { type: 'string', env: 'FERRY_SLURM_PARTITIONS' },
  'slurm-poll-seconds': { type: 'string', env: 'FERRY_SLURM_POLL_SECONDS' },
  'default-engine': { type: 'string', multiple: true, env: 'FERRY_DEFAULT_ENGINES' },
  'allow-private-downloads': { type: 'boolean', env: 'FERRY_ALLOW_PRIVATE_DOWNLOADS' },
  'workflow-allow-list': { type: 'string', env: 'FERRY_WORKFLOW_ALLOW_LIST' },
  'public-url': { type: 'string', env: 'FERRY_PUBLIC_URL' },
  'trust-proxy': { type: 'boolean', env: 'FERRY_TRUST_PROXY' },
  'auth-htpasswd': { type: 'string', env: 'FERRY_AUTH_HTPASSWD' },
  'auth-tokens': { type: 'string', env: 'FERRY_AUTH_TOKENS' },
  'oidc-issuer': { type: 'string', env: 'FERRY_OIDC_ISSUER' },
  'oidc-audience': { type: 'string', env: 'FERRY_OIDC_AUDIENCE' },
  'oidc-jwks-uri': { type: 'string', env: 'FERRY_OIDC_JWKS_URI' },
  'oidc-user-claim': { type: 'string', env: 'FERRY_OIDC_USER_CLAIM' },
  'oidc-admin-claim': { type: 'string', multiple: true, env: 'FERRY_OIDC_ADMIN_CLAIMS' },
  admin: { type: 'string', multiple: true, env: 'FERRY_ADMINS' },
  'no-auth': { type: 'boolean', env: 'FERRY_NO_AUTH' },
  'auth-instructions-url': { type: 'string', env: 'FERRY_AUTH_INSTRUCTIONS_URL' },
  sandbox: { type: 'string', env: 'FERRY_SANDBOX' },
  'sandbox-network': { type: 'string', env: 'FERRY_SANDBOX_NETWORK' },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; multiple?: boolean; env?: string; short?: string }>;

/** Runs handed to Slurm at once when --max-concurrent-runs is not given. */
const SLURM_MAX_CONCURRENT_RUNS = 100;

/** The longest retention time taken, in days (a thousand years: past it, keep runs forever with 0). */
const MAX_RETENTION_DAYS = 365_000;

function toInt(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name} must be a whole number, got '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name} must be at least ${min}, got '${value}'`);
  return n;
}

function toBool(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, got '${value}'`);
}

/** Rewrite Toil's spellings (`--work_dir`, `--logLevel`) to ours. */
function normaliseArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    if (!arg.startsWith('--')) return arg;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const rest = eq === -1 ? '' : arg.slice(eq);
    const fixed = name === '--logLevel' ? '--log-level' : name.replace(/_/g, '-');
    return fixed + rest;
  });
}

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
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type, ...('multiple' in spec ? { multiple: spec.multiple } : {}), ...('short' in spec ? { short: spec.short } : {}) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: normaliseArgv(argv), options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const pick = (name: keyof typeof flags): string | boolean | string[] | undefined => {
    const v = values[name];
    if (v !== undefined) return v as string | boolean | string[];
    const spec = flags[name];
    const envName = 'env' in spec ? spec.env : undefined;
    const raw = envName ? env[envName] : undefined;
    if (raw === undefined || raw === '') return undefined;
    if (spec.type === 'boolean') return toBool(envName!, raw);
    if ('multiple' in spec && spec.multiple) {
      // Engine options and claim names (often URLs) may hold colons.
      const sep = name === 'opt' || name === 'oidc-admin-claim' || name === 'slurm-opt' ? ';' : ':';
      return raw.split(sep).map((s) => s.trim()).filter(Boolean);
    }
    return raw;
  };
  const str = (name: keyof typeof flags): string | undefined => {
    const v = pick(name);
    return typeof v === 'string' ? v : undefined;
  };
  const list = (name: keyof typeof flags): string[] | undefined => {
    const v = pick(name);
    return Array.isArray(v) ? v : undefined;
  };
  const bool = (name: keyof typeof flags): boolean | undefined => {
    const v = pick(name);
    return typeof v === 'boolean' ? v : undefined;
  };

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
    logLevel: str('log-level') ?? defaultConfig.logLevel,
    validateResponses: bool('validate-responses') ? 'log' : 'off',
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
