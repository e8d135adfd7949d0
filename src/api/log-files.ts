import { createReadStream } from 'node:fs';
import type { GetRunOutputResult, GetRunStdoutResult } from '../../generated/operations.js';
import type { LogFile } from '../backend/run-logs.js';
import type { OutputFile } from '../backend/run-outputs.js';
import { WesError } from '../util/errors.js';

/**
 * How much of a file is read from the disk at a time when it is sent. With
 * Node's 64 KiB default a big download goes mostly on work done per chunk (a
 * read on the thread pool, a socket write, the stream events between); 1 MiB
 * reads send it 2–3× as fast (`npm run bench -- --only download`). A read
 * never asks for more than the range has left, and a download in progress
 * holds about one chunk.
 */
export const READ_CHUNK = 1024 * 1024;

/**
 * Serves a run's log file: whole, or the single byte range a `Range` header
 * asks for (206); a range past the end is a 416. Multi-ranges are served whole.
 */
export async function serveLogFile(file: LogFile, range: string | undefined): Promise<GetRunStdoutResult> {
  const { size, which } = file;
  const base = { 'content-type': 'text/plain; charset=utf-8', 'accept-ranges': 'bytes' };
  const parsed = range ? parseRange(range, size) : null;
  if (parsed === 'unsatisfiable') {
    throw new WesError(416, `Range '${range}' is outside the ${size} bytes of ${which}.`, { 'content-range': `bytes */${size}` });
  }
  if (parsed === null || size === 0) {
    return { status: 200, headers: { ...base, 'content-length': String(size) }, body: size === 0 ? '' : createReadStream(file.path, { end: size - 1, highWaterMark: READ_CHUNK }) };
  }
  const { start, end } = parsed;
  return {
    status: 206,
    headers: { ...base, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) },
    body: createReadStream(file.path, { start, end, highWaterMark: READ_CHUNK }),
  };
}

/** A single `bytes=` range (first-last, first-, or -suffix); null for anything served whole. */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * Serves an output file: whole or one byte range, with its ETag (size,
 * modification time and inode: a file rewritten in place gets a new one) and
 * Last-Modified; 304 when the client already holds that ETag. Read from the
 * disk as it is sent, whatever the file's size.
 */
export async function serveOutputFile(file: OutputFile, range: string | undefined, ifNoneMatch: string | undefined): Promise<GetRunOutputResult> {
  const { size } = file;
  const etag = `"${size.toString(16)}-${Math.floor(file.mtimeMs).toString(16)}-${file.ino.toString(16)}"`;
  const base = { 'accept-ranges': 'bytes', etag, 'last-modified': new Date(file.mtimeMs).toUTCString() };
  if (ifNoneMatch !== undefined && (ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    return { status: 304, headers: base };
  }
  const headers = { ...base, 'content-type': 'application/octet-stream' };
  const parsed = range ? parseRange(range, size) : null;
  if (parsed === 'unsatisfiable') {
    throw new WesError(416, `Range '${range}' is outside the ${size} bytes of '${file.relative}'.`, { 'content-range': `bytes */${size}` });
  }
  if (parsed === null || size === 0) {
    return { status: 200, headers: { ...headers, 'content-length': String(size) }, body: size === 0 ? Buffer.alloc(0) : createReadStream(file.path, { end: size - 1, highWaterMark: READ_CHUNK }) };
  }
  const { start, end } = parsed;
  return {
    status: 206,
    headers: { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) },
    body: createReadStream(file.path, { start, end, highWaterMark: READ_CHUNK }),
  };
}
