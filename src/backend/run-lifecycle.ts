import type { Logger } from 'pino';
import type { ActiveRuns } from '../runs/active-runs.js';
import type { RunDeletions } from '../runs/run-deletion.js';
import type { RunIndex } from '../runs/run-index.js';
import { isTerminal, WorkflowStateMachine, type State } from '../runs/state-machine.js';
import { isRunId, type StateStore } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import { maySee, type Caller } from './caller.js';
import { ConflictError, OperationForbiddenError, WorkflowNotFoundError } from '../util/errors.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { isIdentityAlive } from '../util/process.js';

/** What a run waiting in the task runner's queue can be in (see TaskRunner.isWaiting). */
const WAITING_STATES: ReadonlySet<State> = new Set<State>(['QUEUED', 'CANCELING']);

export interface RunLifecycleDeps {
  workDir: string;
  store: StateStore;
  index: RunIndex;
  activeRuns: ActiveRuns;
  deletions: RunDeletions;
  taskRunner: TaskRunner;
  logger: Logger;
  /** This server's identity, as recorded with the runs it accepts. */
  serverId: string;
}

/** How long a deletion waits for a finished run's task to let go of it (its supervisor exits just after the outcome). */
const TASK_SETTLE_WAIT_MS = 10_000;

/**
 * Finds runs and tells their state truthfully: a run whose task is gone is
 * not left claiming to run. Cancels and deletes runs.
 */
export class RunLifecycle {
  /** Per run: deleting it, and ending it when its task is gone, never interleave. */
  private readonly locks = new KeyedLock();

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
    // Checked first: an id that is not a run id is a 404 before anything is made of it.
    const inIndex = this.visible(runId, caller);
    const wf = this.workflow(runId);
    if (inIndex) return wf;
    if (!(await wf.exists())) throw new WorkflowNotFoundError(runId);
    if (caller !== null && !maySee(caller, await wf.get(RunKeys.owner))) throw new WorkflowNotFoundError(runId);
    return wf;
  }

  /**
   * The state a run ended in, when memory tells it (the index, or a read
   * before) and `caller` may see the run; undefined when only the store can
   * tell. A run `caller` may not see, or none, is the 404 of {@link existing}.
   * What the poll every client makes costs when its run has ended: no object, no promise.
   */
  knownFinalState(runId: string, caller: Caller): State | undefined {
    if (!this.visible(runId, caller)) return undefined;
    return this.deps.index.finalStateOf(runId) ?? WorkflowStateMachine.knownFinal(this.deps.store, runId);
  }

  /**
   * Whether the index holds a run `caller` may see, with no read of the store
   * (false: only the store can tell); the 404 for one that is not there to see.
   */
  private visible(runId: string, caller: Caller): boolean {
    if (!isRunId(runId) || this.deps.deletions.isDeleting(runId)) throw new WorkflowNotFoundError(runId);
    // The index holds only runs that have a state, with their owner; anything else is looked up.
    const owner = this.deps.index.ownerOf(runId);
    if (owner === null) return false;
    if (!maySee(caller, owner || undefined)) throw new WorkflowNotFoundError(runId);
    return true;
  }

  /**
   * The states a run that has not ended may be in, as far as this server
   * knows without reading the store: one still waiting in its queue is
   * QUEUED, or CANCELING while a cancel drops it; of any other, only the
   * store can tell (null).
   */
  possibleStates(runId: string): ReadonlySet<State> | null {
    return this.deps.taskRunner.isWaiting(runId) ? WAITING_STATES : null;
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
    return this.locks.run(wf.runId, () => this.endAbandoned(wf, owner === serverId));
  }

  /** Ends a run whose task is gone, unless it has ended (or been deleted) meanwhile. */
  private async endAbandoned(wf: ToilWorkflow, ranHere: boolean): Promise<State> {
    const { taskRunner } = this.deps;
    // Re-read: the task may have finished between the two reads, or the run been deleted.
    const again = await wf.getState();
    if (isTerminal(again) || again === 'UNKNOWN' || taskRunner.isLive(wf.runId) || this.deps.deletions.isDeleting(wf.runId)) return again;
    const why = ranHere ? 'its task stopped unexpectedly' : 'the Ferry server that ran it stopped';
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
    // Under the run's lock, so that a run deleted meanwhile gets no state written (nor its record begun again).
    const moved = await this.locks.run(wf.runId, async () => ((await this.isGone(wf)) ? null : wf.stateMachine.sendCancel()));
    if (moved === null) throw new WorkflowNotFoundError(wf.runId);
    if (moved !== 'CANCELING') return;
    this.deps.logger.info({ run_id: wf.runId }, 'cancel requested');
    void this.deps.taskRunner.cancel(wf.runId).catch((err: unknown) => this.deps.logger.error({ err, run_id: wf.runId }, 'cancel failed'));
  }

  /**
   * Deletes a finished run: its folder, record and index entries go (see
   * RunDeletions), so that every route of it answers 404 and listings skip
   * it. A run not finished is refused (409), as is one whose task has not
   * let go of it within a short wait. Of concurrent deletions of one run,
   * the first deletes it and the others find no run (404). `by`: who asked,
   * for the log (none: a server without authentication).
   */
  async delete(wf: ToilWorkflow, by: string | undefined): Promise<void> {
    const { taskRunner, deletions, index, logger } = this.deps;
    const runId = wf.runId;
    const state = await this.currentState(wf);
    if (!isTerminal(state)) {
      throw new ConflictError(`Run '${runId}' is ${state}: only a finished run (COMPLETE, EXECUTOR_ERROR, SYSTEM_ERROR or CANCELED) can be deleted; cancel it first.`);
    }
    // A supervisor writes the outcome, then tidies up and exits: it must be done with the run first.
    if (taskRunner.isLive(runId)) await settledWithin(taskRunner.settled(runId), TASK_SETTLE_WAIT_MS);
    if (taskRunner.isLive(runId)) throw new ConflictError(`Run '${runId}' has finished, but its task is still tidying up; try again shortly.`);
    await this.locks.run(runId, async () => {
      if (deletions.isDeleting(runId) || !(await wf.exists())) throw new WorkflowNotFoundError(runId);
      await deletions.delete(runId, index);
    });
    logger.info({ run_id: runId, state, ...(by === undefined ? {} : { by }) }, 'run deleted');
  }

  /** Whether the run's deletion has begun (it is gone to every reader). */
  isDeleting(runId: string): boolean {
    return this.deps.deletions.isDeleting(runId);
  }

  /** Whether the run is gone: deleted, or being deleted (for a read that failed half way). */
  async isGone(wf: ToilWorkflow): Promise<boolean> {
    return this.deps.deletions.isDeleting(wf.runId) || !(await wf.exists().catch(() => true));
  }

  /** Finishes the deletions that began here but failed part way (the runs are gone already). Returns their ids. */
  async finishPendingDeletions(): Promise<string[]> {
    const { deletions, index, logger } = this.deps;
    const done: string[] = [];
    for (const runId of deletions.pending()) {
      try {
        await this.locks.run(runId, () => deletions.finish(runId, index));
        done.push(runId);
      } catch (err) {
        logger.warn({ err, run_id: runId }, 'could not finish deleting a run; will retry');
      }
    }
    return done;
  }
}

/** Waits for `settled`, or `ms` at most. */
async function settledWithin(settled: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
