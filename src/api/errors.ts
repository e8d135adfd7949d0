import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errnoCode, storageError, unmaskMkdirError, WesError } from '../util/errors.js';

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
function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
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
  // The reason in a field of its own: a second `msg` key would shadow pino's message.
  else request.log.info({ status, reason: body.msg }, 'request refused');
  void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
}
