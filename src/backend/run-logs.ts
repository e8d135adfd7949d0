import fs from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import type * as Ops from '../../generated/operations.js';
import type { TaskLog } from '../engines/engine.js';
import type { EngineRegistry } from '../engines/registry.js';
import { runContext } from '../engines/run-context.js';
import { isTerminal } from '../runs/state-machine.js';
import type { StateStore } from '../runs/state-store.js';
import { parseJsonArray, RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import { SlurmKeys } from '../tasks/slurm/slurm-executor.js';
import { errnoCode, NotFoundError } from '../util/errors.js';
import type { RunLifecycle } from './run-lifecycle.js';
import type { ApiLinks } from './api-links.js';
import { publicOutputs } from './run-outputs.js';

type RunLog = Ops.GetRunLogResult['body'];

/** How many finished runs' logs are kept in memory. */
const FINISHED_LOG_CACHE = 256;
/** Run logs with more tasks than this are built for each request instead (memory stays bounded). */
const MAX_CACHED_TASKS = 2000;

/** One of a run's two log files, as it is now. */
export interface LogFile {
  runId: string;
  which: 'stdout' | 'stderr';
  path: string;
  size: number;
}

export interface RunLogsDeps {
  store: StateStore;
  engines: EngineRegistry;
  lifecycle: RunLifecycle;
  links: ApiLinks;
  /** `agc` names tasks by their batch id too. */
  wesDialect: string;
}

/** What a run did: its run log, its task logs, its log files. */
export class RunLogs {
  /** Run logs of finished runs (they never change), the most recently used kept. */
  private readonly finished = new LRUCache<string, RunLog>({ max: FINISHED_LOG_CACHE });

  constructor(private readonly deps: RunLogsDeps) {}

  /** Drops what is kept of a run (deleted). */
  forget(runId: string): void {
    this.finished.delete(runId);
  }

  /** A run's log; a finished run's is built once and kept (small ones). */
  async runLog(wf: ToilWorkflow): Promise<RunLog> {
    const cached = this.finished.get(wf.runId);
    if (cached) return cached;
    const body = await this.build(wf);
    if (isTerminal(body.state!) && (body.task_logs?.length ?? 0) <= MAX_CACHED_TASKS) this.finished.set(wf.runId, body);
    return body;
  }

  private async build(wf: ToilWorkflow): Promise<RunLog> {
    const { lifecycle, links, store } = this.deps;
    const state = await lifecycle.currentState(wf);
    const [record, request] = await Promise.all([store.getAll(wf.runId), wf.readRequest()]);
    const exit = record[RunKeys.exitCode];
    const cmd = record[RunKeys.cmd];
    const tasks = await this.taskLogs(wf, record);
    // Each File and Directory located where a client fetches it, not where this server keeps it.
    const outputs = state === 'COMPLETE' ? publicOutputs((await wf.readOutputs()) ?? {}, wf, links) : {};
    // Where the run ran, beside the client's own tags: its Slurm job (with --executor slurm).
    const jobId = record[SlurmKeys.jobId];
    return {
      run_id: wf.runId,
      request: jobId === undefined ? request : { ...request, tags: { ...request.tags, slurm_job_id: jobId } },
      state,
      run_log: {
        name: workflowName(request.workflow_url),
        ...(cmd ? { cmd: JSON.parse(cmd) as string[] } : {}),
        ...(record[RunKeys.startTime] ? { start_time: record[RunKeys.startTime] } : {}),
        ...(record[RunKeys.endTime] ? { end_time: record[RunKeys.endTime] } : {}),
        stdout: links.stdout(wf.runId),
        stderr: links.stderr(wf.runId),
        ...(exit !== undefined && /^-?\d+$/.test(exit) ? { exit_code: Number(exit) } : {}),
        system_logs: parseJsonArray(record[RunKeys.systemLogs]),
      },
      task_logs_url: links.taskLogs(wf.runId),
      task_logs: tasks,
      outputs: outputs as NonNullable<RunLog['outputs']>,
    };
  }

  /** The run's task logs so far, in the order the engine first saw them. */
  async taskLogs(wf: ToilWorkflow, record?: Record<string, string>): Promise<TaskLog[]> {
    const cached = record ? undefined : this.finished.get(wf.runId)?.task_logs;
    if (cached) return cached as TaskLog[];
    const r = record ?? (await this.deps.store.getAll(wf.runId));
    const id = r[RunKeys.engine] ?? '';
    const { engines } = this.deps;
    const engine = engines.byName(id) ?? (await engines.settled.then(() => engines.byName(id)));
    if (!engine || !r[RunKeys.workflow]) return [];
    const tasks = await engine.taskLogs(await runContext(wf, r));
    // The AGC dialect names a task by its batch id too, and leaves out tasks without one.
    return tasks.flatMap(({ externalBatchId, ...task }) => {
      // Where the task ran: its job in the batch system (Toil's Slurm jobs, with --executor slurm).
      if (this.deps.wesDialect !== 'agc') return [externalBatchId ? { ...task, system_logs: [...(task.system_logs ?? []), `${batchSystemName(r)} job ${externalBatchId}`] } : task];
      return externalBatchId ? [{ ...task, name: `${task.name}|${externalBatchId}` }] : [];
    });
  }

  /** One task, or a 404. */
  async task(wf: ToilWorkflow, taskId: string): Promise<TaskLog> {
    const task = (await this.taskLogs(wf)).find((t) => t.id === taskId);
    if (!task) throw new NotFoundError(`Task '${taskId}' not found in run '${wf.runId}'.`);
    return task;
  }

  /** The run's stdout or stderr file as it is now, or a 404 before the engine has started. */
  async logFile(wf: ToilWorkflow, which: 'stdout' | 'stderr'): Promise<LogFile> {
    const file = which === 'stdout' ? wf.stdoutPath : wf.stderrPath;
    try {
      return { runId: wf.runId, which, path: file, size: (await fs.stat(file)).size };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`No ${which} for run '${wf.runId}' yet.`);
      throw err;
    }
  }
}

function workflowName(url: string): string {
  const clean = url.split(/[?#]/)[0] ?? url;
  return clean.slice(clean.lastIndexOf('/') + 1) || url;
}

/** The batch system a run's engine gave its jobs to, as its options say (Toil's --batchSystem). */
function batchSystemName(record: Record<string, string>): string {
  let options: unknown;
  try {
    options = JSON.parse(record[RunKeys.engineOptions] ?? '[]');
  } catch {
    options = [];
  }
  const slurm = Array.isArray(options) && options.some((o: { flag?: unknown; value?: unknown }) => o?.flag === '--batchSystem' && o.value === 'slurm');
  return slurm ? 'Slurm' : 'Batch system';
}
