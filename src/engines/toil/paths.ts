import path from 'node:path';
import type { RunContext } from '../engine.js';

/** Where Toil keeps a run's own state: both inside the run's folder, as Toil's server has them. */
export interface ToilPaths {
  /** The `--writeMessages` log that task logs are replayed from. */
  bus: string;
  /** The job store (removed by `--clean=always` once the run is over). */
  jobStore: string;
}

/** Toil's files of a run, under its folder. */
export function toilPaths(ctx: Pick<RunContext, 'runDir'>): ToilPaths {
  return { bus: path.join(ctx.runDir, 'bus_messages'), jobStore: path.join(ctx.runDir, 'toil_job_store') };
}
