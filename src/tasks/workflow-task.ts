import fs from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../engines/engine.js';
import { runContext } from '../engines/run-context.js';
import type { State } from '../runs/state-machine.js';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import { atomicFileCreate } from '../util/atomic-file.js';
import { stringifyExact } from '../util/exact-json.js';
import { errnoCode, storageTrouble } from '../util/errors.js';
import { wesTime } from '../util/time.js';
import type { Execution, Executor } from './executor.js';
import { LocalExecutor } from './local-executor.js';
import { engineEnvironment, RUN_MARKER_ENV } from './run-processes.js';
import type { SandboxPolicy } from './sandbox.js';

export interface WorkflowTaskOptions {
  /** How long the engine gets between SIGTERM and SIGKILL of all its processes. */
  cancelGraceMs: number;
  /** Extra environment for the engine. */
  env?: Record<string, string>;
  /** How long a failed write of the run's outcome is retried before the task gives up on it. Default 4000 ms. */
  outcomeRetryMs?: number;
  /**
   * Bytes set aside on the disk of each of these folders while the run is
   * active (one file per disk), given back when a write of the outcome finds
   * the disk full, so that the outcome can still be recorded. Default: the
   * run folder; a supervisor adds the run's state-store folder.
   */
  reserveDirs?: string[];
  /** Size of each reserve. Default 256 KiB; 0: none. */
  reserveBytes?: number;
  /** The sandbox the engine runs in (with the default executor). Default: none. */
  sandbox?: SandboxPolicy;
  /** Where the engine runs. Default: a child process here, in `sandbox`. */
  executor?: Executor;
  /** Told when the engine has started and when it has ended (a supervisor logs both, with the time). */
  onEngine?: (event: EngineEvent) => void;
}

/** The engine's start (its process spawned, or its job submitted) and end, as the task sees them. */
export type EngineEvent = { kind: 'started'; executor: string } | { kind: 'ended'; exitCode: number | null };

/** Name of the file that holds a run's reserve of disk space. */
export const RESERVE_FILE = '.ferry-reserve';
const DEFAULT_RESERVE_BYTES = 256 * 1024;
const DEFAULT_OUTCOME_RETRY_MS = 4000;
/** After one write of the outcome has been given up, the next ones get this long each. */
const AFTER_GIVING_UP_RETRY_MS = 1000;

/** A write of a run's outcome that still failed after its retries. */
export class OutcomeWriteError extends Error {
  constructor(what: string, cause: unknown) {
    super(`Ferry could not record the run's ${what}: ${describeFailure(cause, true)}.`, { cause });
    this.name = 'OutcomeWriteError';
  }
}

/**
 * What went wrong, for a system log: storage trouble in words; for a failed
 * write, other errnos by their code (no server paths); else the message.
 */
function describeFailure(err: unknown, write = false): string {
  const storage = storageTrouble(err);
  if (storage !== undefined) return storage;
  const code = errnoCode(err);
  if (write && code !== undefined && /^E[A-Z]+$/.test(code)) return `the write failed (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Drives one run from QUEUED to a terminal state, as Toil's task does: sets
 * INITIALIZING, records the command, sets RUNNING (unless a cancel came
 * first), spawns the engine in its own process group with stdout and stderr
 * in the run folder, and on exit writes the outcome. COMPLETE is set only once
 * outputs.json is on disk.
 *
 * Every write of the outcome is retried briefly; when one finds the disk
 * full, the run's scratch space and its reserve (set aside before the engine
 * starts) are given back first. A write that still fails ends the run
 * SYSTEM_ERROR, saying what could not be written; when even that cannot be
 * recorded, `unrecorded` says why and whoever drives the task must exit
 * non-zero, so the server ends the run once it can write again.
 */
export class WorkflowTask {
  private execution: Execution | null = null;
  private readonly executor: Executor;
  private cancelRequested = false;
  private shuttingDown = false;
  private shutdownReason = '';
  private killTimer: NodeJS.Timeout | null = null;
  private readonly reserves: string[] = [];
  private spaceFreed = false;
  private gaveUp = false;
  /** Set when not even SYSTEM_ERROR could be written: the store does not hold the run's outcome. */
  unrecorded: Error | null = null;

  constructor(
    readonly workflow: ToilWorkflow,
    readonly engine: Engine,
    private readonly options: WorkflowTaskOptions,
  ) {
    this.executor = options.executor ?? new LocalExecutor(options.sandbox);
  }

  /**
   * Runs the task to its end. Never throws: failures become SYSTEM_ERROR.
   * Returns the state recorded; when no terminal state could be recorded
   * (see `unrecorded`), the state the store still holds.
   */
  async execute(): Promise<State> {
    const wf = this.workflow;
    const executor = this.executor;
    try {
      if (this.shuttingDown) throw new Error(this.shutdownReason);
      const ctx = await runContext(wf);
      // A job an earlier supervisor of this run started (a scheduler's job outlives its supervisor): watch it again.
      let execution = executor.reattach ? await executor.reattach(ctx) : null;
      if (execution) {
        this.execution = execution;
        if (this.cancelRequested) void this.cancel();
      } else {
        // An executor that queues runs itself keeps the run QUEUED until its job starts.
        const initialized = executor.queues ? await wf.getState() : await wf.stateMachine.sendInitialize();
        if (initialized !== (executor.queues ? 'QUEUED' : 'INITIALIZING')) return await this.stopBeforeStart(initialized);
        if (this.shuttingDown) throw new Error(this.shutdownReason);
        const command = this.engine.buildCommand(ctx);
        // Independent writes, side by side: each is durable on its own.
        await Promise.all([
          executor.queues ? undefined : wf.set(RunKeys.startTime, wesTime(new Date())),
          wf.set(RunKeys.cmd, JSON.stringify(command.argv)),
          command.jobStore === undefined ? undefined : wf.set(RunKeys.jobStore, command.jobStore),
          fs.mkdir(ctx.outputsDir, { recursive: true }),
          fs.mkdir(ctx.tmpDir, { recursive: true }),
        ]);
        // After the writes above: on a nearly full disk the reserve takes what is left, and must not starve them.
        await this.reserveSpace();

        if (!executor.queues) {
          const running = await wf.stateMachine.sendRun();
          if (running !== 'RUNNING') return await this.stopBeforeStart(running);
        }
        if (this.shuttingDown) throw new Error(this.shutdownReason);
        if (this.cancelRequested) return await this.finishCanceled(null);
        const env = { ...engineEnvironment(ctx), ...this.options.env, ...command.env, [RUN_MARKER_ENV]: ctx.runId };
        execution = await executor.launch({ ctx, argv: command.argv, env });
        this.execution = execution;
        this.options.onEngine?.({ kind: 'started', executor: executor.kind });
        // A cancel that arrived while starting.
        if (this.cancelRequested) void this.cancel();
      }
      if (executor.queues) {
        await execution.started;
        if (!this.cancelRequested) {
          if ((await wf.get(RunKeys.startTime)) === null) await wf.set(RunKeys.startTime, wesTime(new Date()));
          await wf.stateMachine.sendRun();
        }
      }

      const end = await execution.ended;
      const exitCode = end.exitCode;
      this.options.onEngine?.({ kind: 'ended', exitCode });
      const endTime = wesTime(new Date());
      // Side by side: the exit code and end time (independent keys, each durable on its own),
      // the engine's own after-exit step, and the reaping of whatever the engine left running.
      const [, explanation] = await settleAll([
        exitCode === null ? undefined : this.record('exit code', () => wf.set(RunKeys.exitCode, String(exitCode))),
        this.engine.afterExit?.(ctx, exitCode ?? -1).catch(() => undefined),
        execution.reap(this.options.cancelGraceMs),
        this.record('end time', () => wf.set(RunKeys.endTime, endTime)),
      ] as const);
      if (explanation && exitCode !== 0) await this.record('system log', () => wf.addSystemLog(explanation));

      if (this.shuttingDown) {
        await this.record('system log', () => wf.addSystemLog(this.shutdownReason));
        return await this.record('state', () => wf.stateMachine.sendSystemError());
      }
      if (this.cancelRequested || (await wf.getState()) === 'CANCELING') return await this.finishCanceled(exitCode);
      if (end.kind === 'failed') {
        await this.record('system log', () => wf.addSystemLog(end.reason));
        return await this.record('state', () => wf.stateMachine.transition(end.state));
      }
      if (exitCode !== 0) {
        await this.record('system log', () => wf.addSystemLog(`${this.engine.name} exited with code ${exitCode}.`));
        return await this.record('state', () => wf.stateMachine.sendExecutorError());
      }
      const outcome = await this.engine.collectOutputs(ctx);
      if (outcome.failure) {
        await this.record('system log', () => wf.addSystemLog(outcome.failure!));
        return await this.record('state', () => wf.stateMachine.sendExecutorError());
      }
      await this.record('outputs', () => atomicFileCreate(wf.outputsJsonPath, stringifyExact(outcome.outputs, 2) + '\n'));
      return await this.record('state', () => wf.stateMachine.sendComplete());
    } catch (err) {
      return this.systemError(err);
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      // Scratch space and Toil's job store are not results: free the disk.
      await fs.rm(wf.tmpDir, { recursive: true, force: true }).catch(() => undefined);
      await this.releaseReserves();
    }
  }

  /**
   * Writes part of the run's outcome, retrying a failed write for a short
   * while (after the first write given up, only briefly). A write that finds
   * the disk full first gets the run's scratch space and reserve back.
   * Throws OutcomeWriteError when the write still fails.
   */
  private async record<T>(what: string, write: () => Promise<T>): Promise<T> {
    const budget = this.gaveUp ? AFTER_GIVING_UP_RETRY_MS : (this.options.outcomeRetryMs ?? DEFAULT_OUTCOME_RETRY_MS);
    const deadline = Date.now() + budget;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await write();
      } catch (err) {
        const code = errnoCode(err);
        if ((code === 'ENOSPC' || code === 'EDQUOT') && (await this.freeSpace())) continue;
        if (Date.now() + delay > deadline) {
          this.gaveUp = true;
          throw new OutcomeWriteError(what, err);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Sets space aside on the disk of each reserve folder, before the engine can fill it (best effort). */
  private async reserveSpace(): Promise<void> {
    const bytes = this.options.reserveBytes ?? DEFAULT_RESERVE_BYTES;
    if (bytes <= 0) return;
    const devices = new Set<number>();
    for (const dir of this.options.reserveDirs ?? [this.workflow.runDir]) {
      const dev = await fs.stat(dir).then((st) => st.dev, () => null);
      if (dev === null || devices.has(dev)) continue;
      devices.add(dev);
      const file = path.join(dir, RESERVE_FILE);
      try {
        await fs.writeFile(file, Buffer.alloc(bytes));
        this.reserves.push(file);
      } catch {
        // Too little space even for the reserve: run without it.
        await fs.rm(file, { force: true }).catch(() => undefined);
      }
    }
  }

  private async releaseReserves(): Promise<void> {
    for (const file of this.reserves.splice(0)) await fs.rm(file, { force: true }).catch(() => undefined);
  }

  /** Gives the disk back what the run can spare: its reserve and its scratch space. True only the first time. */
  private async freeSpace(): Promise<boolean> {
    if (this.spaceFreed) return false;
    this.spaceFreed = true;
    await this.releaseReserves();
    await fs.rm(this.workflow.tmpDir, { recursive: true, force: true }).catch(() => undefined);
    return true;
  }

  /**
   * Asks the task to stop. Before the engine starts this just makes the task
   * end as CANCELED; after, the engine's leader gets SIGTERM (Toil's leader
   * then cleans its workers up) and, after the grace period, every process of
   * the run gets SIGKILL.
   */
  async cancel(): Promise<void> {
    this.cancelRequested = true;
    const execution = this.execution;
    if (execution === null) return;
    await execution.terminate();
    if (!this.killTimer) {
      this.killTimer = setTimeout(() => void this.killEverything(), this.options.cancelGraceMs);
      this.killTimer.unref();
    }
    await execution.ended;
  }

  /** Whatever drives the task is stopping: kill the run's processes and end it SYSTEM_ERROR. */
  async shutdown(reason = 'The Ferry server stopped while the run was active; its processes were stopped.'): Promise<void> {
    this.shuttingDown = true;
    this.shutdownReason = reason;
    this.cancelRequested = true; // a task that has not spawned yet must not
    await this.killEverything();
    await this.execution?.ended;
  }

  /** Kills every process of the run at once (shutdown, or grace period over). */
  async killEverything(): Promise<void> {
    if (this.execution) await this.execution.kill();
    else await this.executor.killRun(this.workflow.runId, this.workflow.runDir);
  }

  private async stopBeforeStart(state: State): Promise<State> {
    if (state === 'CANCELING') return this.finishCanceled(null);
    return state;
  }

  private async finishCanceled(exitCode: number | null): Promise<State> {
    await this.killEverything();
    const wf = this.workflow;
    if (exitCode === null) await this.record('end time', () => wf.set(RunKeys.endTime, wesTime(new Date())));
    await this.record('system log', () => wf.addSystemLog('Run canceled at the user\'s request.'));
    return this.record('state', () => wf.stateMachine.sendCanceled());
  }

  /**
   * Ends the run SYSTEM_ERROR: the reason first (so the state is not seen
   * without it), then the end time, then the state, each retried; a write
   * that fails does not stop the next. If the state cannot be written, the
   * run's outcome is unrecorded (see `unrecorded`).
   */
  private async systemError(err: unknown): Promise<State> {
    const wf = this.workflow;
    const message = err instanceof OutcomeWriteError ? err.message : `Ferry failed to run the workflow: ${describeFailure(err)}`;
    await this.killEverything().catch(() => undefined);
    // Each write retried; one that fails does not stop the next, but the state must be written.
    const write = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
      what === 'state' ? this.record(what, fn) : this.record(what, fn).catch(() => undefined as T);
    try {
      return await wf.endLost(message, write);
    } catch (stateErr) {
      this.unrecorded = stateErr instanceof Error ? stateErr : new Error(String(stateErr));
      return wf.getState().catch((): State => 'UNKNOWN');
    }
  }
}

/**
 * Like Promise.all, but waits for every promise to settle before rejecting
 * (with the first failure), so nothing is still running behind the caller's back.
 */
async function settleAll<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}


