import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { operationIds } from '../../generated/operations.js';
import { Staging } from '../backend/staging.js';
import type { Caller, Principal } from '../backend/caller.js';
import { bindHandlers, type WESBackend } from '../backend/wes-backend.js';
import { stringifyExact } from '../util/exact-json.js';
import { MalformedRequestError, UnsupportedMediaTypeError, WesError } from '../util/errors.js';
import { isLoopbackHost } from '../config/config.js';
import { absoluteLinks, requestBase } from './links.js';
import { receiveMultipart, type MultipartLimits } from './multipart.js';
import { addressKey, LoginThrottle, SubmissionLimiter, type Clock } from './rate-limits.js';
import type { AuthFailure } from './metrics.js';
import { RoutingTable } from './routing-table.js';
import { loadSpec } from './spec.js';

export interface WesApiOptions {
  backend: WESBackend;
  workDir: string;
  limits: MultipartLimits;
  /** Check every response against the spec: log misfits, or fail the request (tests). */
  validateResponses: 'off' | 'log' | 'throw';
  /** Whether OPTIONS is ours to answer (not when the CORS plugin answers preflights). */
  routeOptions: boolean;
  /** Who may call: absent, no authentication (every request speaks for no one in particular). */
  authenticator?: Authenticator;
  /** Accepted submissions per minute per user (per client address without authentication); 0 or absent: no limit. */
  maxSubmissionsPerMinute?: number;
  /** The clock the limits read (tests move it rather than wait). */
  clock?: Clock;
  /** The base of every link handed out (`--public-url`); absent, each request's own. */
  publicUrl?: string;
  /** Whether the proxy's X-Forwarded-Prefix counts (Fastify handles the others). */
  trustProxy?: boolean;
  /** Told of each request whose credentials did not do (for the metrics). */
  onAuthFailure?: (reason: AuthFailure) => void;
  /** Serve `GET /metrics` here too, to admins (`--metrics-on-api`): what it answers. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

/** Operations whose answers hold links, made absolute per request. */
const LINKED: ReadonlySet<string> = new Set(['GetRunLog', 'ListRunOutputs', 'GetRunOutput']);

/** Checks the credentials a request carries (see api/auth). */
export interface Authenticator {
  /** `WWW-Authenticate` challenges for a 401, one per scheme. */
  readonly challenges: readonly string[];
  /** The principal an `Authorization` header proves, or null. */
  authenticate(authorization: string | undefined): Promise<Principal | null>;
}

/** Operations anyone may call: what the server is, whether it is up, the way to service-info. */
export const PUBLIC_OPERATIONS: ReadonlySet<string> = new Set(['GetServiceInfo', 'GetEngineStatus', 'GetRoot']);

/** What a handler resolves to, whatever the operation. */
interface HandlerResult {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Any operation's handler, as the router calls it: with an input checked against that operation's schema. */
type AnyHandler = (input: never, caller: Caller) => Promise<HandlerResult>;

/** Raised when a response does not match the spec and responses are checked strictly. */
class ResponseValidationError extends Error {}

/**
 * Loads the bundled spec into openapi-backend, binds every operationId to the
 * backend through `resolveOperationId` (the app refuses to start if one is
 * unbound), and serves every path through one catch-all Fastify route.
 *
 * openapi-backend supplies the dereferenced operations and the Ajv
 * validators it compiles for each at start-up; the request path through them
 * is Ferry's own and allocation-light (it is the hot path of every client's
 * polling): a routing table built once, the operation's compiled validator,
 * then the bound backend method.
 */
export async function createWesApi(app: FastifyInstance, opts: WesApiOptions): Promise<OpenAPIBackend> {
  const api = new OpenAPIBackend({
    definition: loadSpec(),
    strict: true,
    // Quick: no validation of the document at start (the generator checks it with openapi-backend
    // itself, and CI fails when generated/ drifts) and validators compiled when first needed; see warmUp.
    quick: true,
    validate: true,
    ajvOpts: { coerceTypes: 'array', strict: false },
    customizeAjv: (ajv) => {
      addFormats.default(ajv);
      return ajv;
    },
  });

  await api.init();
  const operations = api.getOperations();
  opts.backend.assertComplete(operations.map((o) => o.operationId!).filter(Boolean));
  const bound = bindHandlers(opts.backend);
  const handlers = new Map<string, AnyHandler>(operationIds.map((id) => [id, bound[id]]));
  const table = new RoutingTable(api.router, operations);
  const plans = new Map<Operation, OperationPlan>();
  const planOf = (o: Operation): OperationPlan => {
    let plan = plans.get(o);
    if (!plan) plans.set(o, (plan = planFor(api, o)));
    return plan;
  };
  warmUp(operations, planOf);
  const submissions = new SubmissionLimiter({ perWindow: opts.maxSubmissionsPerMinute ?? 0, ...(opts.clock ? { now: opts.clock } : {}) });
  const logins = opts.authenticator ? new LoginThrottle(opts.clock ? { now: opts.clock } : {}) : undefined;

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const q = request.url.indexOf('?');
    const path = q === -1 ? request.url : request.url.slice(0, q);
    // HEAD is GET without a body (Node drops the body of a HEAD answer).
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const found = table.match(method, path);
    if (found.kind === 'no-route') throw new WesError(404, `No route ${method} ${path}.`);
    if (found.kind === 'no-method') throw new WesError(405, `Method ${method} is not allowed on ${path}.`, { allow: found.allow.join(', ') });
    const { operation, params } = found;
    request.operationId = operation.operationId!;
    // Who is asking, before anything of the request is read: an upload nobody may make is not received.
    const caller = opts.authenticator ? await callerOf(request, operation.operationId!, opts.authenticator, logins, opts.onAuthFailure) : null;
    // A submission's slot is taken before its upload is read, and given back unless it is accepted.
    const release = operation.operationId === 'RunWorkflow' ? submissions.take(caller ? `user:${caller.user}` : `address:${addressKey(request.ip)}`) : undefined;
    let accepted = false;
    const plan = planOf(operation);
    const headers = request.headers as Record<string, string | string[] | undefined>;
    // Undeclared query parameters (cache busters and the like) are ignored, as Toil does; declared ones are checked.
    const query: Record<string, unknown> = {};
    const given = request.query as Record<string, string | string[]>;
    for (const name of plan.query) if (given[name] !== undefined) query[name] = given[name];
    let staging: Staging | undefined;
    try {
      let body: unknown;
      if (operation.requestBody) {
        const parsed = await readForm(request, operation, opts);
        staging = parsed.staging;
        body = parsed.body;
      }
      const input = validated(plan, params, query, headers, body, staging);
      // The input now matches the operation's schema, which its handler's input type is made from.
      let result = await handlers.get(operation.operationId!)!(input as never, caller);
      accepted = true;
      if (LINKED.has(operation.operationId!)) {
        // A client on this machine also gets each output's local path (a cwl-runner harness checks it); one elsewhere, only URLs.
        // With a public URL clients are elsewhere, and a loopback peer is a proxy in front: no local paths then.
        const local = opts.publicUrl === undefined && isLoopbackHost(request.ip);
        result = { ...result, body: absoluteLinks(operation.operationId!, result.body, requestBase(request, opts.publicUrl, opts.trustProxy ?? false), local) };
      }
      if (opts.validateResponses !== 'off') checkResponse(api, operation, result, request, opts.validateResponses);
      const streaming = send(reply, result, operation.operationId!);
      // A stream is sent after the handler's promise: Fastify must wait for its end (the reply is a thenable of it).
      if (streaming) await streaming;
    } catch (err) {
      if (!accepted) release?.();
      await staging?.discard().catch(() => undefined);
      throw err;
    }
  };
  if (opts.metrics) {
    const render = opts.metrics;
    // Checked as any run route is (failed logins held back alike), and for admins only.
    app.get('/metrics', async (request, reply) => {
      request.operationId = 'GetMetrics';
      const caller = await callerOf(request, 'GetMetrics', opts.authenticator, logins, opts.onAuthFailure);
      if (caller && !caller.admin) {
        opts.onAuthFailure?.('not_admin');
        throw new WesError(403, 'The metrics are for admins.');
      }
      const { contentType, body } = await render();
      return reply.type(contentType).send(body);
    });
  }
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', ...(opts.routeOptions ? ['OPTIONS'] : [])];
  app.route({ method: methods, url: '/', handler: serve });
  app.route({ method: methods, url: '/*', handler: serve });
  return api;
}

/** How long after the start the validators not yet asked for begin to be compiled. */
const WARM_UP_DELAY_MS = 1000;

/**
 * Compiles each operation's request validators in the background, one per
 * turn of the event loop, once the start is over: the server answers before
 * they are all made (making them all takes a second or more of CPU), and an
 * operation asked for before its turn compiles its own on the spot.
 */
function warmUp(operations: Operation[], planOf: (o: Operation) => unknown): void {
  const queue = [...operations];
  const next = (): void => {
    const op = queue.shift();
    if (!op) return;
    planOf(op);
    setTimeout(next, 0).unref();
  };
  setTimeout(next, WARM_UP_DELAY_MS).unref();
}

/**
 * Whom a request speaks for: null without authentication; on a public
 * operation, whoever its credentials prove (if any); elsewhere a principal,
 * or a 401 naming every scheme the server takes. Credentials from an address
 * that failed too often lately get a 429 unchecked.
 */
async function callerOf(
  request: FastifyRequest,
  operationId: string,
  authenticator: Authenticator | undefined,
  logins?: LoginThrottle,
  failed: (reason: AuthFailure) => void = () => undefined,
): Promise<Caller> {
  if (!authenticator) return null;
  const header = request.headers.authorization;
  const sent = Array.isArray(header) ? header[0] : header;
  // Only credentials count and are held back: a request that sends none checks no password.
  try {
    if (sent) logins?.check(request.ip);
  } catch (err) {
    failed('held_back');
    throw err;
  }
  const principal = await authenticator.authenticate(sent);
  if (sent && !principal) failed('bad_credentials');
  if (sent) {
    if (principal) logins?.succeeded(request.ip);
    const wait = principal ? 0 : (logins?.failed(request.ip) ?? 0);
    // The address and the wait only: never the header.
    if (wait > 0) request.log.warn({ address: request.ip, wait_ms: wait }, 'failed logins: address held back');
  }
  if (principal) return { user: principal.user, admin: principal.admin };
  // A public operation answers everyone alike: a caller who proves nothing sees no run.
  if (PUBLIC_OPERATIONS.has(operationId)) return { user: '', admin: false };
  if (!header) failed('no_credentials');
  throw new WesError(401, header ? 'The credentials sent are not valid.' : 'This request needs credentials.', {
    'www-authenticate': authenticator.challenges.join(', '),
  });
}

/** What is worked out once per operation for checking its requests. */
interface OperationPlan {
  operation: Operation;
  /** Declared query parameters, and which of them are arrays. */
  query: string[];
  arrayQuery: Set<string>;
  /** Declared header parameters: spec name and lower-case name. */
  headers: { name: string; lower: string }[];
  validators: ReturnType<OpenAPIBackend['validator']['getRequestValidatorsForOperation']>;
}

function planFor(api: OpenAPIBackend, operation: Operation): OperationPlan {
  const params = (operation.parameters ?? []).filter((p): p is Exclude<typeof p, { $ref: string }> => 'in' in p);
  const query = params.filter((p) => p.in === 'query');
  return {
    operation,
    query: query.map((p) => p.name),
    arrayQuery: new Set(query.filter((p) => (p.schema as { type?: string } | undefined)?.type === 'array').map((p) => p.name)),
    headers: params.filter((p) => p.in === 'header').map((p) => ({ name: p.name, lower: p.name.toLowerCase() })),
    validators: api.validator.getRequestValidatorsForOperation(operation.operationId!) ?? [],
  };
}

/**
 * Checks a request against its operation's compiled validators (query
 * values coerced to their declared types, as openapi-backend does) and
 * returns the handler's typed input; a mismatch is a 400 saying what is wrong.
 */
function validated(
  plan: OperationPlan,
  params: Record<string, string>,
  query: Record<string, unknown>,
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
  staging: Staging | undefined,
): unknown {
  for (const name of plan.arrayQuery) if (typeof query[name] === 'string') query[name] = [query[name]];
  const parameters: Record<string, unknown> = { path: params, query, header: headers, cookie: {} };
  if (typeof body === 'object' && body !== null) parameters.requestBody = body;
  const errors: ErrorObject[] = [];
  for (const validate of plan.validators) {
    if (!validate(parameters) && validate.errors) errors.push(...validate.errors);
  }
  if (errors.length > 0) throw new MalformedRequestError(describeValidation(errors));
  const declaredHeaders: Record<string, string> = {};
  for (const { name, lower } of plan.headers) {
    const v = headers[lower];
    if (v !== undefined) declaredHeaders[name] = Array.isArray(v) ? v.join(',') : v;
  }
  let input: unknown = parameters.requestBody ?? (plan.operation.requestBody ? {} : undefined);
  // The form's files were checked by name; the handler gets the folder they were received into.
  if (staging && typeof input === 'object' && input !== null) input = { ...(input as Record<string, unknown>), workflow_attachment: staging };
  return { params: parameters.path, query: parameters.query, headers: declaredHeaders, body: input };
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
): Promise<{ body: Record<string, unknown>; staging: Staging }> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const declared = Object.keys((operation.requestBody as { content?: Record<string, unknown> }).content ?? {});
  if (type === 'multipart/form-data' && declared.includes(type)) {
    // A client that left before its body was read will never finish sending it.
    if (request.raw.destroyed || request.raw.readableAborted) throw new MalformedRequestError('The client closed the connection before sending the form.');
    const { fields, files, staging } = await receiveMultipart(request, Staging.create(opts.workDir), opts.limits);
    return { body: { ...fields, ...(files.length ? { workflow_attachment: files.map((f) => f.filename) } : {}) }, staging };
  }
  if (type === 'application/x-www-form-urlencoded' && declared.includes('multipart/form-data')) {
    const staging = await Staging.create(opts.workDir);
    const form = (request.body as Record<string, unknown> | undefined) ?? {};
    return { body: { ...form }, staging };
  }
  throw new UnsupportedMediaTypeError(
    `${operation.method.toUpperCase()} ${operation.path} takes ${declared.join(' or ')}${declared.includes('multipart/form-data') ? ' (or application/x-www-form-urlencoded)' : ''}, not '${type || 'no content type'}'.`,
  );
}

function describeValidation(errors: ErrorObject[]): string {
  const parts = errors.slice(0, 5).map((e) => {
    const where = e.instancePath.replace(/^\/(query|path|header|requestBody)\/?/, (_m, k: string) => (k === 'requestBody' ? 'body ' : `${k} `)).replace(/\//g, '.');
    // An enum's values are few and the fix: name them (the states a filter takes, say).
    const allowed = e.keyword === 'enum' && Array.isArray(e.params.allowedValues) ? `: ${e.params.allowedValues.join(', ')}` : '';
    return `${where.trim() || 'request'} ${e.message ?? 'is invalid'}${allowed}`;
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

/**
 * Answers written by hand, for operations whose answer has a fixed shape of
 * strings only (no number to keep exact, nothing free-form): the same text
 * JSON.stringify would write for it, at a tenth of the cost. GET status is
 * the request every client repeats.
 */
const WRITERS: ReadonlyMap<string, (body: never) => string> = new Map([
  // A run id is `run-` and hex (checked before any handler is called), a state one of the spec's names: nothing to escape.
  ['GetRunStatus', (b: { run_id: string; state: string }) => '{"run_id":"' + b.run_id + '","state":"' + b.state + '"}'],
]);

/** Sends the answer: a body in memory at once (undefined back), a stream as it is read (its reply back, to await). */
function send(reply: FastifyReply, result: HandlerResult, operationId: string): FastifyReply | undefined {
  reply.code(result.status);
  if (result.headers) reply.headers(result.headers);
  if (result.body === undefined) {
    reply.send();
    return;
  }
  const isJson = typeof result.body === 'object' && !(result.body instanceof Readable) && !Buffer.isBuffer(result.body) && !result.headers?.['content-type'];
  if (!isJson) {
    reply.send(result.body);
    return reply.sent ? undefined : reply;
  }
  reply.type('application/json; charset=utf-8');
  const write = result.status === 200 ? WRITERS.get(operationId) : undefined;
  // Serialized here: numbers of workflow outputs go out as the engine wrote them.
  reply.send(write ? write(result.body as never) : stringifyExact(result.body));
}
