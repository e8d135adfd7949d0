import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { killAllRuns } from '../helper.js';

// Real file systems for the "disk trouble" tests: small tmpfs mounts that can
// be filled or remounted read-only. Not a test file itself (no .test.ts).

export const run = promisify(execFile);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A real tmpfs at a fresh folder, unmounted when the test ends; null (said in
 * a comment) where mounting is not allowed. `why` ends that comment: why the
 * test cannot go on without one.
 */
export async function tmpfs(
  t: Test,
  size: string,
  why = 'a full or read-only disk has no faithful stand-in without one',
): Promise<string | null> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    t.comment(`cannot mount a tmpfs here (${(err as Error).message.trim()}); ${why}`);
    return null;
  }
  // Registered first, so it runs last (teardowns run newest first): after the app is closed.
  t.teardown(async () => {
    await killAllRuns(dir);
    await run('mount', ['-o', 'remount,rw', dir]).catch(() => undefined);
    let done = false;
    for (let i = 0; i < 50 && !done; i++) {
      done = await run('umount', [dir]).then(() => true, () => false);
      if (!done) await sleep(100);
    }
    if (!done) await run('umount', ['-l', dir]).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Fills the file system of `file` with it to the very last byte, then frees
 * `leave` bytes of it again (none by default: the disk stays full).
 */
export async function fill(file: string, leave = 0): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024, 1);
    let size = 0;
    try {
      for (;;) {
        const { bytesWritten } = await handle.write(chunk);
        size += bytesWritten;
        if (bytesWritten < chunk.length) break;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
    // Byte by byte to the very end: not one page is left.
    for (;;) {
      const ok = await handle.write(Buffer.alloc(1, 1)).then((r) => r.bytesWritten === 1, () => false);
      if (!ok) break;
      size++;
    }
    if (leave > 0) await handle.truncate(Math.max(0, size - leave));
  } finally {
    await handle.close();
  }
}

/** Bytes an unprivileged writer could still put on the file system of `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** Remounts `dir` read-only, waiting out EBUSY (a supervisor that is still closing its log); throws the last failure after `tries`. */
export async function remountReadOnly(dir: string, tries = 100): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      await run('mount', ['-o', 'remount,ro', dir]);
      return;
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw last;
}
