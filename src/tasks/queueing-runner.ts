import type { Logger } from 'pino';
import type { ActiveRuns } from '../runs/active-runs.js';
import { isTerminal } from '../runs/state-machine.js';
import type { StateStore } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import { wesTime } from '../util/time.js';
import { killRunProcesses } from './run-processes.js';
import type { TaskRunner } from './task-runner.js';

export interface QueueingRunnerOptions {
  workDir: string;
  store: StateStore;
  activeRuns: ActiveRuns;
  maxConcurrentRuns: number;
  cancelGraceMs: number;
  logger: Logger;
}

/**
 * What every runner shares: runs beyond `maxConcurrentRuns` wait, QUEUED, in
 * submission order; a run cancelled while waiting ends CANCELED without ever
 * starting. Subclasses say how a task is launched and stopped.
 */
export abstract class QueueingTaskRunner implements TaskRunner {
  private readonly waiting: string[] = [];
  /** The same runs, to answer isWaiting and isLive without a search of the queue. */
  private readonly waitingIds = new Set<string>();
  protected readonly active = new Set<string>();
  private readonly done = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  private readonly failed = new Set<string>();
  protected closed = false;

  constructor(protected readonly opts: QueueingRunnerOptions) {}

  /** Runs the task of `runId` to its end; resolves when it is over. */
  protected abstract launch(runId: string): Promise<void>;
  /** Stops the running task of `runId` (its state is already CANCELING). */
  protected abstract stopActive(runId: string): Promise<void>;
  abstract close(): Promise<void>;

  run(runId: string): void {
    if (this.closed) throw new Error('task runner is closed');
    if (this.done.has(runId)) return;
    this.track(runId);
    this.waiting.push(runId);
    this.waitingIds.add(runId);
    this.pump();
  }

  async cancel(runId: string): Promise<void> {
    if (this.waitingIds.delete(runId)) {
      this.waiting.splice(this.waiting.indexOf(runId), 1);
      const wf = this.workflow(runId);
      await wf.set(RunKeys.endTime, wesTime(new Date()));
      await wf.addSystemLog('Run canceled before it started.');
      await wf.stateMachine.sendCanceled();
      await this.finish(runId);
      return;
    }
    if (this.active.has(runId)) await this.stopActive(runId);
  }

  async reapAbandoned(runId: string): Promise<void> {
    await killRunProcesses(runId, this.workflow(runId).runDir);
  }

  isOk(runId: string): boolean {
    return !this.failed.has(runId);
  }

  isLive(runId: string): boolean {
    return this.active.has(runId) || this.waitingIds.has(runId);
  }

  isWaiting(runId: string): boolean {
    return this.waitingIds.has(runId);
  }

  settled(runId: string): Promise<void> {
    return this.done.get(runId)?.promise ?? Promise.resolve();
  }

  /** Number of runs waiting for a slot. */
  get queueLength(): number {
    return this.waiting.length;
  }

  /** Runs waiting for a slot, oldest first (they are dropped from the queue). */
  protected drainQueue(): string[] {
    this.waitingIds.clear();
    return this.waiting.splice(0);
  }

  protected workflow(runId: string): ToilWorkflow {
    return new ToilWorkflow(this.opts.workDir, this.opts.store, runId);
  }

  /** Counts a run as active without launching it (one adopted from an earlier server). */
  protected adopt(runId: string): void {
    this.track(runId);
    this.active.add(runId);
  }

  private track(runId: string): void {
    if (this.done.has(runId)) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.done.set(runId, { promise, resolve });
  }

  protected pump(): void {
    while (!this.closed && this.active.size < this.opts.maxConcurrentRuns && this.waiting.length > 0) {
      const runId = this.waiting.shift()!;
      this.waitingIds.delete(runId);
      this.active.add(runId);
      void this.launch(runId)
        .catch(async (err: unknown) => {
          this.failed.add(runId);
          this.opts.logger.error({ err, run_id: runId }, 'task failed');
          await this.lost(runId, `Ferry could not run the task: ${(err as Error).message}`);
        })
        .finally(() => this.finish(runId).then(() => this.pump()));
    }
  }

  /** Ends a run whose task is gone without an outcome: SYSTEM_ERROR (CANCELED if it was canceling). */
  protected async lost(runId: string, why: string): Promise<void> {
    try {
      await this.workflow(runId).endLost(why);
    } catch (err) {
      this.opts.logger.error({ err, run_id: runId }, 'could not record a lost task');
    }
  }

  /** The task is over: forget it, and drop its active marker once the run is terminal. */
  protected async finish(runId: string): Promise<void> {
    this.active.delete(runId);
    try {
      if (isTerminal(await this.workflow(runId).getState())) await this.opts.activeRuns.remove(runId);
    } catch (err) {
      this.opts.logger.error({ err, run_id: runId }, 'could not update the active-run markers');
    }
    const d = this.done.get(runId);
    this.done.delete(runId);
    d?.resolve();
  }
}
