import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errnoCode, unmaskMkdirError, WesError } from '../util/errors.js';

/** The WES error body. */
export interface ErrorBody {
  msg: string;
  status_code: number;
}

/**
 * Maps any error to its HTTP status and WES body. Our own errors carry their
 * status; a write that failed because our disk is full or read-only is a 507;
 * Fastify's and plugins' errors carry `statusCode`; anything else is a 500
 * whose details stay in the log.
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  const wes = err instanceof WesError ? err : storageError(err);
  if (wes) {
    return { status: wes.statusCode, body: { msg: wes.message, status_code: wes.statusCode }, headers: wes.headers };
  }
  const e = err as Partial<FastifyError> & { status?: number };
  const status = e.statusCode ?? e.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { msg: clientMessage(e), status_code: status }, headers: {} };
  }
  const s = typeof status === 'number' && status >= 500 && status < 600 ? status : 500;
  return { status: s, body: { msg: 'The server failed to handle the request; the error is in its log.', status_code: s }, headers: {} };
}

/** What a failed write to the server's own disk means, by errno. */
const STORAGE_TROUBLE: Record<string, string> = {
  ENOSPC: 'there is no space left on its disk',
  EDQUOT: 'its disk quota is used up',
  EROFS: 'its disk is read-only',
};

/**
 * A failed write to the server's own storage (a full or read-only work
 * folder) as a 507 Insufficient Storage with a message that says so; null
 * for any other error. A read-only disk is a 507 too, not a 503: it is the
 * same condition for the client (the server cannot store what it was sent),
 * RunWorkflow maps both the same way, and a 503 with Retry-After would invite
 * retries that fail alike until an operator acts. Server paths stay in the log.
 */
export function storageError(err: unknown, doing = 'write to its storage'): WesError | null {
  const code = errnoCode(err);
  const why = code === undefined ? undefined : STORAGE_TROUBLE[code];
  return why === undefined ? null : new WesError(507, `The server cannot ${doing}: ${why} (${code}).`);
}

function clientMessage(e: Partial<FastifyError>): string {
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `The request body is not valid JSON: ${e.message ?? ''}`.trim();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `Unsupported content type: ${e.message ?? ''}`.trim();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The request body is larger than this server accepts.';
    default:
      return e.message ?? 'Bad request';
  }
}

/** Fastify error handler: every error leaves as `{"msg", "status_code"}`. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  // A failed recursive mkdir may hide a read-only or full disk: look before answering.
  if (errnoCode(err) === 'ENOENT' && (err as NodeJS.ErrnoException).syscall === 'mkdir') {
    void unmaskMkdirError(err).then((real) => sendError(real, request, reply));
    return;
  }
  sendError(err, request, reply);
}

function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, headers } = toErrorResponse(err);
  if (status >= 500) request.log.error({ err }, 'request failed');
  else request.log.info({ status, msg: body.msg }, 'request refused');
  void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
}
