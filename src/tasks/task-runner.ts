/**
 * Runs the task that drives one run's engine. The backend only talks to this
 * interface, so the local child-process runner can later be swapped for
 * detached supervisors or a distributed queue without touching it.
 */
export interface TaskRunner {
  /** Accepts a run whose state is QUEUED; it starts when a slot is free. */
  run(runId: string): void;
  /**
   * Stops the run's task: a run still waiting is dropped, a running engine is
   * signalled and its processes killed after a grace period. The caller has
   * already moved the run to CANCELING.
   */
  cancel(runId: string): Promise<void>;
  /**
   * Kills whatever still runs of a run whose task is gone (its engine may
   * outlive a supervisor or a server), wherever this runner put it.
   */
  reapAbandoned(runId: string): Promise<void>;
  /** False when the task failed for a reason of its own (not the engine's). */
  isOk(runId: string): boolean;
  /** True while the task is waiting or running in this runner. */
  isLive(runId: string): boolean;
  /**
   * True while the run waits for a slot in this runner, never started: its
   * state is QUEUED (or CANCELING while a cancel drops it).
   */
  isWaiting(runId: string): boolean;
  /** Number of accepted runs waiting for a slot. */
  readonly queueLength: number;
  /** Waits until the run's task has finished (for tests and shutdown). */
  settled(runId: string): Promise<void>;
  /** Stops taking work and stops every live task. */
  close(): Promise<void>;
}
