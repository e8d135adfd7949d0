/**
 * Slurm's own commands (sbatch, squeue, scontrol, scancel, sinfo), run as
 * argument vectors, never through a shell, with the environment they need.
 */
import { execFile } from 'node:child_process';

/** What a Slurm command may see of the server's environment: where the tools and the cluster's configuration are. */
export function slurmEnvironment(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
  for (const name of ['SLURM_CONF', 'TZ']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/** A Slurm command that failed: its name, exit code and what it said. */
export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | string | null,
    readonly stderr: string,
  ) {
    super(`${command} failed${code === null ? '' : ` (${code})`}: ${stderr.trim().split('\n').slice(-3).join(' ') || 'no message'}`);
    this.name = 'SlurmCommandError';
  }
}

/** Runs one Slurm command; its stdout, or a SlurmCommandError. */
export function slurm(command: string, args: readonly string[], input?: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env: slurmEnvironment(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new SlurmCommandError(command, code, stderr || err.message));
      } else {
        resolve(stdout);
      }
    });
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** One job as squeue shows it. */
export interface QueuedJob {
  id: string;
  /** Slurm's long state name: PENDING, RUNNING, COMPLETED, TIMEOUT, … */
  state: string;
  reason: string;
  nodes: string;
  name: string;
  comment: string;
}

const SEP = '\u001f';
/** Every job the controller still knows (finished ones until MinJobAge), with what Ferry needs. */
const SQUEUE_FORMAT = ['%i', '%T', '%r', '%N', '%j', '%k'].join(SEP);

/** One squeue call for every job the controller knows, finished ones included (until it forgets them). */
export async function squeueAll(): Promise<QueuedJob[]> {
  const out = await slurm('squeue', ['--noheader', '--states=all', `--format=${SQUEUE_FORMAT}`]);
  const jobs: QueuedJob[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const [id, state, reason, nodes, name, comment] = line.split(SEP).map((f) => f.trim());
    if (!id || !state) continue;
    jobs.push({ id, state, reason: reason ?? '', nodes: nodes ?? '', name: name ?? '', comment: comment === '(null)' ? '' : (comment ?? '') });
  }
  return jobs;
}

/** `scontrol show job -o ID` as fields (JobState, ExitCode, Reason, TimeLimit, …); null when the controller no longer knows the job. */
export async function jobDetails(id: string): Promise<Record<string, string> | null> {
  let out: string;
  try {
    out = await slurm('scontrol', ['show', 'job', '-o', id]);
  } catch (err) {
    if (err instanceof SlurmCommandError && /invalid job id/i.test(err.stderr)) return null;
    throw err;
  }
  const fields: Record<string, string> = {};
  // Values hold no spaces except at the end (Command=…, WorkDir=…): split on " Key=".
  for (const m of out.trim().matchAll(/(?:^|\s)([A-Za-z/:]+)=(\S*)/g)) fields[m[1]!] = m[2]!;
  return fields;
}

/** Submits a batch script given on stdin; the job id. */
export async function sbatch(options: readonly string[], script: string): Promise<string> {
  const out = await slurm('sbatch', ['--parsable', ...options], script);
  const id = out.trim().split(';')[0] ?? '';
  if (!/^\d+$/.test(id)) throw new SlurmCommandError('sbatch', null, `unexpected answer: ${out.trim()}`);
  return id;
}

/**
 * scancel of jobs; `signal` for a signal other than the default (SIGTERM,
 * then SIGKILL), `batchOnly` for the batch shell alone. Best effort: a job
 * that ended meanwhile makes scancel fail (at times without a word), so
 * callers check the queue afterwards instead; the failure is returned.
 */
export async function scancel(ids: readonly string[], opts: { signal?: string; batchOnly?: boolean } = {}): Promise<SlurmCommandError | null> {
  if (ids.length === 0) return null;
  // A signal reaches a batch script with no steps only with --full (every process of the job) or --batch (its shell).
  const scope = opts.signal ? [opts.batchOnly ? '--batch' : '--full'] : [];
  const args = [...(opts.signal ? [`--signal=${opts.signal}`] : []), ...scope, ...ids];
  try {
    await slurm('scancel', args);
    return null;
  } catch (err) {
    if (err instanceof SlurmCommandError) return err;
    throw err;
  }
}

/** The cluster's partitions (sinfo). */
export async function partitions(): Promise<string[]> {
  const out = await slurm('sinfo', ['--noheader', '--format=%R']);
  return [...new Set(out.split('\n').map((l) => l.trim()).filter(Boolean))];
}
