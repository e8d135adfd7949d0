import type { Logger } from 'pino';
import type { ActiveRuns } from '../runs/active-runs.js';
import type { RunIndex } from '../runs/run-index.js';
import { isTerminal, type State } from '../runs/state-machine.js';
import { isRunId, type StateStore } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import { maySee, type Caller } from './caller.js';
import { OperationForbiddenError, WorkflowNotFoundError } from '../util/errors.js';
import { isIdentityAlive } from '../util/process.js';

export interface RunLifecycleDeps {
  workDir: string;
  store: StateStore;
  index: RunIndex;
  activeRuns: ActiveRuns;
  taskRunner: TaskRunner;
  logger: Logger;
  /** This server's identity, as recorded with the runs it accepts. */
  serverId: string;
}

/**
 * Finds runs and tells their state truthfully: a run whose task is gone is
 * not left claiming to run. Cancels runs.
 */
export class RunLifecycle {
  constructor(private readonly deps: RunLifecycleDeps) {}

  /** A run by id, whether or not it exists. */
  workflow(runId: string): ToilWorkflow {
    return new ToilWorkflow(this.deps.workDir, this.deps.store, runId);
  }

  /**
   * The run, or a 404 when there is none by that id that `caller` may see:
   * someone else's run is not found, never forbidden, so its existence does
   * not show.
   */
  async existing(runId: string, caller: Caller): Promise<ToilWorkflow> {
    if (!isRunId(runId)) throw new WorkflowNotFoundError(runId);
    const wf = this.workflow(runId);
    // The index holds only runs that have a state, with their owner; anything else is looked up.
    const entry = this.deps.index.get(runId);
    if (entry) {
      if (!maySee(caller, entry.owner)) throw new WorkflowNotFoundError(runId);
      return wf;
    }
    if (!(await wf.exists())) throw new WorkflowNotFoundError(runId);
    if (caller !== null && !maySee(caller, await wf.get(RunKeys.owner))) throw new WorkflowNotFoundError(runId);
    return wf;
  }

  /**
   * The run's state, with Toil's lazy check: a run that is not finished but
   * whose task is gone (its server stopped, or the task died) is not left
   * claiming to run. Whatever of it still runs is reaped by the task runner,
   * and it ends SYSTEM_ERROR, or CANCELED if it was being canceled.
   */
  async currentState(wf: ToilWorkflow): Promise<State> {
    const { taskRunner, serverId } = this.deps;
    const state = await wf.getState();
    if (isTerminal(state) || state === 'UNKNOWN') return state;
    if (taskRunner.isLive(wf.runId)) return state;
    const owner = await wf.get(RunKeys.serverId);
    if (owner !== serverId && owner !== null && (await isIdentityAlive(owner))) return state;
    // Re-read: the task may have finished between the two reads.
    const again = await wf.getState();
    if (isTerminal(again) || taskRunner.isLive(wf.runId)) return again;
    const why = owner === serverId ? 'its task stopped unexpectedly' : 'the Ferry server that ran it stopped';
    // Its engine may have outlived it: nothing of an abandoned run keeps running.
    await taskRunner.reapAbandoned(wf.runId);
    try {
      const final = await wf.endLost((s) => (s === 'CANCELING' ? `Marked CANCELED: ${why} while canceling.` : `Marked SYSTEM_ERROR: ${why}.`));
      if (isTerminal(final)) await this.deps.activeRuns.remove(wf.runId);
      return final;
    } catch (err) {
      // The store cannot be written (full or read-only disk): a read must still
      // answer. The run is reported as read; the next read tries again.
      this.deps.logger.warn({ err, run_id: wf.runId }, 'could not record the end of an abandoned run; will retry');
      return again;
    }
  }

  /**
   * Asks a run to stop: finished or canceling runs are left as they are;
   * failed ones cannot be canceled (403). The answer does not wait for the
   * engine to stop; the state says when it has.
   */
  async cancel(wf: ToilWorkflow): Promise<void> {
    const state = await this.currentState(wf);
    if (state === 'EXECUTOR_ERROR' || state === 'SYSTEM_ERROR' || state === 'PREEMPTED') {
      throw new OperationForbiddenError(`Workflow is in state: '${state}', which cannot be cancelled.`);
    }
    if (state === 'COMPLETE' || state === 'CANCELED' || state === 'CANCELING') return;
    if ((await wf.stateMachine.sendCancel()) !== 'CANCELING') return;
    this.deps.logger.info({ run_id: wf.runId }, 'cancel requested');
    void this.deps.taskRunner.cancel(wf.runId).catch((err: unknown) => this.deps.logger.error({ err, run_id: wf.runId }, 'cancel failed'));
  }
}
