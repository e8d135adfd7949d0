import fs from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * The fields of `/proc/<pid>/stat` Ferry reads. This module is the one place
 * that reads /proc: stat here, environ in findProcessesByEnv, the boot id.
 */
export interface ProcStat {
  /** One letter: R running, S sleeping, Z zombie, X dead… (field 3). */
  state: string;
  /** Parent pid (field 4). */
  ppid: number;
  /** Process group (field 5). */
  pgid: number;
  /**
   * When the process started, in clock ticks since boot (field 22), as the
   * kernel wrote it. Together with the pid it names one process for good: a
   * recycled pid has a different start time.
   */
  startTime: string;
}

/** A process's stat fields, or null when it is gone (or there is no /proc). */
export async function readProcStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Synchronous variant of {@link readProcStat}, for the few places that cannot await. */
export function readProcStatSync(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

function parseProcStat(text: string): ProcStat | null {
  // Field 2 is the command name in parentheses and may itself hold spaces
  // and ')', so count fields from the last ')'. What follows starts at field 3.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number): string | undefined => rest[n - 3];
  const state = field(3);
  const ppid = Number(field(4));
  const pgid = Number(field(5));
  const startTime = field(22);
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  if (!Number.isInteger(ppid) || !Number.isInteger(pgid)) return null;
  return { state, ppid, pgid, startTime };
}

/** The boot id: changes when the machine restarts. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** A name for this very process that stays unique across pid reuse and reboots. */
export function processIdentity(pid = process.pid): string {
  return `${os.hostname()}:${bootId()}:${pid}:${readProcStatSync(pid)?.startTime ?? '0'}`;
}

/**
 * Whether the process an identity names still runs. Identities from another
 * host cannot be checked and count as alive; from an earlier boot, as dead.
 */
export async function isIdentityAlive(identity: string): Promise<boolean> {
  const parts = identity.split(':');
  if (parts.length < 4) return false;
  const [host, boot, pidText, start] = parts as [string, string, string, string];
  if (host !== os.hostname()) return true;
  if (boot !== bootId()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = await readProcStat(pid);
  // A zombie has ended: only its exit status waits for its parent.
  return stat !== null && stat.startTime === start && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Pids of every process whose environment matches: holds one of `exact`
 * (`NAME=value`) entries, or one starting with one of `prefixes`
 * (`NAME=/some/folder/`). Engines' workers may leave the engine's process
 * group and session (Toil's do) and tools get a scrubbed environment, but
 * each keeps a marker or a scratch folder inside the run, so together these
 * find all of a run's processes.
 */
export async function findProcessesByEnv(exact: readonly string[], prefixes: readonly string[] = []): Promise<number[]> {
  const exacts = exact.map((e) => Buffer.from(e + '\0'));
  const starts = prefixes.map((p) => Buffer.from(p));
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      const pid = Number(entry);
      if (pid === process.pid || pid === 1) return;
      let env: Buffer;
      try {
        env = await fs.readFile(`/proc/${pid}/environ`);
      } catch {
        return; // gone already, or not ours to read
      }
      if (matchesEnv(env, exacts, starts)) found.push(pid);
    }),
  );
  return found;
}

function matchesEnv(env: Buffer, exacts: readonly Buffer[], starts: readonly Buffer[]): boolean {
  let at = 0;
  while (at < env.length) {
    let end = env.indexOf(0, at);
    if (end === -1) end = env.length;
    const entry = env.subarray(at, end);
    for (const e of exacts) if (e.length === entry.length + 1 && e.subarray(0, -1).equals(entry)) return true;
    for (const s of starts) if (entry.length >= s.length && entry.subarray(0, s.length).equals(s)) return true;
    at = end + 1;
  }
  return false;
}

/** The process group of a pid, or null when it is gone. */
export async function processGroup(pid: number): Promise<number | null> {
  return (await readProcStat(pid))?.pgid ?? null;
}

/** Sends a signal, ignoring processes that are already gone. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** Whether any process is left in the group. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What is left of a process tree once its leader has exited (see {@link treeLeftoversSync}). */
export interface TreeLeftovers {
  /** Whether a member of the leader's group still runs (a zombie does not count: the init process of a bubblewrap sandbox, left behind when bubblewrap exits, is handed to the machine's init, which may collect it much later, over a second under load). */
  groupLiving: boolean;
  /** Live processes outside the group whose environment matches. */
  strays: number[];
}

/**
 * In one synchronous pass over /proc (a few hundred small reads from memory,
 * where a round trip through libuv's threads each would hold up the run's
 * last state writes queued behind them), for the end of a run: its
 * leader's group, and the processes that left the group but carry the
 * run's marks. A process's
 * environment is read only when it started no earlier than the leader
 * (`since`: the leader's start time, field 22): only those can descend from
 * it. Reading an environment waits for the process's memory map, which a
 * busy process (a runtime collecting garbage) holds for milliseconds at a
 * time, so on a busy machine reading every process's cost a hundred
 * milliseconds and more at the end of each run. Without /proc: the group
 * as groupAlive tells, no strays.
 */
export function treeLeftoversSync(pgid: number, since: number, exact: readonly string[], prefixes: readonly string[] = []): TreeLeftovers {
  const exacts = exact.map((e) => Buffer.from(e + '\0'));
  const starts = prefixes.map((p) => Buffer.from(p));
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return { groupLiving: groupAlive(pgid), strays: [] };
  }
  let living = false;
  const strays: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || pid === 1) continue;
    const stat = readProcStatSync(pid);
    if (stat === null || stat.state === 'Z' || stat.state === 'X') continue;
    if (stat.pgid === pgid) {
      living = true;
      continue;
    }
    if (exacts.length + starts.length === 0 || Number(stat.startTime) < since) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone already, or not ours to read
    }
    if (matchesEnv(env, exacts, starts)) strays.push(pid);
  }
  return { groupLiving: living, strays };
}

/**
 * Lowers a child's scheduling priority (nice 10): for probes that run
 * beside a starting server (an engine's --version takes a second or more
 * of CPU), so that on a small machine they take the CPU the server leaves.
 */
export function inBackground<T extends { pid?: number | undefined }>(child: T): T {
  try {
    if (child.pid !== undefined) os.setPriority(child.pid, 10);
  } catch {
    // gone already, or not allowed: it runs at the usual priority
  }
  return child;
}
