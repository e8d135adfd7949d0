/** The command line's flags and their environment variables, read into typed accessors. */
import { parseArgs } from 'node:util';
import { ConfigError } from './config-error.js';
import { toilServerArgv } from './toil-server.js';

/** Command-line flags: name, type, environment variable. */
export const flags = {
  host: { type: 'string', env: 'FERRY_HOST' },
  port: { type: 'string', env: 'FERRY_PORT' },
  'work-dir': { type: 'string', env: 'FERRY_WORK_DIR' },
  'state-store': { type: 'string', env: 'FERRY_STATE_STORE' },
  opt: { type: 'string', multiple: true, env: 'FERRY_OPTS', short: 'o' },
  'wes-dialect': { type: 'string', env: 'FERRY_WES_DIALECT' },
  cors: { type: 'boolean', env: 'FERRY_CORS' },
  'cors-origins': { type: 'string', env: 'FERRY_CORS_ORIGINS' },
  'log-level': { type: 'string', env: 'FERRY_LOG_LEVEL' },
  'log-format': { type: 'string', env: 'FERRY_LOG_FORMAT' },
  'log-file': { type: 'string', env: 'FERRY_LOG_FILE' },
  'log-rotate': { type: 'boolean', env: 'FERRY_LOG_ROTATE' },
  'metrics-listen': { type: 'string', env: 'FERRY_METRICS_LISTEN' },
  'metrics-on-api': { type: 'boolean', env: 'FERRY_METRICS_ON_API' },
  'api-docs': { type: 'string', env: 'FERRY_API_DOCS' },
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
  // Toil's server options that Ferry takes as a drop-in (see toil-server.ts); no environment variables of their own.
  debug: { type: 'boolean' },
  'bypass-celery': { type: 'boolean' },
  'swagger-ui': { type: 'boolean' },
  workers: { type: 'string', short: 'w' },
  'dest-bucket-base': { type: 'string' },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; multiple?: boolean; env?: string; short?: string }>;

export type FlagName = keyof typeof flags;

/** Whether a flag takes a value (the next word, unless written `--flag=value`). */
export function takesValue(name: string): boolean {
  return (flags as Record<string, { type: string }>)[name]?.type === 'string';
}

/** The flags' values, flags first, then environment variables. */
export interface FlagValues {
  str(name: FlagName): string | undefined;
  list(name: FlagName): string[] | undefined;
  bool(name: FlagName): boolean | undefined;
}

/** Parses `argv` (Toil's spellings rewritten first) against the flag table, with `env` behind it. */
export function readFlags(argv: readonly string[], env: NodeJS.ProcessEnv): FlagValues {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type, ...('multiple' in spec ? { multiple: spec.multiple } : {}), ...('short' in spec ? { short: spec.short } : {}) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: toilServerArgv(argv, takesValue), options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message, true);
  }
  const pick = (name: FlagName): string | boolean | string[] | undefined => {
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
  return {
    str: (name) => {
      const v = pick(name);
      return typeof v === 'string' ? v : undefined;
    },
    list: (name) => {
      const v = pick(name);
      return Array.isArray(v) ? v : undefined;
    },
    bool: (name) => {
      const v = pick(name);
      return typeof v === 'boolean' ? v : undefined;
    },
  };
}

export function toInt(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name} must be a whole number, got '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name} must be at least ${min}, got '${value}'`);
  return n;
}

export function toBool(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, got '${value}'`);
}
