import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type * as Ops from '../../generated/operations.js';
import type { components } from '../../generated/schema.js';
import type { FerryConfig } from '../config.js';
import type { EngineRegistry } from '../engines/registry.js';
import { parseOption, type EngineOption, type TaskLog } from '../engines/engine.js';
import type { FinalSummary, IndexEntry, RunIndex } from '../runs/run-index.js';
import type { ActiveRuns } from '../runs/active-runs.js';
import { ALL_STATES, isTerminal, type State } from '../runs/state-machine.js';
import { isRunId, LocalStateStore, type PreparedRecord, type StateStore } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow, parseJsonArray } from '../runs/workflow.js';
import { JOURNAL_MAX_BYTES, JOURNAL_MAX_FILES, type SubmissionJournal } from '../runs/submission-journal.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import { killRunProcesses } from '../tasks/workflow-task.js';
import { errnoCode, NotFoundError, OperationForbiddenError, ServiceUnavailableError, storageError, WesError, WorkflowNotFoundError } from '../util/errors.js';
import { isIdentityAlive, processIdentity } from '../util/process.js';
import { decodePageToken, encodePageToken, pageSize } from '../util/page-token.js';
import { wesTime } from '../util/time.js';
import { LruCache } from '../util/lru-cache.js';
import { acceptSubmission, type SubmissionFields } from './submission.js';
import { Staging } from './staging.js';
import { WESBackend } from './wes-backend.js';

type RunSummary = components['schemas']['RunSummary'];
type ServiceInfo = components['schemas']['ServiceInfo'];
type RunLog = Ops.GetRunLogResult['body'];

/** How many finished runs' logs are kept in memory. */
const FINISHED_LOG_CACHE = 256;
/** Run logs with more tasks than this are built for each request instead (memory stays bounded). */
const MAX_CACHED_TASKS = 2000;

export interface ToilBackendDeps {
  config: FerryConfig;
  store: StateStore;
  index: RunIndex;
  activeRuns: ActiveRuns;
  engines: EngineRegistry;
  taskRunner: TaskRunner;
  /** Makes small submissions durable in one write (absent: every file is fsynced). */
  journal?: SubmissionJournal;
  logger: Logger;
  /** Ferry's own version, for service-info. */
  version: string;
}

/**
 * The WES backend: validates and stages submissions, hands runs to the task
 * runner, and answers from the run folders and the state store. Knows nothing
 * of HTTP beyond the operation inputs and results the spec defines.
 */
export class ToilBackend extends WESBackend implements Ops.OperationHandlers {
  readonly serverId = processIdentity();
  private readonly startedAt = new Date();
  /** Submissions between their admission check and their queueing. */
  private admitting = 0;
  /** Run logs of finished runs (they never change), the most recently used kept. */
  private readonly finishedLogs = new LruCache<string, RunLog>(FINISHED_LOG_CACHE);

  constructor(private readonly deps: ToilBackendDeps) {
    super();
  }

  private get config(): FerryConfig {
    return this.deps.config;
  }

  /** Server default options (`--opt`) that apply to an engine, in order. */
  defaultOptions(engineName: string): EngineOption[] {
    const out: EngineOption[] = [];
    for (const raw of this.config.engineOptions) {
      const m = /^([a-z0-9-]+):(--?.*)$/.exec(raw);
      if (m && m[1] !== engineName) continue;
      out.push(parseOption(m ? m[2]! : raw));
    }
    return out;
  }

  // ---------------------------------------------------------------- service info

  async GetServiceInfo(): Promise<Ops.GetServiceInfoResult> {
    const { engines } = this.deps;
    const workflowTypeVersions: ServiceInfo['workflow_type_versions'] = {};
    for (const type of engines.types()) workflowTypeVersions[type] = { workflow_type_version: engines.typeVersions(type) };
    const engineVersions: ServiceInfo['workflow_engine_versions'] = {};
    for (const [name, versions] of Object.entries(await engines.versions())) engineVersions[name] = { workflow_engine_version: versions };
    // One entry per engine name (Toil's runners for CWL, WDL and PY share the name `toil`).
    const names = [...new Set(engines.engines.map((e) => e.name))];
    const defaults = names.flatMap((name) =>
      this.defaultOptions(name).map((o) => ({ name: `${name}:${o.flag}`, type: 'string', default_value: o.value ?? '' })),
    );
    const body: ServiceInfo = {
      id: this.config.serviceId,
      name: this.config.serviceName,
      type: { group: 'org.ga4gh', artifact: 'wes', version: '1.1.0' },
      description: 'Ferry: a GA4GH Workflow Execution Service running CWL, WDL and Toil Python workflows with cwltool and Toil.',
      organization: { name: this.config.organizationName, url: this.config.organizationUrl },
      version: this.deps.version,
      createdAt: this.startedAt.toISOString(),
      environment: 'prod',
      workflow_type_versions: workflowTypeVersions,
      supported_wes_versions: ['1.0.0', '1.1.0'],
      supported_filesystem_protocols: ['file', 'http', 'https'],
      workflow_engine_versions: engineVersions,
      default_workflow_engine_parameters: defaults,
      system_state_counts: await this.stateCounts(),
      auth_instructions_url: '',
      tags: { wes_dialect: this.config.wesDialect, ferry_version: this.deps.version },
    };
    return { status: 200, body };
  }

  private async stateCounts(): Promise<Record<string, number>> {
    const { index } = this.deps;
    await index.refresh();
    // Ended runs are counted by the index as they end; only the others are read.
    const counts: Record<string, number> = Object.fromEntries(index.endedCounts());
    const states = await mapLimit(index.unfinished(), 64, async (e) => this.summary(e).then((s) => s?.state));
    for (const s of states) if (s) counts[s] = (counts[s] ?? 0) + 1;
    return Object.fromEntries(ALL_STATES.filter((s) => counts[s]).map((s) => [s, counts[s]!]));
  }

  // ---------------------------------------------------------------- listing

  async ListRuns(input: Ops.ListRunsInput): Promise<Ops.ListRunsResult> {
    const size = pageSize(input.query.page_size, this.config.defaultPageSize, this.config.maxPageSize);
    await this.deps.index.refresh();
    const page = this.deps.index.page(size, input.query.page_token || undefined);
    const runs = (await Promise.all(page.entries.map((e) => this.summary(e)))).filter((s): s is RunSummary => s !== null);
    return { status: 200, body: { runs, next_page_token: page.nextPageToken } };
  }

  /** A run's summary: from the index once it has ended, else from the store. */
  private async summary(entry: IndexEntry): Promise<RunSummary | null> {
    const { runId, tags } = entry;
    if (entry.final) return { run_id: runId, tags, ...entry.final };
    const wf = this.workflow(runId);
    const state = await this.currentState(wf);
    if (state === 'UNKNOWN') return null;
    const [start, end] = await Promise.all([wf.get(RunKeys.startTime), wf.get(RunKeys.endTime)]);
    const times = { ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) };
    if (isTerminal(state)) this.rememberFinal(runId, { state, ...times });
    return { run_id: runId, state, tags, ...times };
  }

  /** Notes in the index that a run has ended (normally its supervisor has; this covers the rest). */
  private rememberFinal(runId: string, final: FinalSummary): void {
    void this.deps.index.recordFinal(runId, final).catch((err: unknown) => this.deps.logger.warn({ err, run_id: runId }, 'could not note the end of a run in the index'));
  }

  // ---------------------------------------------------------------- submission

  /**
   * POST /runs. `staging` holds the attachments the HTTP layer streamed in;
   * everything is checked before a run exists, and a rejected submission
   * leaves nothing behind.
   */
  async RunWorkflow(input: Ops.RunWorkflowInput, staging?: Staging): Promise<Ops.RunWorkflowResult> {
    // Admission first: past the queue bound, refuse before anything is created.
    if (this.deps.taskRunner.queueLength + this.admitting >= this.config.maxQueuedRuns) {
      await staging?.discard().catch(() => undefined);
      throw new ServiceUnavailableError(`The server has ${this.config.maxQueuedRuns} runs waiting already; try again later.`, 5);
    }
    this.admitting++;
    try {
      return await this.admit(input, staging);
    } finally {
      this.admitting--;
    }
  }

  private async admit(input: Ops.RunWorkflowInput, staging?: Staging): Promise<Ops.RunWorkflowResult> {
    const stage = staging ?? (await Staging.create(this.config.workDir));
    let runId: string | null = null;
    let preparing: Promise<PreparedRecord> | null = null;
    let journaled: string | null = null;
    try {
      const { workflow_attachment: _files, ...fields } = input.body;
      const accepted = await acceptSubmission(fields as SubmissionFields, stage, this.deps.engines, this.config);
      const options = [...this.defaultOptions(accepted.engine.name), ...accepted.userOptions];
      // Written plainly: the submission is made durable as a whole below.
      await Promise.all([
        stage.writeKept(`${stage.dir}/request.json`, JSON.stringify(accepted.request, null, 2) + '\n'),
        stage.writeKept(`${stage.executionDir}/wes_inputs.json`, JSON.stringify(accepted.params, null, 2) + '\n'),
      ]);

      runId = `run-${randomBytes(16).toString('hex')}`;
      const wf = this.workflow(runId);
      const record = ToilWorkflow.initialRecord({
        [RunKeys.engine]: accepted.engine.id,
        [RunKeys.workflow]: accepted.workflow,
        [RunKeys.engineOptions]: JSON.stringify(options),
        [RunKeys.serverId]: this.serverId,
        [RunKeys.submittedAt]: new Date().toISOString(),
      });
      // A small submission is written plainly and made durable by one journal entry holding all of
      // it; a bigger one has every file fsynced. Then the two renames in order: the run folder, then
      // the record (state QUEUED included), which makes the run exist, all at once.
      const { journal } = this.deps;
      const contents = journal ? await stage.contents(JOURNAL_MAX_BYTES, JOURNAL_MAX_FILES) : null;
      preparing = this.prepareRecord(runId, record, contents === null);
      const [prepared] = await Promise.all([preparing, this.deps.activeRuns.add(runId), contents ? undefined : stage.sync()]);
      if (journal && contents) {
        const files = Object.fromEntries(Object.entries(contents.files).map(([rel, data]) => [rel, data.toString('base64')]));
        await journal.write({ v: 1, run_id: runId, dirs: contents.dirs, files, record });
        journaled = runId;
      }
      await stage.moveTo(wf.runDir, contents === null);
      await prepared.publish();
      if (journaled) journal?.settled(journaled);
      await this.deps.index.add(runId, accepted.tags);
      this.deps.taskRunner.run(runId);
      this.deps.logger.info({ run_id: runId, engine: accepted.engine.name }, 'run accepted');
      return { status: 200, body: { run_id: runId } };
    } catch (err) {
      await stage.discard().catch(() => undefined);
      await preparing?.then((p) => p.discard(), () => undefined);
      if (journaled) await this.deps.journal?.withdraw(journaled).catch((e: unknown) => this.deps.logger.error({ err: e, run_id: journaled }, 'could not withdraw a failed submission from the journal'));
      if (runId !== null && !this.deps.index.has(runId)) {
        await fs.rm(this.workflow(runId).runDir, { recursive: true, force: true }).catch(() => undefined);
        await this.deps.store.remove(runId).catch(() => undefined);
        await this.deps.activeRuns.remove(runId).catch(() => undefined);
      }
      throw (err instanceof WesError ? null : storageError(err, 'store the run')) ?? err;
    }
  }

  /**
   * The run's first record, written but not yet visible (stores that cannot prepare write it on
   * publish); not fsynced when `durable` is false (a journal entry stands for it).
   */
  private async prepareRecord(runId: string, record: Record<string, string>, durable: boolean): Promise<PreparedRecord> {
    const { store } = this.deps;
    if (store instanceof LocalStateStore) return store.prepare(runId, record, { durable });
    return { publish: () => store.create(runId, record), discard: async () => undefined };
  }

  // ---------------------------------------------------------------- one run

  private workflow(runId: string): ToilWorkflow {
    return new ToilWorkflow(this.config.workDir, this.deps.store, runId);
  }

  /** The run, or a 404 when there is none by that id. */
  private async existing(runId: string): Promise<ToilWorkflow> {
    if (!isRunId(runId)) throw new WorkflowNotFoundError(runId);
    const wf = this.workflow(runId);
    // The index holds only runs that have a state; anything else is looked up.
    if (!this.deps.index.has(runId) && !(await wf.exists())) throw new WorkflowNotFoundError(runId);
    return wf;
  }

  /**
   * The run's state, with Toil's lazy check: a run that is not finished but
   * whose task is gone (its server stopped, or the task died) is not left
   * claiming to run — it becomes SYSTEM_ERROR, or CANCELED if it was being
   * canceled.
   */
  private async currentState(wf: ToilWorkflow): Promise<State> {
    const state = await wf.getState();
    if (isTerminal(state) || state === 'UNKNOWN') return state;
    if (this.deps.taskRunner.isLive(wf.runId)) return state;
    const owner = await wf.get(RunKeys.serverId);
    if (owner !== this.serverId && owner !== null && (await isIdentityAlive(owner))) return state;
    // Re-read: the task may have finished between the two reads.
    const again = await wf.getState();
    if (isTerminal(again)) return again;
    if (this.deps.taskRunner.isLive(wf.runId)) return again;
    const why = owner === this.serverId ? 'its task stopped unexpectedly' : 'the Ferry server that ran it stopped';
    // Its engine may have outlived it: nothing of an abandoned run keeps running.
    await killRunProcesses(wf.runId, wf.runDir);
    try {
      let final: State;
      if (again === 'CANCELING') {
        await wf.addSystemLog(`Marked CANCELED: ${why} while canceling.`);
        final = await wf.stateMachine.sendCanceled();
      } else {
        await wf.addSystemLog(`Marked SYSTEM_ERROR: ${why}.`);
        if ((await wf.get(RunKeys.endTime)) === null) await wf.set(RunKeys.endTime, wesTime(new Date()));
        final = await wf.stateMachine.sendSystemError();
      }
      if (isTerminal(final)) await this.deps.activeRuns.remove(wf.runId);
      return final;
    } catch (err) {
      // The store cannot be written (full or read-only disk): a read must still
      // answer. The run is reported as read; the next read tries again.
      this.deps.logger.warn({ err, run_id: wf.runId }, 'could not record the end of an abandoned run; will retry');
      return again;
    }
  }

  async GetRunStatus(input: Ops.GetRunStatusInput): Promise<Ops.GetRunStatusResult> {
    const wf = await this.existing(input.params.run_id);
    return { status: 200, body: { run_id: wf.runId, state: await this.currentState(wf) } };
  }

  async GetRunLog(input: Ops.GetRunLogInput): Promise<Ops.GetRunLogResult> {
    const wf = await this.existing(input.params.run_id);
    return { status: 200, body: await this.runLog(wf) };
  }

  /** A run's log; a finished run's is built once and kept (up to FINISHED_LOG_CACHE runs, small ones). */
  private async runLog(wf: ToilWorkflow): Promise<RunLog> {
    const cached = this.finishedLogs.get(wf.runId);
    if (cached) return cached;
    const body = await this.buildRunLog(wf);
    if (isTerminal(body.state!) && (body.task_logs?.length ?? 0) <= MAX_CACHED_TASKS) this.finishedLogs.set(wf.runId, body);
    return body;
  }

  private async buildRunLog(wf: ToilWorkflow): Promise<RunLog> {
    const state = await this.currentState(wf);
    const [record, request] = await Promise.all([this.deps.store.getAll(wf.runId), wf.readRequest()]);
    const id = encodeURIComponent(wf.runId);
    const exit = record[RunKeys.exitCode];
    const cmd = record[RunKeys.cmd];
    const systemLogs = parseJsonArray(record[RunKeys.systemLogs]);
    const tasks = await this.taskLogs(wf, record);
    const outputs = state === 'COMPLETE' ? ((await wf.readOutputs()) ?? {}) : {};
    return {
      run_id: wf.runId,
      request,
      state,
      run_log: {
        name: workflowName(request.workflow_url),
        ...(cmd ? { cmd: JSON.parse(cmd) as string[] } : {}),
        ...(record[RunKeys.startTime] ? { start_time: record[RunKeys.startTime] } : {}),
        ...(record[RunKeys.endTime] ? { end_time: record[RunKeys.endTime] } : {}),
        // Relative to this document's URL, so they work behind a path prefix.
        stdout: `../../../../toil/wes/v1/logs/${id}/stdout`,
        stderr: `../../../../toil/wes/v1/logs/${id}/stderr`,
        ...(exit !== undefined && /^-?\d+$/.test(exit) ? { exit_code: Number(exit) } : {}),
        system_logs: systemLogs,
      },
      task_logs_url: `${id}/tasks`,
      task_logs: tasks,
      outputs: outputs as NonNullable<RunLog['outputs']>,
    };
  }

  private async taskLogs(wf: ToilWorkflow, record?: Record<string, string>): Promise<TaskLog[]> {
    const cached = record ? undefined : this.finishedLogs.get(wf.runId)?.task_logs;
    if (cached) return cached as TaskLog[];
    const r = record ?? (await this.deps.store.getAll(wf.runId));
    const engine = this.deps.engines.byName(r[RunKeys.engine] ?? '');
    if (!engine || !r[RunKeys.workflow]) return [];
    const tasks = await engine.taskLogs(await wf.context(r));
    // The AGC dialect names a task by its batch id too, and leaves out tasks without one.
    return tasks.flatMap(({ externalBatchId, ...task }) => {
      if (this.config.wesDialect !== 'agc') return [task];
      return externalBatchId ? [{ ...task, name: `${task.name}|${externalBatchId}` }] : [];
    });
  }

  async ListTasks(input: Ops.ListTasksInput): Promise<Ops.ListTasksResult> {
    const wf = await this.existing(input.params.run_id);
    const size = pageSize(input.query.page_size, this.config.defaultPageSize, this.config.maxPageSize);
    const from = input.query.page_token ? decodePageToken(`tasks:${wf.runId}`, input.query.page_token) : 0;
    const tasks = await this.taskLogs(wf);
    const page = tasks.slice(from, from + size);
    const next = from + size < tasks.length ? encodePageToken(`tasks:${wf.runId}`, from + size) : '';
    return { status: 200, body: { task_logs: page, next_page_token: next } };
  }

  async GetTask(input: Ops.GetTaskInput): Promise<Ops.GetTaskResult> {
    const wf = await this.existing(input.params.run_id);
    const task = (await this.taskLogs(wf)).find((t) => t.id === input.params.task_id);
    if (!task) throw new NotFoundError(`Task '${input.params.task_id}' not found in run '${wf.runId}'.`);
    return { status: 200, body: task };
  }

  async CancelRun(input: Ops.CancelRunInput): Promise<Ops.CancelRunResult> {
    const wf = await this.existing(input.params.run_id);
    const state = await this.currentState(wf);
    if (state === 'EXECUTOR_ERROR' || state === 'SYSTEM_ERROR' || state === 'PREEMPTED') {
      throw new OperationForbiddenError(`Workflow is in state: '${state}', which cannot be cancelled.`);
    }
    if (state === 'COMPLETE' || state === 'CANCELED' || state === 'CANCELING') {
      return { status: 200, body: { run_id: wf.runId } };
    }
    const now = await wf.stateMachine.sendCancel();
    if (now === 'CANCELING') {
      this.deps.logger.info({ run_id: wf.runId }, 'cancel requested');
      // The answer does not wait for the engine to stop; the state says when it has.
      void this.deps.taskRunner.cancel(wf.runId).catch((err: unknown) => this.deps.logger.error({ err, run_id: wf.runId }, 'cancel failed'));
    }
    return { status: 200, body: { run_id: wf.runId } };
  }

  // ---------------------------------------------------------------- Toil's extra routes

  GetRunStdout(input: Ops.GetRunStdoutInput): Promise<Ops.GetRunStdoutResult> {
    return this.logFile(input.params.run_id, 'stdout', input.headers.Range);
  }

  GetRunStderr(input: Ops.GetRunStderrInput): Promise<Ops.GetRunStderrResult> {
    return this.logFile(input.params.run_id, 'stderr', input.headers.Range);
  }

  private async logFile(runId: string, which: 'stdout' | 'stderr', range: string | undefined): Promise<Ops.GetRunStdoutResult> {
    const wf = await this.existing(runId);
    const file = which === 'stdout' ? wf.stdoutPath : wf.stderrPath;
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`No ${which} for run '${runId}' yet.`);
      throw err;
    }
    const base = { 'content-type': 'text/plain; charset=utf-8', 'accept-ranges': 'bytes' };
    const parsed = range ? parseRange(range, size) : null;
    if (parsed === 'unsatisfiable') {
      throw new WesError(416, `Range '${range}' is outside the ${size} bytes of ${which}.`, { 'content-range': `bytes */${size}` });
    }
    if (parsed === null || size === 0) {
      return { status: 200, headers: { ...base, 'content-length': String(size) }, body: size === 0 ? '' : createReadStream(file, { end: size - 1 }) };
    }
    const { start, end } = parsed;
    return {
      status: 206,
      headers: { ...base, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) },
      body: createReadStream(file, { start, end }),
    };
  }

  async GetEngineStatus(): Promise<Ops.GetEngineStatusResult> {
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'OK' };
  }

  async GetRoot(): Promise<Ops.GetRootResult> {
    // Relative, so it works behind a path prefix.
    return { status: 302, headers: { location: 'ga4gh/wes/v1/service-info' } };
  }
}

/** A single `bytes=` range (first-last, first-, or -suffix); multi-ranges are served whole. */
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

function workflowName(url: string): string {
  const clean = url.split(/[?#]/)[0] ?? url;
  return clean.slice(clean.lastIndexOf('/') + 1) || url;
}

/** Maps with at most `limit` calls in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
