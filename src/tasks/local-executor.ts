/**
 * The engine as a child process of this machine: its own process group,
 * stdout and stderr into the run's log files, in the run's sandbox.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import { readProcStat, signalQuietly, type TreeLeftovers } from '../util/process.js';
import type { EngineLaunch, Execution, ExecutionEnd, Executor } from './executor.js';
import { killRunProcesses, runLeftoversSync } from './run-processes.js';
import { prepareRunFolder, sandboxCommand, sandboxedLeader, type SandboxPolicy } from './sandbox.js';

export class LocalExecutor implements Executor {
  readonly kind = 'local';
  readonly queues = false;

  constructor(private readonly sandbox: SandboxPolicy | undefined) {}

  async launch({ ctx, argv, env }: EngineLaunch): Promise<Execution> {
    const sandbox = this.sandbox;
    // In a sandbox as another user (a server running as root), the run's folder is that user's first.
    if (sandbox) await prepareRunFolder(sandbox, ctx.runDir);
    const command = sandbox ? await sandboxCommand(sandbox, { runDir: ctx.runDir, tmpDir: ctx.tmpDir, cwd: ctx.executionDir }, argv) : [...argv];
    const [file, ...args] = command;
    if (!file) throw new Error('engine produced an empty command');
    const stdout = await fs.open(ctx.stdoutPath, 'w');
    const stderr = await fs.open(ctx.stderrPath, 'w');
    try {
      const child = spawn(file, args, {
        cwd: ctx.executionDir,
        detached: true, // own process group, so the whole group can be signalled
        stdio: ['ignore', stdout.fd, stderr.fd],
        env,
      });
      const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      exit.catch(() => undefined);
      await Promise.race([once(child, 'spawn'), once(child, 'error').then(([err]) => Promise.reject(err as Error))]);
      const pgid = child.pid!;
      // Its start time, which every process of the run starts at or after (unknown if it is gone already: 0, all looked at).
      const since = Number((await readProcStat(pgid))?.startTime ?? 0);
      const ended = exit.then(([code, signal]): ExecutionEnd => ({ kind: 'exited', exitCode: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0) }));
      return new LocalExecution(ctx.runId, ctx.runDir, pgid, since, sandbox?.kind === 'bwrap', ended);
    } finally {
      await stdout.close();
      await stderr.close();
    }
  }

  killRun(runId: string, runDir: string): Promise<void> {
    return killRunProcesses(runId, runDir);
  }
}

class LocalExecution implements Execution {
  readonly started = Promise.resolve();

  constructor(
    private readonly runId: string,
    private readonly runDir: string,
    private readonly pgid: number,
    /** When the engine's leader started (clock ticks since boot): nothing of the run started before. */
    private readonly since: number,
    private readonly sandboxed: boolean,
    readonly ended: Promise<ExecutionEnd>,
  ) {}

  /**
   * SIGTERM to the engine's own process. In a sandbox, what Ferry spawned is
   * bubblewrap, and the engine is two generations below; while the sandbox
   * is still being set up there is no engine yet, and bubblewrap itself is
   * signalled (the sandbox then dies with it).
   */
  async terminate(): Promise<void> {
    const leader = this.sandboxed ? ((await sandboxedLeader(this.pgid)) ?? this.pgid) : this.pgid;
    signalQuietly(leader, 'SIGTERM');
  }

  kill(): Promise<void> {
    return killRunProcesses(this.runId, this.runDir, this.pgid);
  }

  /**
   * After the leader exits, no process of the run may be left behind. The
   * run ends as soon as they are all gone (looked for every 10 ms at first,
   * then less often), not on the next tick of a coarse clock.
   */
  async reap(graceMs: number): Promise<void> {
    const pgid = this.pgid;
    const left = (): TreeLeftovers => runLeftoversSync(this.runId, this.runDir, pgid, this.since);
    const first = left();
    if (!first.groupLiving && first.strays.length === 0) return;
    signalQuietly(-pgid, 'SIGTERM');
    for (const pid of first.strays) signalQuietly(pid, 'SIGTERM');
    const deadline = Date.now() + Math.min(graceMs, 3000);
    for (let delay = 10; Date.now() < deadline; delay = Math.min(delay * 2, 100)) {
      await new Promise((r) => setTimeout(r, delay));
      const now = left();
      if (!now.groupLiving && now.strays.length === 0) return;
    }
    await this.kill();
  }
}
