import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OpenAPIBackend, type Context, type Operation } from 'openapi-backend';
import addFormats from 'ajv-formats';
import type { OperationId, UploadedFile } from '../../generated/operations.js';
import { Staging } from '../backend/staging.js';
import type { WESBackend } from '../backend/wes-backend.js';
import { MalformedRequestError, UnsupportedMediaTypeError, WesError } from '../util/errors.js';
import { receiveMultipart, type MultipartLimits } from './multipart.js';
import { compileRoutingTable } from './routing-table.js';
import { loadSpec } from './spec.js';

export interface WesApiOptions {
  backend: WESBackend;
  workDir: string;
  limits: MultipartLimits;
  /** Check every response against the spec: log misfits, or fail the request (tests). */
  validateResponses: 'off' | 'log' | 'throw';
  /** Whether OPTIONS is ours to answer (not when the CORS plugin answers preflights). */
  routeOptions: boolean;
}

/** What a handler resolves to, whatever the operation. */
interface HandlerResult {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Per-request extras handed through openapi-backend to the handlers. */
interface RequestExtras {
  staging?: Staging;
  /** Attachments on disk; the body that is validated holds their names instead. */
  files?: UploadedFile[];
}

/** Raised when a response does not match the spec and responses are checked strictly. */
export class ResponseValidationError extends Error {}

/**
 * Loads the bundled spec into openapi-backend (strict: the app refuses to
 * start if an operation has no handler), binds every operationId to the
 * backend through `resolveOperationId`, and serves every path through one
 * catch-all Fastify route.
 */
export async function createWesApi(app: FastifyInstance, opts: WesApiOptions): Promise<OpenAPIBackend> {
  const api = new OpenAPIBackend({
    definition: loadSpec(),
    strict: true,
    quick: false,
    validate: true,
    ajvOpts: { coerceTypes: 'array', strict: false },
    customizeAjv: (ajv) => {
      addFormats.default(ajv);
      return ajv;
    },
  });

  await api.init();
  compileRoutingTable(api.router);
  const operations = api.getOperations();
  opts.backend.assertComplete(operations.map((o) => o.operationId!).filter(Boolean));
  const handlers: Record<string, (c: Context, extras: RequestExtras) => Promise<HandlerResult>> = {};
  for (const operation of operations) {
    const id = operation.operationId as OperationId;
    const method = opts.backend.resolveOperationId(id) as unknown as (input: unknown, staging?: Staging) => Promise<HandlerResult>;
    handlers[id] = (c, extras) => method(operationInput(c, operation, extras), extras.staging);
  }
  api.register({
    ...handlers,
    notFound: (c: Context) => {
      throw new WesError(404, `No route ${c.request.method.toUpperCase()} ${c.request.path}.`);
    },
    methodNotAllowed: (c: Context) => {
      const allow = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => api.router.matchOperation({ method: m, path: c.request.path, headers: {} }));
      if (allow.includes('GET')) allow.splice(1, 0, 'HEAD');
      throw new WesError(405, `Method ${c.request.method.toUpperCase()} is not allowed on ${c.request.path}.`, { allow: allow.join(', ') });
    },
    validationFail: (c: Context) => {
      throw new MalformedRequestError(describeValidation(c));
    },
  });

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = request.url.split('?')[0] ?? '/';
    // HEAD is GET without a body (Node drops the body of a HEAD answer).
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const headers = request.headers as Record<string, string>;
    const operation = api.router.matchOperation({ method, path, headers });
    // Undeclared query parameters (cache busters and the like) are ignored, as Toil does; declared ones are checked.
    const declared = new Set((operation?.parameters ?? []).flatMap((p) => ('in' in p && p.in === 'query' ? [p.name] : [])));
    const query = Object.fromEntries(Object.entries(request.query as Record<string, string>).filter(([k]) => declared.has(k)));
    const base = { method, path, query, headers };
    const extras: RequestExtras = {};
    let body: unknown = request.body;
    try {
      if (operation?.requestBody) {
        const parsed = await readForm(request, operation, opts);
        extras.staging = parsed.staging;
        extras.files = parsed.files;
        body = parsed.body;
      }
      const result = (await api.handleRequest({ ...base, body }, extras)) as HandlerResult;
      if (operation && opts.validateResponses !== 'off') checkResponse(api, operation, result, request, opts.validateResponses);
      await send(reply, result);
    } catch (err) {
      await extras.staging?.discard().catch(() => undefined);
      throw err;
    }
  };
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', ...(opts.routeOptions ? ['OPTIONS'] : [])];
  app.route({ method: methods, url: '/', handler: serve });
  app.route({ method: methods, url: '/*', handler: serve });
  return api;
}

/**
 * Reads the body of an operation that has one (only RunWorkflow, a form):
 * multipart with files streamed to a staging folder, or a url-encoded form
 * (what wes-client sends when there is nothing to attach). Returns the body
 * to validate, with each file stood in for by its name, and the staging.
 */
async function readForm(
  request: FastifyRequest,
  operation: Operation,
  opts: WesApiOptions,
): Promise<{ body: Record<string, unknown>; staging: Staging; files: UploadedFile[] }> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const declared = Object.keys((operation.requestBody as { content?: Record<string, unknown> }).content ?? {});
  if (type === 'multipart/form-data' && declared.includes(type)) {
    // A client that left before its body was read will never finish sending it.
    if (request.raw.destroyed || request.raw.readableAborted) throw new MalformedRequestError('The client closed the connection before sending the form.');
    const { fields, files, staging } = await receiveMultipart(request, Staging.create(opts.workDir), opts.limits);
    return { body: { ...fields, ...(files.length ? { workflow_attachment: files.map((f) => f.filename) } : {}) }, staging, files };
  }
  if (type === 'application/x-www-form-urlencoded' && declared.includes('multipart/form-data')) {
    const staging = await Staging.create(opts.workDir);
    const form = (request.body as Record<string, unknown> | undefined) ?? {};
    return { body: { ...form }, staging, files: [] };
  }
  throw new UnsupportedMediaTypeError(
    `${operation.method.toUpperCase()} ${operation.path} takes ${declared.join(' or ')}${declared.includes('multipart/form-data') ? ' (or application/x-www-form-urlencoded)' : ''}, not '${type || 'no content type'}'.`,
  );
}

/** The typed input of a handler, from openapi-backend's parsed request. */
function operationInput(c: Context, operation: Operation, extras: RequestExtras): unknown {
  const headers: Record<string, string> = {};
  for (const p of operation.parameters ?? []) {
    if ('in' in p && p.in === 'header') {
      const v = c.request.headers[p.name.toLowerCase()];
      if (v !== undefined) headers[p.name] = Array.isArray(v) ? v.join(',') : v;
    }
  }
  let body: unknown = c.request.requestBody ?? (operation.requestBody ? {} : undefined);
  if (extras.files && typeof body === 'object' && body !== null) {
    body = { ...(body as Record<string, unknown>), workflow_attachment: extras.files };
  }
  return { params: c.request.params ?? {}, query: c.request.query ?? {}, headers, body };
}

function describeValidation(c: Context): string {
  const errors = c.validation.errors ?? [];
  const parts = errors.slice(0, 5).map((e) => {
    const where = e.instancePath.replace(/^\/(query|path|header|requestBody)\/?/, (_m, k: string) => (k === 'requestBody' ? 'body ' : `${k} `)).replace(/\//g, '.');
    return `${where.trim() || 'request'} ${e.message ?? 'is invalid'}`;
  });
  return `The request does not match the API: ${parts.join('; ')}.`;
}

function checkResponse(api: OpenAPIBackend, operation: Operation, result: HandlerResult, request: FastifyRequest, mode: 'log' | 'throw'): void {
  const contentType = result.headers?.['content-type'];
  if (result.body === undefined || (contentType && !contentType.startsWith('application/json'))) return;
  if (typeof result.body !== 'object' || result.body instanceof Readable || Buffer.isBuffer(result.body)) return;
  const check = api.validateResponse(result.body, operation, result.status);
  if (check.errors && check.errors.length > 0) {
    const msg = `response of ${operation.operationId} does not match the spec: ${JSON.stringify(check.errors.slice(0, 5))}`;
    if (mode === 'throw') throw new ResponseValidationError(msg);
    request.log.warn({ errors: check.errors }, msg);
  }
}

async function send(reply: FastifyReply, result: HandlerResult): Promise<void> {
  reply.code(result.status);
  if (result.headers) reply.headers(result.headers);
  if (result.body === undefined) return reply.send();
  const isJson = typeof result.body === 'object' && !(result.body instanceof Readable) && !Buffer.isBuffer(result.body) && !result.headers?.['content-type'];
  if (isJson) reply.type('application/json; charset=utf-8');
  return reply.send(result.body);
}
