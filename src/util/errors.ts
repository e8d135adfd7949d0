import fs from 'node:fs/promises';
import path from 'node:path';
/**
 * Domain errors. Each carries the HTTP status it maps to, so the one error
 * handler in the API layer can turn any of them into the WES error body
 * `{"msg", "status_code"}` without knowing the individual classes.
 */
export class WesError extends Error {
  readonly statusCode: number;
  /** Extra response headers (e.g. Retry-After on 503). */
  readonly headers: Record<string, string>;

  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

/** The request is malformed (400). */
export class MalformedRequestError extends WesError {
  constructor(message: string) {
    super(400, message);
  }
}

/** No run with this id (404). */
export class WorkflowNotFoundError extends WesError {
  constructor(runId: string) {
    super(404, `Workflow run '${runId}' not found.`);
  }
}

/** Something else that was asked for does not exist (404). */
export class NotFoundError extends WesError {
  constructor(message: string) {
    super(404, message);
  }
}

/** A workflow type or version this server does not run (400). */
export class VersionNotImplementedError extends WesError {
  constructor(message: string) {
    super(400, message);
  }
}

/** The request is understood but not allowed (403). */
export class OperationForbiddenError extends WesError {
  constructor(message: string) {
    super(403, message);
  }
}

/** The request conflicts with the state of what it names, e.g. deleting a run still running (409). */
export class ConflictError extends WesError {
  constructor(message: string) {
    super(409, message);
  }
}

/** The body or one of its parts is larger than the configured limit (413). */
export class PayloadTooLargeError extends WesError {
  constructor(message: string) {
    super(413, message);
  }
}

/** The request's content type is not one the operation accepts (415). */
export class UnsupportedMediaTypeError extends WesError {
  constructor(message: string) {
    super(415, message);
  }
}

/** The server cannot take more work right now (503, with Retry-After). */
export class ServiceUnavailableError extends WesError {
  constructor(message: string, retryAfterSeconds = 5) {
    super(503, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/** Node's error code of a failed system call, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Errnos that say the disk, not the data, is the trouble, in words. */
const STORAGE_TROUBLE: Record<string, string> = {
  ENOSPC: 'there is no space left on the disk',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the disk is read-only',
};

/** For a failed write whose cause is the disk itself (full, over quota, read-only): what is wrong, in words with the errno; else undefined. */
export function storageTrouble(err: unknown): string | undefined {
  const code = errnoCode(err);
  const why = code === undefined ? undefined : STORAGE_TROUBLE[code];
  return why === undefined ? undefined : `${why} (${code})`;
}

/** True for a failed write whose cause is the disk itself: full, over quota or read-only. */
export function isStorageTrouble(err: unknown): boolean {
  return storageTrouble(err) !== undefined;
}

/**
 * A failed write to the server's own storage (a full or read-only work
 * folder) as a 507 Insufficient Storage saying so; null for any other error.
 * A read-only disk is a 507 too, not a 503: for the client it is the same
 * condition (the server cannot store what it was sent), and a 503 with
 * Retry-After would invite retries that fail alike until an operator acts.
 * Server paths stay in the log.
 */
export function storageError(err: unknown, doing = 'write to its storage'): WesError | null {
  const why = storageTrouble(err);
  return why === undefined ? null : new WesError(507, `The server cannot ${doing}: ${why}.`);
}

/**
 * The real cause of a failed recursive mkdir. Node reports a folder that
 * cannot be made because its file system is read-only or full as ENOENT
 * (nodejs/node#47098: `mkdir(p, { recursive: true })` stats the path after
 * any unexpected errno and reports the stat's ENOENT). For such an error this
 * asks the nearest existing folder on the way: EROFS if it cannot be written,
 * ENOSPC if its file system has no block or inode left. Anything else comes
 * back unchanged.
 */
export async function unmaskMkdirError(err: unknown): Promise<unknown> {
  const e = err as NodeJS.ErrnoException;
  if (errnoCode(err) !== 'ENOENT' || e.syscall !== 'mkdir' || typeof e.path !== 'string') return err;
  const real = (code: string, what: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: ${what}, mkdir '${e.path}'`), { code, syscall: 'mkdir', path: e.path });
  for (let dir = path.resolve(e.path); ; dir = path.dirname(dir)) {
    try {
      await fs.access(dir, fs.constants.W_OK);
      const st = await fs.statfs(dir);
      return st.bavail === 0 || st.ffree === 0 ? real('ENOSPC', 'no space left on device') : err;
    } catch (probe) {
      if (errnoCode(probe) === 'EROFS') return real('EROFS', 'read-only file system');
      if (errnoCode(probe) !== 'ENOENT' || path.dirname(dir) === dir) return err;
    }
  }
}
