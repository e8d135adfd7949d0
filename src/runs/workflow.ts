import fs from 'node:fs/promises';
import path from 'node:path';
import type { components } from '../../generated/schema.js';
import { errnoCode } from '../util/errors.js';
import { wesTime } from '../util/time.js';
import { isTerminal, WorkflowStateMachine, type State } from './state-machine.js';
import type { StateStore } from './state-store.js';
import { parseExact } from '../util/exact-json.js';

export type RunRequest = components['schemas']['RunRequest'];

/** State-store keys of a run (Toil's, plus Ferry's own at the end). */
export const RunKeys = {
  state: 'state',
  serverId: 'server_id',
  jobStore: 'job_store',
  startTime: 'start_time',
  cmd: 'cmd',
  endTime: 'end_time',
  exitCode: 'exit_code',
  /** Ferry: engine name, workflow path (relative to execution/), options, system logs, submit time. */
  engine: 'engine',
  workflow: 'workflow',
  engineOptions: 'engine_options',
  systemLogs: 'system_logs',
  submittedAt: 'submitted_at',
  /** The user who submitted the run (absent: submitted without authentication). */
  owner: 'owner',
} as const;

/** A name that path.join leaves as it is (no separator, no `.` or `..`). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
let joinedBase: string | undefined;
let joinedPrefix = '';

/**
 * `path.join(base, runId)`, with the base normalised once rather than on
 * every request about a run (the work folder is the same for all of them).
 */
function runFolder(base: string, runId: string): string {
  if (!PLAIN_NAME.test(runId)) return path.join(base, runId);
  if (base !== joinedBase) {
    joinedPrefix = path.join(base, 'x').slice(0, -1);
    joinedBase = base;
  }
  return joinedPrefix + runId;
}

/**
 * One run on disk: its folder, its record in the state store, its state
 * machine. Knows nothing of HTTP or of how the engine is driven.
 *
 * Folder `<workDir>/<run_id>/`: request.json, execution/ (attachments, the
 * workflow, wes_inputs.json), outputs/, stdout, stderr, bus_messages,
 * outputs.json.
 */
export class ToilWorkflow {
  readonly runDir: string;
  readonly executionDir: string;
  readonly outputsDir: string;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  readonly requestPath: string;
  readonly outputsJsonPath: string;
  readonly inputsPath: string;
  readonly stateMachine: WorkflowStateMachine;

  constructor(
    readonly baseWorkDir: string,
    readonly store: StateStore,
    readonly runId: string,
  ) {
    this.runDir = runFolder(baseWorkDir, runId);
    // One join: the rest are plain names under a normalized folder (made on every request about a run).
    const dir = this.runDir.endsWith(path.sep) ? this.runDir : this.runDir + path.sep;
    this.executionDir = dir + 'execution';
    this.outputsDir = dir + 'outputs';
    this.stdoutPath = dir + 'stdout';
    this.stderrPath = dir + 'stderr';
    this.requestPath = dir + 'request.json';
    this.outputsJsonPath = dir + 'outputs.json';
    this.inputsPath = this.executionDir + path.sep + 'wes_inputs.json';
    this.stateMachine = new WorkflowStateMachine(store, runId);
  }

  /**
   * The run's first record: `keys` and the state QUEUED. Written all at once,
   * it is the state machine's first move (from no state to QUEUED), so a run
   * is never seen without its keys.
   */
  static initialRecord(keys: Record<string, string>): Record<string, string> {
    return { ...keys, state: 'QUEUED' };
  }

  /** Whether the store has a record of this run. */
  exists(): Promise<boolean> {
    return this.store.has(this.runId);
  }

  getState(): Promise<State> {
    return this.stateMachine.getCurrentState();
  }

  get(key: string): Promise<string | null> {
    return this.store.get(this.runId, key);
  }

  set(key: string, value: string): Promise<void> {
    return this.store.set(this.runId, key, value);
  }

  /** Appends a line to the run's system logs (shown in run_log.system_logs). */
  async addSystemLog(message: string): Promise<void> {
    await this.store.update(this.runId, RunKeys.systemLogs, (current) => {
      const logs = parseJsonArray(current);
      logs.push(message);
      return JSON.stringify(logs);
    });
  }

  /** The request as submitted (stored at submission). */
  async readRequest(): Promise<RunRequest> {
    return parseExact(await fs.readFile(this.requestPath, 'utf8')) as RunRequest;
  }

  /** The outputs object, once written; null before. */
  async readOutputs(): Promise<Record<string, unknown> | null> {
    try {
      // Numbers as the engine wrote them (a big integer stays digit for digit).
      return parseExact(await fs.readFile(this.outputsJsonPath, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  /** The run's scratch folder (removed when the run is over). */
  get tmpDir(): string {
    return path.join(this.runDir, 'tmp');
  }

  /**
   * Ends a run whose task is gone without an outcome: `reason` goes to its
   * system logs, the end time is set if none is, and the state becomes
   * CANCELED if the run was being canceled, else SYSTEM_ERROR. A run already
   * terminal is left as it is. `write` wraps each write (a caller may retry
   * them). Returns the state the run ends in.
   */
  async endLost(reason: string | ((state: State) => string), write: <T>(what: string, fn: () => Promise<T>) => Promise<T> = (_what, fn) => fn()): Promise<State> {
    const state = await this.getState();
    if (isTerminal(state)) return state;
    await write('system log', () => this.addSystemLog(typeof reason === 'string' ? reason : reason(state)));
    await write('end time', async () => {
      if ((await this.get(RunKeys.endTime)) === null) await this.set(RunKeys.endTime, wesTime(new Date()));
    });
    return write('state', () => (state === 'CANCELING' ? this.stateMachine.sendCanceled() : this.stateMachine.sendSystemError()));
  }
}

/** Parses a stored JSON array of strings, tolerating absence or damage. */
export function parseJsonArray(text: string | null | undefined): string[] {
  if (!text) return [];
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}
