import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FerryConfig } from '../config/config.js';
import { isTerminal } from '../runs/state-machine.js';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import { isIdentityAlive, signalQuietly } from '../util/process.js';
import { QueueingTaskRunner, type QueueingRunnerOptions } from './queueing-runner.js';
import { TASK_KEY } from './supervisor.js';
import { RESERVE_FILE } from './workflow-task.js';

export interface SupervisorTaskRunnerOptions extends QueueingRunnerOptions {
  config: FerryConfig;
  /** How often adopted supervisors are checked for life. */
  sweepMs?: number;
  /** Keep a supervisor started ahead of the next run (default true). */
  standby?: boolean;
  /** After a standby takes a run, how long the next one waits to start (default 500 ms); see `replaceStandby`. */
  standbyDelayMs?: number;
}

const DEFAULT_STANDBY_DELAY_MS = 500;
/** The most times new supervisors take over one run whose supervisors keep stopping. */
const MAX_TAKEOVERS = 3;

/** Defined (true) only in the one-file build of the CLI. */
declare const __FERRY_BUNDLE__: boolean | undefined;

/** How to start `ferry run-task`: the compiled CLI when built, else the TypeScript source through tsx (looked up once). */
const supervisorCommand = ((): (() => string[]) => {
  let command: string[] | null = null;
  return () => {
    if (command) return command;
    // The one-file build (scripts/bundle.ts) is the whole CLI: supervisors are started from it too.
    if (typeof __FERRY_BUNDLE__ !== 'undefined') return (command = [process.execPath, fileURLToPath(import.meta.url)]);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const compiled = path.join(here, '..', 'cli.js');
    command = existsSync(compiled) ? [process.execPath, compiled] : [process.execPath, '--import', 'tsx', path.join(here, '..', 'cli.ts')];
    return command;
  };
})();

/**
 * A supervisor's environment: what it needs to find its tools, nothing of the
 * server's own (secrets, or a test runner's NODE_OPTIONS hooks); its
 * configuration comes as flags. It carries no run marker: the supervisor is
 * Ferry's, not the run's, and lives on briefly after writing the run's last
 * state (a standby does not know its run anyway; WorkflowTask marks the
 * engine).
 */
function supervisorEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  // SLURM_CONF: where the cluster's configuration is, for a run that goes to Slurm.
  for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'SLURM_CONF']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/**
 * The server's runner: each run is driven by a supervisor process of its own
 * (`ferry run-task`), detached from the server, so runs go on when the
 * server stops or crashes. A new server adopts the supervisors it finds
 * alive, restarts runs still waiting in the queue, and ends runs whose
 * supervisor is gone as SYSTEM_ERROR (their leftover processes killed).
 */
export class SupervisorTaskRunner extends QueueingTaskRunner {
  private readonly pids = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  private sweeper: NodeJS.Timeout | null = null;
  /** How many times a new supervisor took each run over (Slurm runs outlive their supervisors). */
  private readonly takeovers = new Map<string, number>();
  private standby: ChildProcess | null = null;
  private standbyTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: SupervisorTaskRunnerOptions) {
    super(options);
    this.sweeper = setInterval(() => void this.sweep(), options.sweepMs ?? 1000);
    this.sweeper.unref();
    // Not at once: a process loading beside a starting server slows its first answers (on two cores, by half).
    this.replaceStandby();
  }

  /**
   * Picks up after an earlier server: every run not yet terminal is adopted
   * (its supervisor lives), queued again (it never started), or declared lost.
   */
  async recover(): Promise<void> {
    const ids = await this.opts.activeRuns.list();
    const queued: { runId: string; at: string }[] = [];
    for (const runId of ids) {
      const wf = this.workflow(runId);
      const state = await wf.getState();
      if (isTerminal(state)) {
        await this.opts.activeRuns.remove(runId);
        continue;
      }
      if (state === 'UNKNOWN') continue; // a submission that never completed: not a run
      const owner = await wf.get(TASK_KEY);
      if (owner !== null && (await isIdentityAlive(owner))) {
        this.adoptRun(runId, owner);
      } else if (await this.reattachable(runId)) {
        // Its job lives on in the scheduler: a new supervisor watches it again.
        this.opts.logger.info({ run_id: runId }, 'the run\'s supervisor is gone; a new one takes over its Slurm job');
        this.run(runId);
      } else if (owner === null && state === 'QUEUED') {
        queued.push({ runId, at: (await wf.get('submitted_at')) ?? '' });
      } else if (owner === null && state === 'CANCELING') {
        await this.lost(runId, 'Run canceled before it started.');
        await this.finish(runId);
      } else {
        await this.reap(runId, 'The run\'s supervisor stopped (it was gone when the server started).');
      }
    }
    queued.sort((a, b) => a.at.localeCompare(b.at));
    for (const q of queued) this.run(q.runId);
  }

  /** The flags every supervisor gets: the server's configuration that a run needs. */
  private supervisorFlags(): string[] {
    const c = this.options.config;
    const flags = ['--work-dir', c.workDir, '--state-store', c.stateStore, '--cancel-grace-seconds', String(c.cancelGraceMs / 1000), '--log-level', c.logLevel === 'silent' ? 'info' : c.logLevel];
    // The sandbox in force (resolved at the server's start), and what it lets runs read and hides from them.
    flags.push('--sandbox', c.sandbox, '--sandbox-network', c.sandboxNetwork ? 'on' : 'off');
    for (const root of c.allowedFileRoots) flags.push('--allowed-file-root', root);
    if (c.executor === 'slurm') {
      flags.push('--executor', 'slurm', '--slurm-poll-seconds', String(c.slurm.pollMs / 1000));
      for (const opt of c.slurm.options) flags.push(`--slurm-opt=${opt}`);
      if (c.slurm.partitions.length > 0) flags.push('--slurm-partitions', c.slurm.partitions.join(','));
    }
    for (const [flag, file] of [['--auth-htpasswd', c.authHtpasswd], ['--auth-tokens', c.authTokens], ['--workflow-allow-list', c.workflowAllowList]] as const) {
      if (file !== undefined) flags.push(flag, file);
    }
    return flags;
  }

  /**
   * Starts the standby that replaces one that was used. Starting and loading
   * a supervisor takes a few hundred milliseconds of CPU, which, spent as the
   * run is handed over, competes with that run's own start (its supervisor's
   * setup and its engine's start-up) and slows it. So the next standby starts
   * at once only when runs are waiting for a slot (they need it now);
   * otherwise `standbyDelayMs` after the hand-over, past that burst. A run
   * submitted before then starts on a supervisor of its own, as without a
   * standby.
   */
  private replaceStandby(): void {
    if (this.closed || this.options.standby === false || this.standby !== null) return;
    if (this.queueLength > 0) {
      this.spawnStandby();
      return;
    }
    if (this.standbyTimer !== null) return;
    this.standbyTimer = setTimeout(() => this.spawnStandby(), this.options.standbyDelayMs ?? DEFAULT_STANDBY_DELAY_MS);
    this.standbyTimer.unref();
  }

  /**
   * Starts a supervisor ahead of its run (`ferry run-task --standby`), so the
   * next run starts without waiting for a process to start and load. It
   * waits for a run id on its stdin and exits when that closes unused.
   */
  private spawnStandby(): void {
    if (this.standbyTimer !== null) clearTimeout(this.standbyTimer);
    this.standbyTimer = null;
    if (this.closed || this.options.standby === false || this.standby !== null) return;
    const [exec, ...args] = supervisorCommand();
    const child = spawn(exec!, [...args, 'run-task', '--standby', ...this.supervisorFlags()], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: supervisorEnvironment(),
    });
    child.unref();
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined);
    // The pipe must not keep the server alive.
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.once('exit', () => {
      if (this.standby === child) this.standby = null;
    });
    this.standby = child;
  }

  protected async launch(runId: string): Promise<void> {
    const ready = this.standby;
    this.standby = null;
    const handOver = ready !== null && ready.exitCode === null && ready.signalCode === null && ready.pid !== undefined && ready.stdin?.writable === true;
    const child = handOver ? ready : await this.spawnSupervisor(runId);
    if (handOver) child.stdin!.end(`${runId}\n`);
    this.replaceStandby();
    const pid = child.pid;
    if (pid === undefined) throw new Error('the supervisor could not be started');
    this.pids.set(runId, pid);
    this.opts.logger.info({ run_id: runId, pid, standby: handOver }, 'supervisor started');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    // A standby that died before claiming the run (or never got its id): start one the usual way.
    if (handOver && !this.closed && (await this.unclaimed(runId, pid).catch(() => false))) {
      this.opts.logger.warn({ run_id: runId, pid }, 'the standby supervisor did not take the run; starting another');
      return this.launch(runId);
    }
    // If another supervisor won the claim (a restart raced us), follow that one.
    await this.afterExit(runId, pid).catch(() => undefined);
  }

  /** Starts the supervisor of one run (`ferry run-task <run_id>`), logging to the run's supervisor.log. */
  private async spawnSupervisor(runId: string): Promise<ChildProcess> {
    const [exec, ...args] = supervisorCommand();
    const log = await fs.open(path.join(this.workflow(runId).runDir, 'supervisor.log'), 'a');
    try {
      const child = spawn(exec!, [...args, 'run-task', runId, ...this.supervisorFlags()], {
        detached: true, // its own session: signals to the server's group do not reach it
        stdio: ['ignore', log.fd, log.fd],
        env: supervisorEnvironment(),
      });
      child.once('error', () => undefined); // no pid then: launch() reports it
      child.unref();
      return child;
    } finally {
      await log.close();
    }
  }

  /** Whether a run handed to a supervisor that exited is still waiting, never claimed. */
  private async unclaimed(runId: string, pid: number): Promise<boolean> {
    const wf = this.workflow(runId);
    const [owner, state] = await Promise.all([wf.get(TASK_KEY), wf.getState()]);
    return owner === null && state === 'QUEUED' && this.pids.get(runId) === pid;
  }

  private async afterExit(runId: string, pid: number): Promise<void> {
    const owner = await this.workflow(runId).get(TASK_KEY);
    const mine = owner?.split(':')[2] === String(pid);
    if (owner !== null && !mine && (await isIdentityAlive(owner))) {
      await new Promise<void>((resolve) => {
        this.waiters.set(runId, resolve);
        this.pids.delete(runId);
      });
      return;
    }
    this.pids.delete(runId);
    // A server that has stopped leaves its runs to the next one.
    if (this.closed) return;
    if (!isTerminal(await this.workflow(runId).getState())) {
      if (await this.reattachable(runId)) {
        this.opts.logger.warn({ run_id: runId, pid }, 'the run\'s supervisor stopped; a new one takes over its Slurm job');
        return this.launch(runId);
      }
      await this.reap(runId, 'The run\'s supervisor stopped before the run ended.');
    }
  }

  /**
   * Whether a run whose supervisor is gone can be taken over by a new one:
   * its engine is a Slurm job (submitted, or being submitted), which lives on
   * without its supervisor. At most a few times per run, so a supervisor that
   * keeps dying does not come back for ever.
   */
  private async reattachable(runId: string): Promise<boolean> {
    if (this.options.config.executor !== 'slurm') return false;
    const tries = this.takeovers.get(runId) ?? 0;
    if (tries >= MAX_TAKEOVERS) return false;
    const wf = this.workflow(runId);
    const [state, cmd] = await Promise.all([wf.getState(), wf.get(RunKeys.cmd)]);
    if (isTerminal(state) || state === 'UNKNOWN' || cmd === null) return false;
    this.takeovers.set(runId, tries + 1);
    return true;
  }

  /** Counts a supervisor of an earlier server as ours until it ends. */
  private adoptRun(runId: string, owner: string): void {
    const pid = Number(owner.split(':')[2]);
    if (Number.isInteger(pid)) this.pids.set(runId, pid);
    this.adopt(runId);
    this.waiters.set(runId, () => undefined);
  }

  /** Checks adopted supervisors (not our children, so no exit event) for life. */
  private async sweep(): Promise<void> {
    for (const runId of [...this.waiters.keys()]) {
      const wf = this.workflow(runId);
      const owner = await wf.get(TASK_KEY).catch(() => null);
      if (owner !== null && (await isIdentityAlive(owner))) continue;
      if (!this.closed && (await this.reattachable(runId))) {
        // Adopted from an earlier server, its supervisor gone, its job still Slurm's: a new supervisor takes over.
        const waiter = this.waiters.get(runId);
        this.waiters.delete(runId);
        this.pids.delete(runId);
        waiter?.();
        this.opts.logger.warn({ run_id: runId }, 'the run\'s supervisor stopped; a new one takes over its Slurm job');
        void this.launch(runId)
          .catch(async (err: unknown) => this.lost(runId, `Ferry could not run the task: ${(err as Error).message}`))
          .finally(() => this.finish(runId).then(() => this.pump()));
        continue;
      }
      if (!isTerminal(await wf.getState())) await this.reap(runId, 'The run\'s supervisor stopped before the run ended.');
      const waiter = this.waiters.get(runId);
      this.waiters.delete(runId);
      this.pids.delete(runId);
      waiter?.();
      if (this.active.has(runId)) await this.finish(runId);
      this.pump();
    }
  }

  /**
   * Kills what is left of a run whose supervisor died, gives back the disk
   * space the supervisor would have (first, so the outcome can be written on
   * a full disk), and ends the run SYSTEM_ERROR (or CANCELED).
   */
  private async reap(runId: string, why: string): Promise<void> {
    await this.reapAbandoned(runId);
    await this.releaseDisk(this.workflow(runId));
    await this.lost(runId, why);
    await this.finish(runId);
  }

  /** What WorkflowTask frees when it ends: the run's scratch space and its reserves (run folder and state-store folder). */
  private async releaseDisk(wf: ToilWorkflow): Promise<void> {
    const runId = wf.runId;
    const leftovers = [
      wf.tmpDir,
      path.join(wf.runDir, RESERVE_FILE),
      path.join(this.options.config.stateStore, runId, RESERVE_FILE),
    ];
    for (const leftover of leftovers) {
      await fs.rm(leftover, { recursive: true, force: true }).catch((err: unknown) => {
        this.opts.logger.warn({ err, run_id: runId }, 'could not free the disk space of a run whose supervisor died');
      });
    }
  }

  protected async stopActive(runId: string): Promise<void> {
    const owner = await this.workflow(runId).get(TASK_KEY);
    if (owner !== null && (await isIdentityAlive(owner))) {
      signalQuietly(Number(owner.split(':')[2]), 'SIGTERM');
      return;
    }
    // Launched but not yet claimed: the supervisor will see CANCELING when it starts.
    const pid = this.pids.get(runId);
    if (pid !== undefined) signalQuietly(pid, 'SIGTERM');
  }

  /** The server stops; supervisors and their runs go on. Waiting runs stay QUEUED for the next server. */
  async close(): Promise<void> {
    this.closed = true;
    // An unused standby sees its stdin close and exits.
    this.standby?.stdin?.end();
    this.standby = null;
    if (this.standbyTimer !== null) clearTimeout(this.standbyTimer);
    this.standbyTimer = null;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.drainQueue();
    for (const resolve of this.waiters.values()) resolve();
    this.waiters.clear();
  }
}
