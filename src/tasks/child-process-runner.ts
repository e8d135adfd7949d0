import type { Logger } from 'pino';
import type { EngineRegistry } from '../engines/registry.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import type { StateStore } from '../runs/state-store.js';
import type { TaskRunner } from './task-runner.js';
import { WorkflowTask } from './workflow-task.js';

export interface ChildProcessTaskRunnerOptions {
  workDir: string;
  store: StateStore;
  engines: EngineRegistry;
  maxConcurrentRuns: number;
  cancelGraceMs: number;
  logger: Logger;
}

/**
 * The embedded task runner: each run's engine is a child process of this
 * server, at most `maxConcurrentRuns` at once; runs beyond that wait, QUEUED,
 * in submission order.
 */
export class ChildProcessTaskRunner implements TaskRunner {
  private readonly waiting: string[] = [];
  private readonly active = new Map<string, WorkflowTask | null>();
  private readonly done = new Map<string, Promise<void>>();
  private readonly resolvers = new Map<string, () => void>();
  private readonly failed = new Set<string>();
  private closed = false;

  constructor(private readonly opts: ChildProcessTaskRunnerOptions) {}

  run(runId: string): void {
    if (this.closed) throw new Error('task runner is closed');
    if (this.done.has(runId)) return;
    this.done.set(runId, new Promise<void>((resolve) => this.resolvers.set(runId, resolve)));
    this.waiting.push(runId);
    this.pump();
  }

  async cancel(runId: string): Promise<void> {
    const at = this.waiting.indexOf(runId);
    if (at !== -1) {
      // Never started: the task still runs, sees CANCELING and ends CANCELED
      // without spawning anything; it just jumps the queue to do so.
      this.waiting.splice(at, 1);
      this.start(runId);
      return this.settled(runId);
    }
    const task = this.active.get(runId);
    if (task) await task.cancel();
  }

  isOk(runId: string): boolean {
    return !this.failed.has(runId);
  }

  isLive(runId: string): boolean {
    return this.waiting.includes(runId) || this.active.has(runId);
  }

  settled(runId: string): Promise<void> {
    return this.done.get(runId) ?? Promise.resolve();
  }

  /** Number of runs waiting for a slot. */
  get queueLength(): number {
    return this.waiting.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    const waiting = this.waiting.splice(0);
    const stops: Promise<unknown>[] = [];
    for (const runId of waiting) {
      const wf = new ToilWorkflow(this.opts.workDir, this.opts.store, runId);
      stops.push(this.shutdownRun(wf).finally(() => this.finish(runId)));
    }
    for (const [runId, task] of this.active) {
      if (task) stops.push(task.shutdown().then(() => this.settled(runId)));
    }
    await Promise.allSettled(stops);
  }

  private async shutdownRun(wf: ToilWorkflow): Promise<void> {
    await wf.addSystemLog('The Ferry server stopped before the run could start.');
    await wf.stateMachine.sendSystemError();
  }

  private pump(): void {
    while (!this.closed && this.active.size < this.opts.maxConcurrentRuns && this.waiting.length > 0) {
      this.start(this.waiting.shift()!);
    }
  }

  private start(runId: string): void {
    this.active.set(runId, null);
    void this.drive(runId).finally(() => {
      this.finish(runId);
      this.pump();
    });
  }

  private finish(runId: string): void {
    this.active.delete(runId);
    this.resolvers.get(runId)?.();
    this.resolvers.delete(runId);
  }

  private async drive(runId: string): Promise<void> {
    const log = this.opts.logger.child({ run_id: runId });
    const wf = new ToilWorkflow(this.opts.workDir, this.opts.store, runId);
    try {
      const engineName = await wf.get(RunKeys.engine);
      const engine = engineName ? this.opts.engines.byName(engineName) : undefined;
      if (!engine) throw new Error(`run has unknown engine '${engineName ?? ''}'`);
      const task = new WorkflowTask(wf, engine, { cancelGraceMs: this.opts.cancelGraceMs });
      this.active.set(runId, task);
      log.info({ engine: engine.name }, 'run starting');
      const state = await task.execute();
      log.info({ state }, 'run finished');
    } catch (err) {
      this.failed.add(runId);
      log.error({ err }, 'task failed');
      try {
        await wf.addSystemLog(`Ferry could not run the task: ${(err as Error).message}`);
        await wf.stateMachine.sendSystemError();
      } catch (inner) {
        log.error({ err: inner }, 'could not record the task failure');
      }
    }
  }
}
