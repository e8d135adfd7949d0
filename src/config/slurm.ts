/** The executor settings: where a run's engine runs (this machine, or a Slurm cluster), checked. */
import { ConfigError } from './config-error.js';

/** Where each run's engine runs. */
export type ExecutorKind = 'local' | 'slurm';

export interface SlurmSettings {
  /** sbatch options every run's job gets (`--partition=…`, `--account=…`), each one argument. */
  options: string[];
  /** Partitions a run may ask for with `--partition` in its workflow_engine_parameters; empty: those the cluster has. */
  partitions: string[];
  /** How often the queue is read (one squeue call for every run). */
  pollMs: number;
}

/**
 * sbatch options Ferry sets itself for every job (where it runs, its logs, its
 * environment, its name, the comment that ties Toil's jobs to the run), or
 * that would run something else than the run's engine.
 */
const OWNED_SBATCH_OPTIONS: Readonly<Record<string, string>> = {
  '--job-name': 'Ferry names each job ferry-<run_id>',
  '-J': 'Ferry names each job ferry-<run_id>',
  '--chdir': "a run's job works in the run's folder",
  '-D': "a run's job works in the run's folder",
  '--output': "a run's stdout goes to its own log file",
  '-o': "a run's stdout goes to its own log file",
  '--error': "a run's stderr goes to its own log file",
  '-e': "a run's stderr goes to its own log file",
  '--input': 'a job reads no input',
  '-i': 'a job reads no input',
  '--export': 'Ferry gives the engine its environment itself',
  '--export-file': 'Ferry gives the engine its environment itself',
  '--get-user-env': 'Ferry gives the engine its environment itself',
  '--comment': "Ferry ties Toil's jobs to their run with it",
  '--wrap': "a job runs the run's engine, nothing else",
  '--parsable': 'Ferry reads the job id itself',
  '--wait': 'Ferry watches the job itself',
  '-W': 'Ferry watches the job itself',
  '--array': 'a run is one job',
  '-a': 'a run is one job',
  '--uid': 'a job runs as the server (or its run user)',
  '--gid': 'a job runs as the server (or its run user)',
};

/** `--slurm-opt` values: each `--flag[=value]` (or a short `-p value` given as `-pvalue`), none that Ferry sets itself. */
export function slurmOptions(values: readonly string[]): string[] {
  for (const opt of values) {
    const m = /^(--[a-z][a-z0-9-]*|-[A-Za-z])/.exec(opt);
    if (!m) throw new ConfigError(`--slurm-opt must be one sbatch option such as '--partition=batch', got '${opt}'`);
    const owned = OWNED_SBATCH_OPTIONS[m[1]!];
    if (owned !== undefined) throw new ConfigError(`--slurm-opt '${opt}': Ferry sets ${m[1]} itself (${owned})`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(opt)) throw new ConfigError(`--slurm-opt '${JSON.stringify(opt)}' has a control character`);
  }
  return [...values];
}

/** The executor settings from their flags; the Slurm ones only make sense with `--executor slurm`. */
export function executorConfig(given: { executor: string | undefined; options: string[] | undefined; partitions: string | undefined; pollSeconds: string | undefined }): {
  executor: ExecutorKind;
  slurm: SlurmSettings;
} {
  const executor = given.executor ?? 'local';
  if (executor !== 'local' && executor !== 'slurm') throw new ConfigError(`--executor must be 'local' or 'slurm', got '${executor}'`);
  if (executor === 'local' && (given.options !== undefined || given.partitions !== undefined || given.pollSeconds !== undefined)) {
    throw new ConfigError('--slurm-opt, --slurm-partitions and --slurm-poll-seconds need --executor slurm');
  }
  const pollSeconds = given.pollSeconds ?? '2';
  if (!/^\d+(\.\d+)?$/.test(pollSeconds) || Number(pollSeconds) < 0.1 || Number(pollSeconds) > 600) {
    throw new ConfigError(`--slurm-poll-seconds must be a number from 0.1 to 600, got '${pollSeconds}'`);
  }
  const partitions = (given.partitions ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of partitions) {
    if (!/^[A-Za-z0-9_.-]+$/.test(p)) throw new ConfigError(`--slurm-partitions: '${p}' is not a partition name`);
  }
  return { executor, slurm: { options: slurmOptions(given.options ?? []), partitions, pollMs: Math.round(Number(pollSeconds) * 1000) } };
}
