/**
 * A run's own resources from its scheduler (with `--executor slurm`): the
 * sbatch options a client may give in `workflow_engine_parameters`, checked
 * against an allow list, and kept apart from the engine's options.
 */
import { MalformedRequestError } from '../util/errors.js';

/** What runs may ask of the scheduler here. */
export interface SchedulerPolicy {
  /** The partitions a run may choose. */
  partitions: readonly string[];
}

/** Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const TIME = /^(\d{1,5}|\d{1,5}:\d{1,2}|\d{1,5}:\d{1,2}:\d{1,2}|\d{1,4}-\d{1,2}|\d{1,4}-\d{1,2}:\d{1,2}|\d{1,4}-\d{1,2}:\d{1,2}:\d{1,2})$/;
/** A memory size: a whole number, in megabytes or with a unit. */
const MEMORY = /^\d{1,9}[KMGT]?$/i;

/** The sbatch options a run may set, each with its check. */
const CHECKS: Readonly<Record<string, (value: string, policy: SchedulerPolicy) => string | null>> = {
  '--time': (v) => (TIME.test(v) ? null : `needs a time limit such as 30, 1:00:00 or 2-00:00:00, got '${v}'`),
  '--mem': (v) => (MEMORY.test(v) ? null : `needs a memory size such as 4G or 500M, got '${v}'`),
  '--cpus-per-task': (v) => (/^\d{1,4}$/.test(v) && Number(v) >= 1 ? null : `needs a whole number of CPUs from 1, got '${v}'`),
  '--partition': (v, p) => (p.partitions.includes(v) ? null : `must be one of ${p.partitions.join(', ') || '(none offered)'}, got '${v}'`),
};

/** Whether `flag` is an option for the scheduler rather than the engine. */
export function isSchedulerOption(policy: SchedulerPolicy | undefined, flag: string): boolean {
  return policy !== undefined && Object.hasOwn(CHECKS, flag);
}

/** The sbatch argument for one option (`--time=1:00:00`), or a 400 saying what is wrong with it. */
export function schedulerOption(policy: SchedulerPolicy, source: string, flag: string, value: string | null): string {
  const check = CHECKS[flag]!;
  if (value === null || value === '') throw new MalformedRequestError(`${source}: '${flag}' needs a value.`);
  const problem = check(value, policy);
  if (problem !== null) throw new MalformedRequestError(`${source}: '${flag}' ${problem}.`);
  return `${flag}=${value}`;
}
