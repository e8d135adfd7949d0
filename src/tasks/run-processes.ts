import path from 'node:path';
import type { RunContext } from '../engines/engine.js';
import { findProcessesByEnv, processGroup, signalQuietly, treeLeftoversSync, type TreeLeftovers } from '../util/process.js';

/** Environment variable that marks every process of a run, however far it strays. */
export const RUN_MARKER_ENV = 'FERRY_RUN_ID';

/**
 * The environment an engine gets: only what it needs to run, never the
 * server's own (Toil copies its environment into the job store, and tools
 * must not see the server's secrets). Scratch space is inside the run.
 */
export function engineEnvironment(ctx: RunContext): Record<string, string> {
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
  return findProcessesByEnv(...runMarks(runId, runDir));
}

/**
 * What is left of a run once its engine's leader (group `pgid`, started at
 * `since` in clock ticks since boot) has exited, in one synchronous pass
 * (see treeLeftoversSync): its group, and the run's processes that left it.
 */
export function runLeftoversSync(runId: string, runDir: string, pgid: number, since: number): TreeLeftovers {
  return treeLeftoversSync(pgid, since, ...runMarks(runId, runDir));
}

function runMarks(runId: string, runDir: string): [string[], string[]] {
  const inside = runDir.endsWith(path.sep) ? runDir : runDir + path.sep;
  return [[`${RUN_MARKER_ENV}=${runId}`], [`TMPDIR=${inside}`, `HOME=${inside}`]];
}

