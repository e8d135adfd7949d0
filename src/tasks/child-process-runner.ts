import type { EngineRegistry } from '../engines/registry.js';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import type { Executor } from './executor.js';
import { QueueingTaskRunner, type QueueingRunnerOptions } from './queueing-runner.js';
import { WorkflowTask } from './workflow-task.js';
import type { SandboxPolicy } from './sandbox.js';

export interface ChildProcessTaskRunnerOptions extends QueueingRunnerOptions {
  engines: EngineRegistry;
  /** The sandbox runs go in. Default: none. */
  sandbox?: SandboxPolicy;
  /** Where each run's engine runs. Default: a child process here, in `sandbox`. */
  executor?: (wf: ToilWorkflow) => Executor;
}

/**
 * The in-process runner: each run's task lives in this process and its
 * engine is a child of it. Runs do not outlive the process: on close their
 * engines are stopped and the runs end SYSTEM_ERROR. For embedding and tests;
 * the server uses detached supervisors (SupervisorTaskRunner).
 */
export class ChildProcessTaskRunner extends QueueingTaskRunner {
  private readonly tasks = new Map<string, WorkflowTask>();

  constructor(private readonly options: ChildProcessTaskRunnerOptions) {
    super(options);
  }

  protected async launch(runId: string): Promise<void> {
    const wf = this.workflow(runId);
    const engineId = await wf.get(RunKeys.engine);
    const { engines } = this.options;
    const engine = engineId ? (engines.byName(engineId) ?? (await engines.settled.then(() => engines.byName(engineId)))) : undefined;
    if (!engine) throw new Error(`run has unknown engine '${engineId ?? ''}'`);
    const executor = this.options.executor?.(wf);
    const task = new WorkflowTask(wf, engine, { cancelGraceMs: this.opts.cancelGraceMs, ...(this.options.sandbox ? { sandbox: this.options.sandbox } : {}), ...(executor ? { executor } : {}) });
    this.tasks.set(runId, task);
    // Closed while this task was being set up: it must not start an engine.
    if (this.closed) void task.shutdown();
    try {
      const log = this.opts.logger.child({ run_id: runId });
      log.info({ engine: engine.name }, 'run starting');
      log.info({ state: await task.execute() }, 'run finished');
    } finally {
      this.tasks.delete(runId);
    }
  }

  protected async stopActive(runId: string): Promise<void> {
    await this.tasks.get(runId)?.cancel();
  }

  async close(): Promise<void> {
    this.closed = true;
    const stops: Promise<unknown>[] = [];
    for (const runId of this.drainQueue()) {
      stops.push(this.lost(runId, 'The Ferry server stopped before the run could start.').then(() => this.finish(runId)));
    }
    for (const task of this.tasks.values()) stops.push(task.shutdown());
    for (const runId of this.active) stops.push(this.settled(runId));
    await Promise.allSettled(stops);
  }
}
