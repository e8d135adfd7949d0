/**
 * Where a run's engine process runs: on this machine (LocalExecutor) or as a
 * job of a Slurm cluster (SlurmExecutor). WorkflowTask drives the run's
 * states and outcome the same way for both; an executor only starts the
 * engine's command, says when it runs and how it ended, and stops it.
 */
import type { RunContext } from '../engines/engine.js';

/** The engine's command as WorkflowTask built it, before any sandbox. */
export interface EngineLaunch {
  ctx: RunContext;
  argv: readonly string[];
  /** The engine's whole environment. */
  env: Record<string, string>;
}

/** How an engine's execution ended. */
export type ExecutionEnd =
  /** The engine exited (with a signal: 128 + its number). */
  | { kind: 'exited'; exitCode: number }
  /**
   * The executor ended it, or lost it, with no exit code of the engine's own
   * worth trusting: the state the run gets and the system log saying why.
   */
  | { kind: 'failed'; state: 'EXECUTOR_ERROR' | 'SYSTEM_ERROR' | 'PREEMPTED'; exitCode: number | null; reason: string };

/** One engine execution, started or re-attached. */
export interface Execution {
  /** Resolves when the engine runs (a scheduler's job has left its queue), or when it ended without running. */
  readonly started: Promise<void>;
  /** Resolves once nothing of the engine runs any more. Never rejects. */
  readonly ended: Promise<ExecutionEnd>;
  /** Asks the engine to stop (SIGTERM to its leader, which cleans its own workers up). */
  terminate(): Promise<void>;
  /** Stops everything of the run now. */
  kill(): Promise<void>;
  /** After the end: stops whatever the engine left behind. */
  reap(graceMs: number): Promise<void>;
}

export interface Executor {
  /** `local` or `slurm`: what the run's system logs name. */
  readonly kind: 'local' | 'slurm';
  /**
   * Whether the executor queues runs itself: the run then stays QUEUED until
   * its job starts, and goes straight to RUNNING (no INITIALIZING between).
   */
  readonly queues: boolean;
  /** Starts the engine. Throws when it cannot be started at all. */
  launch(launch: EngineLaunch): Promise<Execution>;
  /**
   * Picks up an execution started by an earlier supervisor (its record, e.g.
   * a Slurm job id, is in the run's state), or null when there is none.
   */
  reattach?(ctx: RunContext): Promise<Execution | null>;
  /** Stops every process (or job) of a run, wherever it runs, with no execution at hand. */
  killRun(runId: string, runDir: string): Promise<void>;
}
