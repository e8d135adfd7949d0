import { mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { randomHex } from './random.js';

/** Options for {@link atomicFileCreate}. */
export interface AtomicFileOptions {
  /** Permission bits of the new file (before umask). Default 0o666. */
  mode?: number;
}

/**
 * Longest part of the target's name kept in the temp name, so that a target
 * near the 255-byte NAME_MAX still gets a temp name the file system accepts.
 */
const MAX_BASE_IN_TEMP = 100;

/**
 * Write `data` to `filePath` so that readers see either the old content or
 * the complete new content, never a partial file, even across a crash.
 *
 * The data goes to a uniquely named temp file in the same folder (same file
 * system, so the rename is atomic), which is fsynced before being renamed
 * over the target; the folder is then fsynced best-effort so the rename
 * itself is durable. An existing file at `filePath` is replaced. On failure
 * the temp file is removed and the error rethrown.
 */
export async function atomicFileCreate(
  filePath: string,
  data: string | Buffer,
  opts: AtomicFileOptions = {},
): Promise<void> {
  const dir = path.dirname(filePath);
  const base = path.basename(filePath).slice(0, MAX_BASE_IN_TEMP);
  // The leading dot keeps half-written files out of casual listings; pid and
  // random bytes keep concurrent writers (threads or processes) apart.
  const tmp = path.join(dir, `.${base}.${process.pid}.${randomHex(6)}.tmp`);

  let handle: FileHandle | undefined;
  try {
    // 'wx' refuses to follow or reuse anything already at the temp name.
    handle = await open(tmp, 'wx', opts.mode ?? 0o666);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, filePath);
  } catch (err) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/**
 * Flush a folder's entries to disk. Best-effort: some platforms and file
 * systems refuse to open or fsync a folder, and the data itself is already
 * safe by then, so errors are ignored.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Ignored on purpose, see above.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Writes a new file (refusing to replace one) and fsyncs it before returning. */
export function writeFileDurable(filePath: string, data: string | Buffer): Promise<void> {
  return writeFile(filePath, data, { flag: 'wx', flush: true });
}

/** Fsyncs a file already written. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Folders being synced for many writers at once: the one in flight, and the one queued behind it. */
const sharedSyncs = new Map<string, { inFlight?: Promise<void>; queued?: Promise<void> }>();

/**
 * {@link syncDir} for a folder many writers change at once (the folder of
 * all runs, say), as a group commit: a caller is answered by an fsync that
 * started after its call, and callers that arrive while one is in flight
 * share the next one, so N concurrent renames cost two fsyncs, not N.
 */
export function syncDirShared(dir: string): Promise<void> {
  let s = sharedSyncs.get(dir);
  if (!s) sharedSyncs.set(dir, (s = {}));
  const slot = s;
  const start = (): Promise<void> => {
    const p: Promise<void> = syncDir(dir).finally(() => {
      if (slot.inFlight === p) slot.inFlight = undefined;
      if (!slot.inFlight && !slot.queued && sharedSyncs.get(dir) === slot) sharedSyncs.delete(dir);
    });
    slot.inFlight = p;
    return p;
  };
  if (!slot.inFlight) return start();
  // An fsync in flight may have started before this caller's change: wait for it, then share a new one.
  slot.queued ??= slot.inFlight.then(() => {
    slot.queued = undefined;
    return start();
  });
  return slot.queued;
}

/**
 * Runs `fn`, which creates something inside `dir`; if it fails because `dir`
 * does not exist (ENOENT), makes `dir` (and its parents) and runs it again.
 * For writes into a folder that almost always exists, which then cost no
 * mkdir on every call.
 */
export async function inFolder<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    return fn();
  }
}
