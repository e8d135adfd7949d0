import fs from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import cors from '@fastify/cors';
import type { Logger } from 'pino';
import type { OpenAPIBackend } from 'openapi-backend';
import { authConfigured, type FerryConfig } from './config/config.js';
import { createLogger, requestChildLogger } from './config/logger.js';
import { Credentials } from './api/auth/credentials.js';
import { MalformedRequestError } from './util/errors.js';
import { errorHandler } from './api/errors.js';
import { ferryVersion } from './api/spec.js';
import { serveLogFile, serveOutputFile } from './api/log-files.js';
import { zipOutputs } from './api/zip.js';
import { rootLinks } from './api/links.js';
import { createWesApi, PUBLIC_OPERATIONS } from './api/wes-api.js';
import { defaultUiDir, registerUi } from './api/ui.js';
import { registerApiDocs } from './api/docs.js';
import { FerryMetrics } from './api/metrics.js';
import { stagingRoot } from './backend/staging.js';
import { ToilBackend } from './backend/toil-backend.js';
import { WorkflowAllowList } from './backend/workflow-allow-list.js';
import { defaultEngineRegistry, type EngineRegistry } from './engines/registry.js';
import { RunIndex, runIndexFile } from './runs/run-index.js';
import { LocalStateStore, type StateStore } from './runs/state-store.js';
import { RunKeys, ToilWorkflow } from './runs/workflow.js';
import { ChildProcessTaskRunner } from './tasks/child-process-runner.js';
import { executorFor, slurmStart } from './tasks/executors.js';
import { SupervisorTaskRunner } from './tasks/supervisor-runner.js';
import { resolveSandbox, sandboxPolicy } from './tasks/sandbox.js';
import { recoverJournal, SubmissionJournal } from './runs/submission-journal.js';
import { ActiveRuns } from './runs/active-runs.js';
import { RunDeletions } from './runs/run-deletion.js';
import type { TaskRunner } from './tasks/task-runner.js';

/** A run id in a request's path (its routes: /runs/{run_id}…, Toil's /logs/{run_id}/…). */
const RUN_IN_URL = /\/(run-[0-9a-f]{32})(?=[/?#]|$)/;

/** Parts a test or an embedder may hand in instead of the defaults. */
export interface AppParts {
  logger?: Logger;
  engines?: EngineRegistry;
  store?: StateStore;
  taskRunner?: TaskRunner;
  /** How long a submission journal entry waits for its checkpoint (tests hold entries back with a long one). */
  journalCheckpointMs?: number;
  /** The clock the per-user limits and the retention time read (tests move it rather than wait). */
  clock?: () => number;
  /** Time between retention sweeps; 0: none in the background (tests sweep often, or by hand). */
  retentionSweepMs?: number;
  /** Most runs one retention sweep deletes. */
  retentionBatch?: number;
  /** The dashboard's built files (default: dist/ui, made by `npm run build`). */
  uiDir?: string;
  /** Most time service-info waits for the engines' version probes (default 200 ms; tests that read versions wait for them). */
  probeWaitMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    ferry: {
      backend: ToilBackend;
      api: OpenAPIBackend;
      taskRunner: TaskRunner;
      store: StateStore;
      deletions: RunDeletions;
      config: FerryConfig;
      credentials?: Credentials;
      metrics: FerryMetrics;
    };
  }
}

/**
 * Builds the Ferry app: a ready Fastify instance over the configured work
 * folder. It does not listen; `server.ts` does that, and tests inject.
 */
export async function buildApp(config: FerryConfig, parts: AppParts = {}): Promise<FastifyInstance> {
  const logger = parts.logger ?? (await createLogger(config));
  // What Toil's server options that Ferry has nothing to do for come to here.
  for (const note of config.startupNotes) logger.info(note);
  await fs.mkdir(config.workDir, { recursive: true });
  await fs.mkdir(config.stateStore, { recursive: true });
  // Whatever a crash left half-received is not a run: remove it.
  await fs.rm(stagingRoot(config.workDir), { recursive: true, force: true });

  const store = parts.store ?? new LocalStateStore(config.stateStore);
  // Likewise run records whose creation a crash cut short.
  await store.sweepIncomplete();
  const activeRuns = new ActiveRuns(config.stateStore);
  // Small submissions are made durable by the journal; what a machine crash lost of them is rebuilt first.
  await recoverJournal({ stateStore: config.stateStore, workDir: config.workDir, store, activeRuns, logger });
  const journal = new SubmissionJournal(config.stateStore, [config.workDir, config.stateStore], logger, parts.journalCheckpointMs);
  // Deletions a crash cut short are finished before anything reads the runs (after the journal, which could rebuild them).
  const deletions = new RunDeletions({ workDir: config.workDir, stateStore: config.stateStore, store, activeRuns, journal, logger });
  await deletions.recover();
  // The default engine of a type as configured (`--default-engine CWL=toil`), else the first offered.
  const offered = parts.engines ?? (await defaultEngineRegistry());
  // A default for a type whose engine is still being probed for (PY) waits for the probe: a wrong one must stop the start.
  if (Object.keys(config.defaultEngines).some((type) => offered.forType(type).length === 0)) await offered.settled;
  const engines = offered.preferring(config.defaultEngines);
  const index = await RunIndex.open(runIndexFile(config.stateStore), store, async (runId) => {
    const wf = new ToilWorkflow(config.workDir, store, runId);
    const [request, owner] = await Promise.all([wf.readRequest(), wf.get(RunKeys.owner)]);
    return { tags: request.tags ?? {}, ...(owner === null ? {} : { owner }) };
  }, { onSnapshotError: (err) => logger.warn({ err }, 'could not write the snapshot of the run index; the next start reads the whole index') });
  // The sandbox in force: probed once, here; `auto` becomes what was found, for the runs and for service-info.
  const sandboxFound = await resolveSandbox(config);
  if (config.sandbox === 'auto' && sandboxFound.kind === 'none') {
    logger.warn({ reason: sandboxFound.reason }, 'RUNS ARE NOT SANDBOXED: bubblewrap does not work here, so every run can read what the server\'s user can (install Debian\'s bubblewrap, or pass --sandbox none to say so knowingly)');
  } else if (sandboxFound.kind === 'bwrap') {
    logger.info({ network: config.sandboxNetwork }, 'runs are sandboxed with bubblewrap');
  }
  config = { ...config, sandbox: sandboxFound.kind };
  const sandbox = sandboxPolicy(config, sandboxFound);
  // On a Slurm cluster: the controller must answer, and runs may choose among the partitions offered.
  const scheduler = config.executor === 'slurm' ? await slurmStart(config, logger) : undefined;
  let taskRunner = parts.taskRunner;
  if (!taskRunner) {
    const runnerOptions = { workDir: config.workDir, store, activeRuns, maxConcurrentRuns: config.maxConcurrentRuns, cancelGraceMs: config.cancelGraceMs, logger };
    if (config.taskRunner === 'inline') {
      taskRunner = new ChildProcessTaskRunner({ ...runnerOptions, engines, sandbox, executor: (wf) => executorFor(config, wf, sandbox) });
    } else {
      const supervisors = new SupervisorTaskRunner({ ...runnerOptions, config });
      // Runs of an earlier server: adopt, requeue or declare lost, before answering anyone.
      await supervisors.recover();
      taskRunner = supervisors;
    }
  }
  // Registered workflows only, when a list is configured (a broken list stops the start).
  const allowList = config.workflowAllowList ? await WorkflowAllowList.open(config.workflowAllowList) : undefined;
  const backend = new ToilBackend({
    config, store, index, activeRuns, deletions, engines, taskRunner, journal, logger, allowList,
    ...(scheduler ? { scheduler } : {}),
    version: ferryVersion(),
    links: rootLinks,
    serveLogFile,
    ...(parts.clock ? { clock: parts.clock } : {}),
    ...(parts.retentionSweepMs === undefined ? {} : { retentionSweepMs: parts.retentionSweepMs }),
    ...(parts.retentionBatch === undefined ? {} : { retentionBatch: parts.retentionBatch }),
    ...(parts.probeWaitMs === undefined ? {} : { probeWaitMs: parts.probeWaitMs }),
    serveOutputFile,
    zipOutputs,
  });

  // Who may call: the credential files, re-read when they change (and on SIGHUP, see server.ts), and an OIDC issuer's JWTs.
  const credentials = authConfigured(config)
    ? await Credentials.open({
        htpasswdFile: config.authHtpasswd,
        tokensFile: config.authTokens,
        ...(config.oidcIssuer === undefined
          ? {}
          : { oidc: { issuer: config.oidcIssuer, audience: config.oidcAudience ?? '', jwksUri: config.oidcJwksUri, userClaim: config.oidcUserClaim, adminClaims: config.oidcAdminClaims } }),
        admins: config.admins,
        logger,
      })
    : undefined;

  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.maxFieldBytes,
    // Run ids and task ids are the only path parameters; keep URLs sane.
    routerOptions: { maxParamLength: 512 },
    return503OnClosing: true,
    // Every log line of a request about a run names the run, from "incoming request" on (its refusal included).
    // Made when the request first writes a line (most write none at the default levels): see requestChildLogger.
    childLoggerFactory: (parent, bindings, options, raw) =>
      requestChildLogger(
        parent as Logger,
        () => {
          const runId = RUN_IN_URL.exec(raw.url ?? '')?.[1];
          return runId ? { ...bindings, run_id: runId } : bindings;
        },
        options,
      ) as FastifyBaseLogger,
    // Behind a proxy: the client's address, scheme and Host as the proxy saw them.
    trustProxy: config.trustProxy,
    // Errors Fastify raises before routing (a malformed URL) get the WES body too.
    frameworkErrors: (err, request, reply) => errorHandler(err, request, reply),
    // Node would refuse a missing Host itself, with no body; the hook below does it with one.
    http: { requireHostHeader: false },
    // And so do requests Node's HTTP parser refuses before Fastify sees them.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({ msg: status === 431 ? 'The request headers are too large.' : 'The request is not valid HTTP.', status_code: status });
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    },
  });
  app.setErrorHandler(errorHandler);
  // A callback hook, not an async one: it runs on every request, and a promise a request is a microtask turn.
  app.addHook('onRequest', (request, _reply, done) => {
    done(request.raw.httpVersion === '1.1' && !request.headers.host ? new MalformedRequestError('An HTTP/1.1 request needs a Host header.') : undefined);
  });
  // An Expect other than 100-continue: 417, with the WES body rather than Node's empty one.
  app.server.on('checkExpectation', (req, res) => {
    const body = JSON.stringify({ msg: `Expectation '${String(req.headers.expect)}' is not supported.`, status_code: 417 });
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  app.setNotFoundHandler((request, reply) => errorHandler(Object.assign(new Error(`No route ${request.method} ${request.url}.`), { statusCode: 404 }), request, reply));
  // Bodies of operations that take none are read and ignored, whatever their type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    // As many fields as a multipart form may have; counted before parsing, so a huge form costs nothing.
    const text = body as string;
    let fields = 1;
    for (let i = text.indexOf('&'); i !== -1 && fields <= 100; i = text.indexOf('&', i + 1)) fields++;
    if (fields > 100) return done(new MalformedRequestError('The form has more than 100 fields.'), undefined);
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined));
  await app.register(multipart, { throwFileSizeLimit: true });
  if (config.cors) await app.register(cors, { origin: config.corsOrigins.includes('*') ? true : config.corsOrigins });

  // The dashboard's static files, beside the API's catch-all route (a more specific path wins).
  registerUi(app, parts.uiDir ?? defaultUiDir());
  // Timed and counted from the first request on; served by server.ts on a listener of its own (and here with --metrics-on-api).
  const metrics = new FerryMetrics(backend);
  metrics.instrument(app);
  registerApiDocs(app, {
    docs: config.apiDocs,
    toilUi: config.toilSwaggerUi,
    auth: { basic: config.authHtpasswd !== undefined, bearer: config.authTokens !== undefined || config.oidcIssuer !== undefined },
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    publicOperations: PUBLIC_OPERATIONS,
  });
  const api = await createWesApi(app, {
    backend,
    workDir: config.workDir,
    limits: { maxAttachmentBytes: config.maxAttachmentBytes, maxAttachments: config.maxAttachments, maxFieldBytes: config.maxFieldBytes },
    validateResponses: config.validateResponses,
    routeOptions: !config.cors,
    authenticator: credentials,
    maxSubmissionsPerMinute: config.maxSubmissionsPerMinute,
    trustProxy: config.trustProxy,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    ...(parts.clock ? { clock: parts.clock } : {}),
    onAuthFailure: (reason) => metrics.authFailed(reason),
    ...(config.metricsOnApi ? { metrics: () => metrics.render() } : {}),
  });
  app.decorate('ferry', { backend, api, taskRunner, store, deletions, config, credentials, metrics });
  backend.start();
  // The engines' probes (their --version, which Python has Toil) once the server listens: a second or more of
  // CPU that would slow its start. Service-info and submissions that need them start them sooner.
  app.addHook('onListen', async () => {
    void backend.enginesProbed();
  });
  app.addHook('onClose', async () => {
    credentials?.close();
    await backend.close();
    await journal.close().catch((err: unknown) => logger.warn({ err }, 'could not checkpoint the submission journal'));
    await index.close().catch((err: unknown) => logger.warn({ err }, 'could not write the snapshot of the run index'));
    await taskRunner.close();
  });
  return app;
}
