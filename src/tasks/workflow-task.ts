import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import type { Engine, EngineCommand, RunContext } from '../engines/engine.js';
import { atomicFileCreate } from '../util/atomic-file.js';
import { wesTime } from '../util/time.js';
import { findProcessesByEnv, groupAlive, processGroup, signalQuietly } from '../util/process.js';
import path from 'node:path';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import type { State } from '../runs/state-machine.js';

/** Environment variable that marks every process of a run, however far it strays. */
export const RUN_MARKER_ENV = 'FERRY_RUN_ID';

export interface WorkflowTaskOptions {
  /** How long the engine gets between SIGTERM and SIGKILL of all its processes. */
  cancelGraceMs: number;
  /** Extra environment for the engine. */
  env?: Record<string, string>;
}

/**
 * Drives one run from QUEUED to a terminal state, as Toil's task does: sets
 * INITIALIZING, records the command, sets RUNNING (unless a cancel came
 * first), spawns the engine in its own process group with stdout and stderr
 * in the run folder, and on exit writes the outcome. COMPLETE is set only once
 * outputs.json is on disk.
 */
export class WorkflowTask {
  private pgid: number | null = null;
  private cancelRequested = false;
  private shuttingDown = false;
  private shutdownReason = '';
  private killTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> | null = null;

  constructor(
    readonly workflow: ToilWorkflow,
    readonly engine: Engine,
    private readonly options: WorkflowTaskOptions,
  ) {}

  /** Runs the task to its end. Never throws: failures become SYSTEM_ERROR. */
  async execute(): Promise<State> {
    const wf = this.workflow;
    try {
      if (this.shuttingDown) throw new Error(this.shutdownReason);
      const initialized = await wf.stateMachine.sendInitialize();
      if (initialized !== 'INITIALIZING') return await this.stopBeforeStart(initialized);
      await wf.set(RunKeys.startTime, wesTime(new Date()));
      const ctx = await wf.context();
      if (this.shuttingDown) throw new Error(this.shutdownReason);
      const command = this.engine.buildCommand(ctx);
      await wf.set(RunKeys.cmd, JSON.stringify(command.argv));
      await wf.set(RunKeys.jobStore, ctx.jobStorePath);
      await fs.mkdir(ctx.outputsDir, { recursive: true });
      await fs.mkdir(ctx.tmpDir, { recursive: true });

      const running = await wf.stateMachine.sendRun();
      if (running !== 'RUNNING') return await this.stopBeforeStart(running);
      if (this.shuttingDown) throw new Error(this.shutdownReason);
      if (this.cancelRequested) return await this.finishCanceled(null);

      const exitCode = await this.spawnEngine(ctx, command);
      await wf.set(RunKeys.exitCode, String(exitCode));
      const explanation = await this.engine.afterExit?.(ctx, exitCode).catch(() => undefined);
      if (explanation && exitCode !== 0) await wf.addSystemLog(explanation);
      await this.reapStragglers();
      await wf.set(RunKeys.endTime, wesTime(new Date()));

      if (this.shuttingDown) {
        await wf.addSystemLog(this.shutdownReason);
        return await wf.stateMachine.sendSystemError();
      }
      if (this.cancelRequested || (await wf.getState()) === 'CANCELING') return await this.finishCanceled(exitCode);
      if (exitCode !== 0) {
        await wf.addSystemLog(`${this.engine.name} exited with code ${exitCode}.`);
        return await wf.stateMachine.sendExecutorError();
      }
      const outcome = await this.engine.collectOutputs(ctx);
      if (outcome.failure) {
        await wf.addSystemLog(outcome.failure);
        return await wf.stateMachine.sendExecutorError();
      }
      await atomicFileCreate(wf.outputsJsonPath, JSON.stringify(outcome.outputs, null, 2) + '\n');
      return await wf.stateMachine.sendComplete();
    } catch (err) {
      return this.systemError(err);
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      // Scratch space and Toil's job store are not results: free the disk.
      await fs.rm(path.join(wf.runDir, 'tmp'), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * Asks the task to stop. Before the engine starts this just makes the task
   * end as CANCELED; after, the engine's leader gets SIGTERM (Toil's leader
   * then cleans its workers up) and, after the grace period, every process of
   * the run gets SIGKILL.
   */
  async cancel(): Promise<void> {
    this.cancelRequested = true;
    if (this.pgid === null) return;
    signalQuietly(this.pgid, 'SIGTERM');
    if (!this.killTimer) {
      this.killTimer = setTimeout(() => void this.killEverything(), this.options.cancelGraceMs);
      this.killTimer.unref();
    }
    await this.exited;
  }

  /** Whatever drives the task is stopping: kill the run's processes and end it SYSTEM_ERROR. */
  async shutdown(reason = 'The Ferry server stopped while the run was active; its processes were stopped.'): Promise<void> {
    this.shuttingDown = true;
    this.shutdownReason = reason;
    this.cancelRequested = true; // a task that has not spawned yet must not
    await this.killEverything();
    await this.exited;
  }

  /** Kills every process of the run at once (shutdown, or grace period over). */
  async killEverything(): Promise<void> {
    await killRunProcesses(this.workflow.runId, this.workflow.runDir, this.pgid);
  }

  private async spawnEngine(ctx: RunContext, command: EngineCommand): Promise<number> {
    const [file, ...args] = command.argv;
    if (!file) throw new Error('engine produced an empty command');
    const stdout = await fs.open(ctx.stdoutPath, 'w');
    const stderr = await fs.open(ctx.stderrPath, 'w');
    try {
      const child = spawn(file, args, {
        cwd: ctx.executionDir,
        detached: true, // own process group, so the whole group can be signalled
        stdio: ['ignore', stdout.fd, stderr.fd],
        env: { ...engineEnvironment(ctx), ...this.options.env, ...command.env, [RUN_MARKER_ENV]: ctx.runId },
      });
      const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      const spawned = once(child, 'spawn');
      this.exited = exit.then(() => undefined, () => undefined);
      await Promise.race([spawned, once(child, 'error').then(([err]) => Promise.reject(err as Error))]);
      this.pgid = child.pid ?? null;
      // A cancel that arrived while spawning.
      if (this.cancelRequested) void this.cancel();
      const [code, signal] = await exit;
      if (code !== null) return code;
      return 128 + (signal ? signalNumber(signal) : 0);
    } finally {
      await stdout.close();
      await stderr.close();
    }
  }

  /** After the leader exits, no process of the run may be left behind. */
  private async reapStragglers(): Promise<void> {
    const pgid = this.pgid;
    const stragglers = await findRunProcesses(this.workflow.runId, this.workflow.runDir);
    if ((pgid === null || !groupAlive(pgid)) && stragglers.length === 0) return;
    if (pgid !== null) signalQuietly(-pgid, 'SIGTERM');
    for (const pid of stragglers) signalQuietly(pid, 'SIGTERM');
    const deadline = Date.now() + Math.min(this.options.cancelGraceMs, 3000);
    while (Date.now() < deadline) {
      if ((pgid === null || !groupAlive(pgid)) && (await findRunProcesses(this.workflow.runId, this.workflow.runDir)).length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.killEverything();
  }

  private async stopBeforeStart(state: State): Promise<State> {
    if (state === 'CANCELING') return this.finishCanceled(null);
    return state;
  }

  private async finishCanceled(exitCode: number | null): Promise<State> {
    await this.killEverything();
    const wf = this.workflow;
    if (exitCode === null) await wf.set(RunKeys.endTime, wesTime(new Date()));
    await wf.addSystemLog('Run canceled at the user\'s request.');
    return wf.stateMachine.sendCanceled();
  }

  private async systemError(err: unknown): Promise<State> {
    const wf = this.workflow;
    const message = err instanceof Error ? err.message : String(err);
    try {
      await this.killEverything();
      await wf.addSystemLog(`Ferry failed to run the workflow: ${message}`);
      if ((await wf.get(RunKeys.endTime)) === null) await wf.set(RunKeys.endTime, wesTime(new Date()));
    } catch {
      // The store itself may be what failed; the state write below is what matters.
    }
    try {
      return await wf.stateMachine.sendSystemError();
    } catch {
      return 'SYSTEM_ERROR';
    }
  }
}

/**
 * The environment an engine gets: only what it needs to run, never the
 * server's own (Toil copies its environment into the job store, and tools
 * must not see the server's secrets). Scratch space is inside the run.
 */
function engineEnvironment(ctx: RunContext): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: ctx.tmpDir,
    TMPDIR: ctx.tmpDir,
    LANG: process.env.LANG ?? 'C.UTF-8',
  };
  for (const name of ['LC_ALL', 'TZ']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/**
 * Kills every process of a run: the engine's group if known, then whatever
 * carries the run's marker or scratch folder, with their groups, until none
 * is left. Works for runs of a server that is gone, too.
 */
export async function killRunProcesses(runId: string, runDir: string, pgid: number | null = null): Promise<void> {
  if (pgid !== null) signalQuietly(-pgid, 'SIGKILL');
  const ownGroup = await processGroup(process.pid);
  for (let round = 0; round < 20; round++) {
    const pids = await findRunProcesses(runId, runDir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      const group = await processGroup(pid);
      if (group !== null && group > 1 && group !== ownGroup) signalQuietly(-group, 'SIGKILL');
      signalQuietly(pid, 'SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Every live process of a run: those with the run's marker (the engine and
 * its workers), and those whose HOME or TMPDIR lies in the run's folder (the
 * tools, which engines give a scrubbed environment).
 */
export function findRunProcesses(runId: string, runDir: string): Promise<number[]> {
  const inside = runDir.endsWith(path.sep) ? runDir : runDir + path.sep;
  return findProcessesByEnv([`${RUN_MARKER_ENV}=${runId}`], [`TMPDIR=${inside}`, `HOME=${inside}`]);
}

function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 0;
}
