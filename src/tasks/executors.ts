import path from 'node:path';
import type { FerryConfig } from '../config/config.js';
import type { ToilWorkflow } from '../runs/workflow.js';
import type { Logger } from 'pino';
import type { Executor } from './executor.js';
import { LocalExecutor } from './local-executor.js';
import type { SandboxPolicy } from './sandbox.js';
import { partitions } from './slurm/commands.js';
import { SlurmQueue } from './slurm/queue.js';
import { SlurmExecutor } from './slurm/slurm-executor.js';

/** One queue reader per state store in a process, so every run watched here shares its squeue calls. */
const queues = new Map<string, SlurmQueue>();

/** The queue snapshot shared by the server and all its supervisors (a folder of the state store). */
export function slurmQueue(config: Pick<FerryConfig, 'stateStore' | 'slurm'>): SlurmQueue {
  let q = queues.get(config.stateStore);
  if (!q) {
    q = new SlurmQueue(path.join(config.stateStore, 'slurm-queue'), config.slurm.pollMs);
    queues.set(config.stateStore, q);
  }
  return q;
}

/** Where a run's engine runs, as configured: here, or as a Slurm job. */
export function executorFor(config: Pick<FerryConfig, 'executor' | 'slurm' | 'stateStore'>, wf: ToilWorkflow, sandbox?: SandboxPolicy): Executor {
  if (config.executor === 'slurm') return new SlurmExecutor({ workflow: wf, settings: config.slurm, queue: slurmQueue(config), ...(sandbox ? { sandbox } : {}) });
  return new LocalExecutor(sandbox);
}

/** Thrown at start-up when `--executor slurm` is set and the cluster cannot be used. */
export class SlurmUnavailableError extends Error {
  override name = 'SlurmUnavailableError';
}

/**
 * Start-up with `--executor slurm`: the controller must answer (sinfo), and
 * the partitions runs may choose are those configured, or else the
 * cluster's own. Says in the log what runs need of the cluster.
 */
export async function slurmStart(config: Pick<FerryConfig, 'slurm' | 'workDir'>, logger: Logger): Promise<{ partitions: string[] }> {
  let offered: string[];
  try {
    offered = await partitions();
  } catch (err) {
    throw new SlurmUnavailableError(`--executor slurm: Slurm's controller does not answer (${(err as Error).message}); is SLURM_CONF set and the cluster up?`);
  }
  const allowed = config.slurm.partitions.length > 0 ? config.slurm.partitions : offered;
  const unknown = allowed.filter((p) => !offered.includes(p));
  if (unknown.length > 0) logger.warn({ partitions: unknown }, 'partitions allowed by --slurm-partitions that the cluster does not have');
  logger.info(
    { work_dir: config.workDir, partitions: allowed, options: config.slurm.options },
    'runs go to Slurm: the work folder must be on a filesystem the cluster\'s nodes share, at the same path, and bubblewrap (when runs are sandboxed) and the engines installed on the nodes',
  );
  return { partitions: allowed };
}
