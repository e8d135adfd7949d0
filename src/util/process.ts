import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * The kernel's start time of a process (clock ticks since boot, field 22 of
 * /proc/<pid>/stat), or null when it does not exist. Together with the pid it
 * names one process for good: a recycled pid has a different start time.
 */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    return parseStartTime(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Synchronous variant, for the few places that cannot await. */
export function processStartTimeSync(pid: number): string | null {
  try {
    return parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

function parseStartTime(stat: string): string | null {
  // The command name (field 2) is in parentheses and may itself hold spaces
  // and parentheses, so count fields from the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null; // field 22 overall; rest starts at field 3
}

/** The boot id: changes when the machine restarts. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** A name for this very process that stays unique across pid reuse and reboots. */
export function processIdentity(pid = process.pid): string {
  return `${os.hostname()}:${bootId()}:${pid}:${processStartTimeSync(pid) ?? '0'}`;
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
  return (await processStartTime(pid)) === start;
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
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgid = Number(rest[2]);
    return Number.isInteger(pgid) ? pgid : null;
  } catch {
    return null;
  }
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
