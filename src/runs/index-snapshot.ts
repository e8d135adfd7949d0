import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { atomicFileCreate } from '../util/atomic-file.js';
import { errnoCode } from '../util/errors.js';
import { decodeColumns, encodeColumns, type RunColumns } from './run-columns.js';

/**
 * A compacted copy of the run index (see RunIndex): its runs' columns as of
 * a byte offset of the index file, so that a start reads them at once and
 * parses only the lines appended after that offset; deleted runs are not in
 * it. Other processes (run supervisors) append to the index file at any time
 * without a lock, so the file itself is never rewritten: the snapshot names
 * the offset it covers, the file's inode, and a digest of the bytes just
 * before the offset, and is used only while the file still has those bytes
 * there. Anything else (no snapshot, a torn or damaged one, one of another
 * file) and the file is read whole, as without a snapshot.
 *
 * The file: a first line naming the format, a line of JSON (the header),
 * then the columns (see encodeColumns), whose length and SHA-256 the header
 * holds. Written to a temp file, fsynced, renamed over the old one.
 */
const MAGIC = 'ferry-run-index-snapshot 1\n';

/** How many bytes of the index file before the offset the header's digest covers. */
const CHECKED_BYTES = 4096;

interface Header {
  /** Bytes of the index file the snapshot covers (its lines up to there, whole). */
  offset: number;
  /** The index file's inode. */
  ino: number;
  /** SHA-256 (hex) of the index file's bytes [offset − CHECKED_BYTES, offset). */
  before: string;
  /** The highest sequence number given as of the offset, deleted runs' included. */
  lastSeq: number;
  /** Runs in the snapshot. */
  count: number;
  /** Bytes of the columns after the header, and their SHA-256 (hex). */
  bytes: number;
  sha256: string;
}

/** What a snapshot holds: the columns, and where in the index file reading carries on. */
export interface Snapshot {
  cols: RunColumns;
  offset: number;
  ino: number;
  lastSeq: number;
}

/** Where the snapshot of the index in `indexFile` is kept. */
export function snapshotFile(indexFile: string): string {
  return indexFile.replace(/\.jsonl$/, '') + '.snapshot';
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The digest of the bytes of `file` before `offset` that the header holds; null if the file has fewer. */
async function digestBefore(handle: fs.FileHandle, offset: number): Promise<string | null> {
  const from = Math.max(0, offset - CHECKED_BYTES);
  const buf = Buffer.alloc(offset - from);
  const { bytesRead } = await handle.read(buf, 0, buf.length, from);
  return bytesRead === buf.length ? sha256(buf) : null;
}

/**
 * Writes the snapshot of `indexFile`: the runs of `cols` at `slots` (the
 * live ones, in order), as of `offset` of the file (inode `ino`). Durable
 * when it returns; a crash before leaves the previous snapshot (or none).
 */
export async function writeSnapshot(indexFile: string, cols: RunColumns, slots: ArrayLike<number>, cover: { offset: number; ino: number; lastSeq: number }): Promise<void> {
  // The columns are copied before anything is awaited: they change as runs come and go.
  const payload = encodeColumns(cols, slots);
  const handle = await fs.open(indexFile, 'r');
  let before: string | null;
  try {
    if ((await handle.stat()).ino !== cover.ino) return; // replaced meanwhile: this snapshot would never be used
    before = await digestBefore(handle, cover.offset);
  } finally {
    await handle.close();
  }
  if (before === null) return;
  const header: Header = { offset: cover.offset, ino: cover.ino, before, lastSeq: cover.lastSeq, count: slots.length, bytes: payload.length, sha256: sha256(payload) };
  await atomicFileCreate(snapshotFile(indexFile), Buffer.concat([Buffer.from(MAGIC + JSON.stringify(header) + '\n'), payload]));
}

/**
 * The snapshot of `indexFile`, if there is one that is whole and matches
 * the file as it is now (see above); null otherwise, and the file must be
 * read whole.
 */
export async function readSnapshot(indexFile: string): Promise<Snapshot | null> {
  let data: Buffer;
  try {
    data = await fs.readFile(snapshotFile(indexFile));
  } catch {
    return null; // none, or unreadable: read the file whole
  }
  try {
    if (data.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) return null;
    const end = data.indexOf(0x0a, MAGIC.length);
    if (end === -1) return null;
    const header = JSON.parse(data.subarray(MAGIC.length, end).toString('utf8')) as Header;
    const payload = data.subarray(end + 1);
    if (!Number.isSafeInteger(header.offset) || header.offset < 0 || !Number.isSafeInteger(header.lastSeq)) return null;
    if (payload.length !== header.bytes || sha256(payload) !== header.sha256) return null;
    const handle = await fs.open(indexFile, 'r').catch(() => null);
    if (!handle) return null;
    try {
      const stat = await handle.stat();
      if (stat.ino !== header.ino || stat.size < header.offset) return null;
      if ((await digestBefore(handle, header.offset)) !== header.before) return null;
    } finally {
      await handle.close();
    }
    return { cols: decodeColumns(payload, header.count), offset: header.offset, ino: header.ino, lastSeq: header.lastSeq };
  } catch {
    return null; // damaged in some way the checks above let through: read the file whole
  }
}

/** Removes temp files of snapshots that processes no longer running were writing (a crash mid-write). */
export async function removeStaleSnapshotTemps(indexFile: string): Promise<void> {
  const dir = path.dirname(indexFile);
  const prefix = `.${path.basename(snapshotFile(indexFile))}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) continue;
    if (pid === process.pid) continue;
    await fs.unlink(path.join(dir, name)).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Lines read past the last snapshot that make the index write another, in the background. */
export const SNAPSHOT_AFTER_LINES = 10_000;
/** How long after that it is written. */
export const SNAPSHOT_DELAY_MS = 3_000;

export interface RunIndexOptions {
  /** See SNAPSHOT_AFTER_LINES; 0: no snapshot read or written. */
  snapshotAfterLines?: number;
  /** See SNAPSHOT_DELAY_MS. */
  snapshotDelayMs?: number;
  /** Told of a snapshot written in the background that failed (the index goes on without it). */
  onSnapshotError?: (err: unknown) => void;
}
