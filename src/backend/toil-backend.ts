import type * as Ops from '../../generated/operations.js';
import type { RunDeletions } from '../runs/run-deletion.js';
import { ALL_STATES, type State } from '../runs/state-machine.js';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import { WorkflowNotFoundError } from '../util/errors.js';
import { decodePageToken, encodePageToken, pageSize } from '../util/page-token.js';
import { processIdentity } from '../util/process.js';
import { RunLifecycle } from './run-lifecycle.js';
import { RunListing } from './run-listing.js';
import { RunRetention } from './run-retention.js';
import type { ApiLinks } from './api-links.js';
import { RunLogs, type LogFile } from './run-logs.js';
import { findOutput, outputFiles, outputPage, reportedChecksums, type OutputFile } from './run-outputs.js';
import { RunSubmission, type RunSubmissionDeps } from './run-submission.js';
import { ServiceInfoView } from './service-info.js';
import type { Caller } from './caller.js';
import type { Staging } from './staging.js';
import { WESBackend, type WesHandlers } from './wes-backend.js';

/** A run seen to end while this server runs: what its metrics are made of. */
export interface RunEnd {
  runId: string;
  /** The engine's id (`cwltool`, `toil-cwl`…), `unknown` when the record has none. */
  engine: string;
  /** Its final state. */
  state: string;
  /** From its start to its end, when it has both times. */
  seconds?: number;
}

/** How the API layer answers for a log file: whole, or the part a request's Range header asks for. */
export type ServeLogFile = (file: LogFile, range: string | undefined) => Promise<Ops.GetRunStdoutResult>;

/** How the API layer answers for an output file: whole, a Range of it, or 304 for an ETag the client holds. */
export type ServeOutputFile = (file: OutputFile, range: string | undefined, ifNoneMatch: string | undefined) => Promise<Ops.GetRunOutputResult>;
/** How the API layer streams files as one zip archive. */
export type ZipOutputs = (files: AsyncIterable<OutputFile>) => Promise<Ops.GetRunOutputsZipResult>;

/** What the backend is made of: what a submission needs (the server's identity is its own), and more. */
export interface ToilBackendDeps extends Omit<RunSubmissionDeps, 'serverId'> {
  /** Ferry's own version, for service-info. */
  version: string;
  /** Where clients find a run's logs and the service-info (the API layer's URLs). */
  links: ApiLinks;
  /** Serves a log file over the API (the API layer's Range handling). */
  serveLogFile: ServeLogFile;
  /** How runs are deleted (crash-safe; see RunDeletions). */
  deletions: RunDeletions;
  /** The clock the retention time is measured on (tests move it rather than wait days). */
  clock?: () => number;
  /** Time between retention sweeps (default 10 minutes); 0: none in the background (tests sweep by hand). */
  retentionSweepMs?: number;
  /** Most runs a retention sweep deletes (default 100). */
  retentionBatch?: number;
  /** Most time service-info waits for the engines' version probes (default 200 ms). */
  probeWaitMs?: number;
  /** Serves an output file over the API. */
  serveOutputFile: ServeOutputFile;
  /** Streams a run's outputs as a zip. */
  zipOutputs: ZipOutputs;
}

/**
 * The WES backend: one method per operation of the spec, each a thin front
 * over the part that does the work — service-info, the run listing,
 * submission, a run's logs, its lifecycle. Knows nothing of HTTP beyond the
 * operation inputs and results the spec defines.
 */
export class ToilBackend extends WESBackend implements WesHandlers {
  readonly serverId = processIdentity();
  private readonly lifecycle: RunLifecycle;
  private readonly listing: RunListing;
  private readonly info: ServiceInfoView;
  private readonly submission: RunSubmission;
  private readonly logs: RunLogs;
  /** Deletes finished runs past `--retention-days` (and finishes deletions that failed part way). */
  readonly retention: RunRetention;

  constructor(private readonly deps: ToilBackendDeps) {
    super();
    const { config, store, index, activeRuns, deletions, engines, taskRunner, logger, links } = deps;
    const serverId = this.serverId;
    this.lifecycle = new RunLifecycle({ workDir: config.workDir, store, index, activeRuns, deletions, taskRunner, logger, serverId });
    this.listing = new RunListing(index, this.lifecycle, logger);
    this.info = new ServiceInfoView(config, engines, this.listing, deps.version, deps.probeWaitMs);
    this.submission = new RunSubmission({ ...deps, serverId });
    this.logs = new RunLogs({ store, engines, lifecycle: this.lifecycle, links, wesDialect: config.wesDialect });
    this.retention = new RunRetention({
      index, store, logger, lifecycle: this.lifecycle, retentionDays: config.retentionDays,
      deleteRun: (runId) => this.deleteRun(this.lifecycle.workflow(runId), 'retention'),
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.retentionSweepMs ? { intervalMs: deps.retentionSweepMs } : {}),
      ...(deps.retentionBatch ? { batch: deps.retentionBatch } : {}),
    });
  }

  /** Starts the background work: the retention sweeps. */
  start(): void {
    if (this.deps.retentionSweepMs !== 0) this.retention.start();
  }

  /**
   * Starts the engines' probes (once; a server does as it begins to listen,
   * so that they do not compete with its start) and resolves once every one
   * has ended: service-info shows them all then.
   */
  enginesProbed(): Promise<void> {
    return this.info.probe();
  }

  /**
   * Calls `listener` with each run that ends from now on, as the run index
   * learns of it (a supervisor's final line, read at the next listing,
   * service-info or `runSnapshot`).
   */
  watchRunEnds(listener: (end: RunEnd) => void): void {
    this.deps.index.onEnded((entry) => {
      const { start_time: start, end_time: end, state } = entry.final!;
      const seconds = start && end ? (Date.parse(end) - Date.parse(start)) / 1000 : NaN;
      const told = this.deps.store
        .get(entry.runId, RunKeys.engine)
        .catch(() => null)
        .then((engine) => listener({ runId: entry.runId, engine: engine ?? 'unknown', state, ...(Number.isFinite(seconds) && seconds >= 0 ? { seconds } : {}) }));
      this.endsBeingTold.add(told);
      void told.finally(() => this.endsBeingTold.delete(told));
    });
  }

  private readonly endsBeingTold = new Set<Promise<void>>();

  /**
   * Runs per state (every state, zero included) and the runs waiting for a
   * slot; the runs that have ended since the last look are told to the
   * `watchRunEnds` listeners before this resolves. Costs what
   * service-info's counts cost: the index, and a read of each run not ended.
   */
  async runSnapshot(): Promise<{ states: Record<State, number>; queueLength: number }> {
    const counts = await this.listing.stateCounts();
    await Promise.all([...this.endsBeingTold]);
    const states = Object.fromEntries(ALL_STATES.filter((s) => s !== 'UNKNOWN').map((s) => [s, counts[s] ?? 0])) as Record<State, number>;
    return { states, queueLength: this.deps.taskRunner.queueLength };
  }

  /** Stops it. */
  close(): Promise<void> {
    return this.retention.close();
  }

  /**
   * The run `runId` as `caller` may see it, handed to `fn`. A read that
   * fails because the run was deleted under it answers 404, as any later
   * request would, not a server error.
   */
  private async onRun<T>(runId: string, caller: Caller, fn: (wf: ToilWorkflow) => Promise<T>): Promise<T> {
    const wf = await this.lifecycle.existing(runId, caller);
    try {
      return await fn(wf);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) && (await this.lifecycle.isGone(wf))) throw new WorkflowNotFoundError(runId);
      throw err;
    }
  }

  private pageSize(raw: unknown): number {
    return pageSize(raw, this.deps.config.defaultPageSize, this.deps.config.maxPageSize);
  }

  async GetServiceInfo(): Promise<Ops.GetServiceInfoResult> {
    return { status: 200, body: await this.info.describe() };
  }

  async ListRuns(input: Ops.ListRunsInput, caller: Caller): Promise<Ops.ListRunsResult> {
    const { page_size, page_token, ...filters } = input.query;
    return { status: 200, body: await this.listing.page(this.pageSize(page_size), page_token, caller, filters) };
  }

  /** POST /runs. `workflow_attachment` is the staging folder the HTTP layer streamed the attachments into. */
  async RunWorkflow(input: Ops.RunWorkflowInput<Staging>, caller: Caller): Promise<Ops.RunWorkflowResult> {
    const { workflow_attachment: staging, ...fields } = input.body;
    return { status: 200, body: { run_id: await this.submission.submit(fields, staging, caller) } };
  }

  async GetRunLog(input: Ops.GetRunLogInput, caller: Caller): Promise<Ops.GetRunLogResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => ({ status: 200, body: await this.logs.runLog(wf) }));
  }

  async GetRunStatus(input: Ops.GetRunStatusInput, caller: Caller): Promise<Ops.GetRunStatusResult> {
    // The poll every client makes: a run known to have ended is answered from memory, without a promise on the way.
    const final = this.lifecycle.knownFinalState(input.params.run_id, caller);
    if (final) return { status: 200, body: { run_id: input.params.run_id, state: final } };
    return this.onRun(input.params.run_id, caller, async (wf) => {
      const state = await this.lifecycle.currentState(wf);
      // A run deleted while its state was read reads UNKNOWN: it is gone.
      if (state === 'UNKNOWN' && (await this.lifecycle.isGone(wf))) throw new WorkflowNotFoundError(wf.runId);
      return { status: 200, body: { run_id: wf.runId, state } };
    });
  }

  async ListTasks(input: Ops.ListTasksInput, caller: Caller): Promise<Ops.ListTasksResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => {
      const size = this.pageSize(input.query.page_size);
      const kind = `tasks:${wf.runId}`;
      const from = input.query.page_token ? decodePageToken(kind, input.query.page_token) : 0;
      const tasks = await this.logs.taskLogs(wf);
      const next = from + size < tasks.length ? encodePageToken(kind, from + size) : '';
      return { status: 200, body: { task_logs: tasks.slice(from, from + size), next_page_token: next } };
    });
  }

  async GetTask(input: Ops.GetTaskInput, caller: Caller): Promise<Ops.GetTaskResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => ({ status: 200, body: await this.logs.task(wf, input.params.task_id) }));
  }

  async CancelRun(input: Ops.CancelRunInput, caller: Caller): Promise<Ops.CancelRunResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => {
      await this.lifecycle.cancel(wf);
      return { status: 200, body: { run_id: wf.runId } };
    });
  }

  /** DELETE /runs/{run_id} (Ferry's extension): a finished run and everything of it. */
  async DeleteRun(input: Ops.DeleteRunInput, caller: Caller): Promise<Ops.DeleteRunResult> {
    const wf = await this.lifecycle.existing(input.params.run_id, caller);
    await this.deleteRun(wf, caller?.user);
    return { status: 200, body: { run_id: wf.runId } };
  }

  /** Deletes a run (see RunLifecycle.delete) and forgets what is kept of it here. */
  private async deleteRun(wf: ToilWorkflow, by: string | undefined): Promise<void> {
    await this.lifecycle.delete(wf, by);
    this.logs.forget(wf.runId);
  }

  // Ferry's: outputs over HTTP.

  async ListRunOutputs(input: Ops.ListRunOutputsInput, caller: Caller): Promise<Ops.ListRunOutputsResult> {
    const wf = await this.lifecycle.existing(input.params.run_id, caller);
    const { files, next } = await outputPage(wf, this.pageSize(input.query.page_size), input.query.page_token);
    const checksums = reportedChecksums((await wf.readOutputs()) ?? {}, wf.outputsDir);
    const outputs = files.map((f) => {
      const checksum = checksums.get(f.relative);
      return { path: f.relative, size: f.size, ...(checksum ? { checksum } : {}), location: this.deps.links.output(wf.runId, f.relative) };
    });
    return { status: 200, body: { outputs, next_page_token: next } };
  }

  async GetRunOutput(input: Ops.GetRunOutputInput, caller: Caller): Promise<Ops.GetRunOutputResult> {
    const wf = await this.lifecycle.existing(input.params.run_id, caller);
    const found = await findOutput(wf, input.params.path);
    if (found.kind === 'file') return this.deps.serveOutputFile(found, input.headers.Range, input.headers['If-None-Match']);
    const link = (relative: string): string => this.deps.links.output(wf.runId, relative);
    const listing = found.entries.map((e) => ({
      class: e.directory ? ('Directory' as const) : ('File' as const),
      basename: e.name,
      location: link(`${found.relative}/${e.name}`),
      ...(e.size === undefined ? {} : { size: e.size }),
    }));
    return { status: 200, body: { class: 'Directory', basename: found.relative.slice(found.relative.lastIndexOf('/') + 1), location: link(found.relative), listing } };
  }

  async GetRunOutputsZip(input: Ops.GetRunOutputsZipInput, caller: Caller): Promise<Ops.GetRunOutputsZipResult> {
    const wf = await this.lifecycle.existing(input.params.run_id, caller);
    // A run without an outputs folder is a 404 before anything is sent.
    const files = outputFiles(wf);
    const first = await files.next();
    return this.deps.zipOutputs((async function* () {
      if (!first.done) yield first.value;
      yield* files;
    })());
  }

  // Toil's extra routes.

  async GetRunStdout(input: Ops.GetRunStdoutInput, caller: Caller): Promise<Ops.GetRunStdoutResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => this.deps.serveLogFile(await this.logs.logFile(wf, 'stdout'), input.headers.Range));
  }

  async GetRunStderr(input: Ops.GetRunStderrInput, caller: Caller): Promise<Ops.GetRunStderrResult> {
    return this.onRun(input.params.run_id, caller, async (wf) => this.deps.serveLogFile(await this.logs.logFile(wf, 'stderr'), input.headers.Range));
  }

  async GetEngineStatus(): Promise<Ops.GetEngineStatusResult> {
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'OK' };
  }

  async GetRoot(): Promise<Ops.GetRootResult> {
    return { status: 302, headers: { location: this.deps.links.serviceInfo() } };
  }
}
