/**
 * A mutex shared by every process that uses the same base folder.
 *
 * The lock for `name` is the folder `<baseDir>/.locks/<name>.lock`, holding an
 * `owner` file that says which process holds it: pid, the process's start
 * time (field 22 of `/proc/<pid>/stat`, so a recycled pid is not mistaken for
 * the holder), host name and a random token for this one acquisition.
 *
 * Taking the lock is a single atomic step: the lock folder is prepared under
 * a unique name with its owner file already inside, then renamed into place.
 * rename(2) refuses to replace a non-empty folder, so exactly one contender
 * wins, and nobody ever sees a lock folder without an owner.
 *
 * A lock whose holder has died is stolen by renaming it to a grave named
 * after its token (`<name>.lock.stale-<token>`). Two processes that judged
 * the same dead lock both aim at the same grave: only the first rename can
 * succeed, so the slower one cannot move away a lock somebody took in the
 * meantime. Graves are kept for a minute for that reason, then swept.
 *
 * Locks held on another host (a shared file system) are never stolen: we
 * cannot tell whether their holder is alive. An empty folder in place of the
 * lock is replaced at once by the next rename (rename(2) may replace an empty
 * folder); it cannot be one of ours, which always hold their owner file.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rename, rm, rmdir, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { LRUCache } from 'lru-cache';
import { inFolder } from './atomic-file.js';
import { errnoCode } from './errors.js';
import { readProcStat } from './process.js';
import { randomBase64url } from './random.js';

/** Options for {@link withGlobalMutex}. */
export interface GlobalMutexOptions {
  /** How long to wait for the lock before giving up. Default 10 000 ms. */
  timeoutMs?: number;
  /** First pause between attempts. Default 5 ms. */
  minDelayMs?: number;
  /** Longest pause between attempts. Default 100 ms. */
  maxDelayMs?: number;
  /**
   * How long graves and other leftovers under `.locks` are kept before being
   * swept. Default 60 000 ms; mainly adjustable for tests.
   */
  leftoverGraceMs?: number;
}

/** Thrown when the lock could not be taken within the timeout. */
export class GlobalMutexTimeoutError extends Error {
  /** The lock folder that stayed busy. */
  readonly lockPath: string;

  constructor(lockPath: string, holder: string) {
    super(`Timed out waiting for lock ${lockPath} (held by ${holder}).`);
    this.name = 'GlobalMutexTimeoutError';
    this.lockPath = lockPath;
  }
}

/** What the `owner` file of a lock says. */
interface LockOwner {
  pid: number;
  /** Start time of `pid` in clock ticks since boot, or null where unknown. */
  start: string | null;
  host: string;
  token: string;
  acquired_at: string;
}

/** What we found when looking at a busy lock. */
type LockState =
  | { kind: 'gone' }
  | { kind: 'busy'; holder: string }
  | { kind: 'stale'; graveId: string; token: string | null; ino: number };

const DEFAULT_TIMEOUT_MS = 10_000;
/** How old leftovers (graves, half-made or half-removed folders) must be before they are swept. */
const DEFAULT_LEFTOVER_GRACE_MS = 60_000;
/**
 * A lock folder with no readable owner is never made by this module (the
 * owner is written before the folder gets its name), so one that stays like
 * that for a few seconds is debris and may be taken over.
 */
const OWNERLESS_GRACE_MS = 5_000;
const MAX_NAME_LENGTH = 100;
/** How often, at most, a process looks for leftovers in one locks folder. */
const SWEEP_EVERY_MS = 10_000;
/** When this process last swept each locks folder (the 4096 most recently used remembered). */
const lastSweep = new LRUCache<string, number>({ max: 4096 });
const LEFTOVER_RE = /^(.*\.lock)\.(stage|stale|free)-[A-Za-z0-9_-]+$/;

/**
 * Map a caller's lock name to the file name used on disk: only
 * `[A-Za-z0-9_.-]` is kept. When anything had to change, a short hash of the
 * original is appended so that distinct names stay distinct locks.
 *
 * @throws TypeError for an empty name.
 */
export function lockNameFor(name: string): string {
  if (name === '') throw new TypeError('Lock name must not be empty.');
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (cleaned === name && name.length <= MAX_NAME_LENGTH && !/^\.+$/.test(name)) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${cleaned.slice(0, MAX_NAME_LENGTH)}-${hash}`;
}

/**
 * Run `fn` while holding the cross-process lock `name` under `baseDir`, and
 * release it afterwards whatever `fn` does.
 *
 * The lock is not re-entrant: calling this again for the same lock from
 * inside `fn` waits for itself and times out.
 *
 * @throws GlobalMutexTimeoutError when the lock stays busy past the timeout.
 */
export async function withGlobalMutex<T>(
  baseDir: string,
  name: string,
  fn: () => Promise<T>,
  opts: GlobalMutexOptions = {},
): Promise<T> {
  const held = await acquire(baseDir, name, opts);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    // fn's error is the one worth reporting; a release problem would hide it.
    await release(held).catch(() => undefined);
    throw err;
  }
  await release(held);
  return result;
}

interface HeldLock {
  lockPath: string;
  token: string;
}

async function acquire(baseDir: string, name: string, opts: GlobalMutexOptions): Promise<HeldLock> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const minDelay = Math.max(1, opts.minDelayMs ?? 5);
  const maxDelay = Math.max(minDelay, opts.maxDelayMs ?? 100);
  const locksDir = path.join(baseDir, '.locks');
  const lockPath = path.join(locksDir, `${lockNameFor(name)}.lock`);

  const me: LockOwner = {
    pid: process.pid,
    start: await ownStartTime(),
    host: hostname(),
    token: randomToken(),
    acquired_at: new Date().toISOString(),
  };
  const deadline = Date.now() + timeoutMs;
  let delay = minDelay;
  let holder = 'unknown';

  for (;;) {
    if (await tryCreate(lockPath, me, locksDir)) {
      const grace = opts.leftoverGraceMs ?? DEFAULT_LEFTOVER_GRACE_MS;
      // Leftovers wait out a grace period anyway: looking for them now and then is enough.
      if (Date.now() - (lastSweep.get(locksDir) ?? 0) >= Math.min(grace, SWEEP_EVERY_MS)) {
        lastSweep.set(locksDir, Date.now());
        await sweepLeftovers(locksDir, grace).catch(() => undefined);
      }
      return { lockPath, token: me.token };
    }
    const state = await inspect(lockPath);
    if (state.kind === 'stale') {
      await steal(lockPath, state);
    } else if (state.kind === 'busy') {
      holder = state.holder;
    }
    const now = Date.now();
    if (now >= deadline) throw new GlobalMutexTimeoutError(lockPath, holder);
    if (state.kind === 'busy') {
      // Jitter keeps contenders that started together from staying in step.
      const pause = Math.min(delay * (0.5 + Math.random()), deadline - now);
      await new Promise((resolve) => setTimeout(resolve, pause));
      delay = Math.min(delay * 1.5, maxDelay);
    }
  }
}

/** Try to take the lock in one atomic step; false when someone holds it. */
async function tryCreate(lockPath: string, me: LockOwner, locksDir: string): Promise<boolean> {
  const stage = `${lockPath}.stage-${process.pid}-${randomToken()}`;
  // The locks folder is made the first time (or again, should it have gone).
  await inFolder(locksDir, () => mkdir(stage));
  try {
    await writeFile(path.join(stage, 'owner'), `${JSON.stringify(me)}\n`, { flag: 'wx' });
    await rename(stage, lockPath);
    return true;
  } catch (err) {
    await rm(stage, { recursive: true, force: true }).catch(() => undefined);
    // ENOTEMPTY/EEXIST: a lock is in place. ENOTDIR: something else is in
    // the way, which inspect() treats as an ownerless lock. ENOENT: our stage
    // was swept from under us (we were stalled for a minute); just retry.
    const code = errnoCode(err);
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'ENOENT') return false;
    throw err;
  }
}

async function inspect(lockPath: string): Promise<LockState> {
  const owner = await readOwner(lockPath);
  let ino: number;
  let mtimeMs: number;
  try {
    const st = await lstat(lockPath);
    ino = st.ino;
    mtimeMs = st.mtimeMs;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'gone' };
    throw err;
  }
  if (owner === null) {
    if (Date.now() - mtimeMs < OWNERLESS_GRACE_MS) return { kind: 'busy', holder: 'a lock without owner' };
    return { kind: 'stale', graveId: `anon-${ino}-${Math.floor(mtimeMs)}`, token: null, ino };
  }
  const holder = `pid ${owner.pid} on ${owner.host}`;
  if (owner.host !== hostname()) return { kind: 'busy', holder };
  if (await isAlive(owner.pid, owner.start)) return { kind: 'busy', holder };
  return { kind: 'stale', graveId: `t-${owner.token}`, token: owner.token, ino };
}

/** Move a dead holder's lock out of the way (see the module comment). */
async function steal(lockPath: string, state: Extract<LockState, { kind: 'stale' }>): Promise<void> {
  const grave = `${lockPath}.stale-${state.graveId}`;
  try {
    await rename(lockPath, grave);
  } catch (err) {
    const code = errnoCode(err);
    // ENOENT: already released or stolen. ENOTEMPTY/EEXIST: this very lock's
    // grave exists, so another process stole it first and whatever sits at
    // lockPath now is somebody else's.
    if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST') return;
    throw err;
  }
  // Only reachable if the grave had already been swept: check we buried the
  // lock we judged, and put back any other one at once.
  const buried = state.token === null ? await inodeOf(grave) : (await readOwner(grave))?.token;
  if (buried !== (state.token ?? state.ino)) {
    await rename(grave, lockPath).catch(() => undefined);
    return;
  }
  // Date the grave from the theft, so it is kept for the whole grace period.
  const now = new Date();
  await utimes(grave, now, now).catch(() => undefined);
}

async function release(held: HeldLock): Promise<void> {
  const owner = await readOwner(held.lockPath);
  // Not ours any more (someone decided we were dead): leave theirs alone.
  if (owner?.token !== held.token) return;
  const trash = `${held.lockPath}.free-${randomToken()}`;
  try {
    // Rename first: removing in place would leave an empty folder that a
    // contender's rename could replace, and a recursive removal could then
    // delete the newcomer's owner file.
    await rename(held.lockPath, trash);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  // What we made: the owner file in its folder. Anything else in it goes the long way.
  try {
    await unlink(path.join(trash, 'owner'));
    await rmdir(trash);
  } catch {
    await rm(trash, { recursive: true, force: true });
  }
}

/** Remove graves and half-made or half-removed lock folders older than the grace period. */
async function sweepLeftovers(locksDir: string, graceMs: number): Promise<void> {
  const now = Date.now();
  for (const entry of await readdir(locksDir)) {
    const m = LEFTOVER_RE.exec(entry);
    if (!m || entry.endsWith('.lock')) continue;
    const full = path.join(locksDir, entry);
    try {
      const st = await lstat(full);
      // ctime too: rename(2) updates it, so a grave counts from its burial
      // even before steal() has re-dated it.
      if (now - Math.max(st.mtimeMs, st.ctimeMs) < graceMs) continue;
      // Same reason as in release(): move it away before removing it.
      const trash = path.join(locksDir, `${m[1]}.free-${randomToken()}`);
      await rename(full, trash);
      await rm(trash, { recursive: true, force: true });
    } catch {
      // Another process is sweeping the same entry, or it is not ours to touch.
    }
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | null> {
  let text: string;
  try {
    text = await readFile(path.join(lockPath, 'owner'), 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      typeof v === 'object' && v !== null &&
      typeof v.pid === 'number' && Number.isSafeInteger(v.pid) &&
      (v.start === null || typeof v.start === 'string') &&
      typeof v.host === 'string' &&
      typeof v.token === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v.token)
    ) {
      return { pid: v.pid, start: v.start, host: v.host, token: v.token, acquired_at: String(v.acquired_at) };
    }
  } catch {
    // Fall through: a corrupt owner file is as good as none.
  }
  return null;
}

async function inodeOf(p: string): Promise<number | undefined> {
  try {
    return (await lstat(p)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote an owner file is still running. A pid that
 * exists but started at a different time has been recycled: its holder is dead.
 */
async function isAlive(pid: number, start: string | null): Promise<boolean> {
  // pid 0 and negatives would address process groups in kill(2).
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return false;
    // EPERM: it exists but belongs to another user. Anything else: we cannot
    // tell, and wrongly stealing a live lock is worse than waiting.
  }
  const stat = await readProcStat(pid);
  // No /proc (not Linux) or a hidden process: trust kill(2) alone.
  if (stat === null) return true;
  // A zombie has exited; it only waits for its parent to reap it.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return start === null || stat.startTime === start;
}

/** This process's start time, read once: it goes in every owner file we write. */
let ownStartPromise: Promise<string | null> | undefined;
function ownStartTime(): Promise<string | null> {
  ownStartPromise ??= readProcStat(process.pid).then((stat) => stat?.startTime ?? null);
  return ownStartPromise;
}

function randomToken(): string {
  return randomBase64url(9);
}
