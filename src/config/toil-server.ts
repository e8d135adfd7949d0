/**
 * Ferry as a drop-in for `toil server`: an operator swaps the command and
 * keeps the command line. Toil 5.9's server takes 23 options (its own and
 * Toil's logging options); each means here what it means there, is taken
 * and noted where Ferry has nothing to do for it, or stops the start where
 * Ferry cannot honour it.
 */
import { ConfigError } from './config-error.js';

/** Toil's level switches (argparse `store_const` into `logLevel`: the last level given wins, `--logLevel` included). */
const LEVEL_SWITCHES: Readonly<Record<string, string>> = {
  '--logCritical': 'critical',
  '--logError': 'error',
  '--logWarning': 'warning',
  '--logInfo': 'info',
  '--logDebug': 'debug',
  // Toil: "Same as --logCRITICAL".
  '--logOff': 'critical',
};

/** Toil's camelCase names with a Ferry name of another shape; the rest only change `_` to `-`. */
const RENAMED: Readonly<Record<string, string>> = {
  '--logLevel': '--log-level',
  '--logFile': '--log-file',
  '--rotatingLogging': '--log-rotate',
};

/** Toil's short options: `-o` is `--opt`, `-w` is `--workers`. */
const SHORT: Readonly<Record<string, string>> = { o: '--opt', w: '--workers' };

/**
 * The command line with Toil's spellings rewritten to Ferry's
 * (`--work_dir` → `--work-dir`, `--logFile` → `--log-file`, `-o=X` →
 * `--opt=X`), and Toil's level switches folded into one `--log-level`: the
 * last of them and of `--logLevel`/`--log-level` wins, as in Toil. Values
 * are never rewritten: `takesValue` says which flags take the next word.
 */
export function toilServerArgv(argv: readonly string[], takesValue: (name: string) => boolean): string[] {
  const out: string[] = [];
  let level: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const short = /^-([a-zA-Z])(=?)(.*)$/s.exec(arg);
    if (short && !arg.startsWith('--')) {
      const long = SHORT[short[1]!];
      // argparse reads `-o=X` as X; Node's parser would keep the `=`.
      if (long && short[2] === '=') out.push(`${long}=${short[3]!}`);
      else if (long && short[3] === '' && i + 1 < argv.length) out.push(...joined(long, argv[++i]!));
      else out.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const given = eq === -1 ? arg : arg.slice(0, eq);
    const rest = eq === -1 ? '' : arg.slice(eq);
    if (eq === -1 && LEVEL_SWITCHES[given] !== undefined) {
      level = LEVEL_SWITCHES[given];
      continue;
    }
    const name = RENAMED[given] ?? given.replace(/_/g, '-');
    if (name === '--log-level' && (eq !== -1 || i + 1 < argv.length)) {
      level = eq === -1 ? argv[++i]! : rest.slice(1);
      continue;
    }
    if (eq === -1 && takesValue(name.slice(2)) && i + 1 < argv.length) out.push(...joined(name, argv[++i]!));
    else out.push(name + rest);
  }
  if (level !== undefined) out.push(`--log-level=${level}`);
  return out;
}

/**
 * A flag and the word after it, as one: an engine option (`-o --retryCount=2`)
 * is the value of `--opt`, though it starts with a dash; any other flag keeps
 * the parser's check that a value does not look like a flag.
 */
function joined(name: string, value: string): string[] {
  return name === '--opt' ? [`${name}=${value}`] : [name, value];
}

/** Toil's server options with no Ferry flag of their own, as given. */
export interface ToilServerOptions {
  debug: boolean;
  bypassCelery: boolean;
  swaggerUi: boolean;
  workers?: string;
  destBucketBase?: string;
}

/**
 * What Toil's own server options come to here: lines the server logs at
 * its start, saying what Ferry does instead. Throws (one line, naming why)
 * for an option Ferry cannot honour.
 */
export function toilServerNotes(options: ToilServerOptions): string[] {
  if (options.destBucketBase !== undefined) {
    throw new ConfigError(
      `--dest_bucket_base ${options.destBucketBase}: Ferry keeps each run's outputs in its run folder and serves them over HTTP (GET /ga4gh/wes/v1/runs/{run_id}/outputs); it writes to no object store, so it cannot send outputs there.`,
    );
  }
  const notes: string[] = [];
  if (options.debug) notes.push('--debug: logging at debug level and checking every response against the spec (unless a log level is given); Ferry serves from this one process either way.');
  if (options.bypassCelery) notes.push('--bypass_celery: Ferry needs no Celery; each run is driven by a supervisor process of its own (or, with --task-runner inline, inside the server).');
  if (options.workers !== undefined) {
    if (!/^\d+$/.test(options.workers.trim()) || Number(options.workers) < 1) throw new ConfigError(`--workers must be a whole number of at least 1, got '${options.workers}'`);
    notes.push(
      `--workers ${options.workers.trim()}: Ferry serves every request from one process (Node's event loop, no WSGI workers to start); runs go on in processes of their own, --max-concurrent-runs of them at once.`,
    );
  }
  if (options.swaggerUi) notes.push("--swagger_ui: the API docs are also at Toil's path /ga4gh/wes/v1/ui/ (they are always at /ga4gh/wes/v1/docs).");
  return notes;
}
