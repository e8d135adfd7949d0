import path from 'node:path';
import { pino } from 'pino';
import type { FerryConfig } from '../config/config.js';
import { createEngine } from '../engines/registry.js';
import { appendFinal, readFinalSummary, runIndexFile } from '../runs/run-index.js';
import { ActiveRuns } from '../runs/active-runs.js';
import { isTerminal } from '../runs/state-machine.js';
import { LocalStateStore, isRunId } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import { isIdentityAlive, processIdentity } from '../util/process.js';
import { executorFor } from './executors.js';
import { WorkflowTask, type EngineEvent } from './workflow-task.js';
import { findBwrap, resolveSandbox, sandboxPolicy, warmSandbox, type SandboxPolicy } from './sandbox.js';

/** State-store key naming the supervisor process that drives a run. */
export const TASK_KEY = 'task';

/** Exit status of a supervisor that could not record its run's outcome (the server ends the run SYSTEM_ERROR). */
const UNRECORDED_EXIT = 3;

/**
 * `ferry run-task <run_id>`: the supervisor of one run, detached from the
 * server so the run outlives it. It claims the run (only one supervisor ever
 * drives a run), drives it to a terminal state with WorkflowTask, and writes
 * the outcome into the state store itself. SIGTERM means "cancel" when the
 * run is CANCELING, otherwise "stop": the engine is stopped and the run ends
 * SYSTEM_ERROR, so it never claims to run with no one driving it.
 *
 * When the outcome cannot be written (the store's disk is full or read-only
 * even after WorkflowTask's retries), it exits UNRECORDED_EXIT instead of
 * lingering: the server then ends the run SYSTEM_ERROR as soon as it can write.
 * `sandboxAhead`: the run's sandbox, found before the run was known (a standby).
 */
export async function superviseRun(config: FerryConfig, runId: string, logFile?: string, sandboxAhead?: Promise<SandboxPolicy>): Promise<number> {
  // Logs go to the run's supervisor.log (stdout, or `logFile`); a full disk must not turn a failed log write into a crash.
  const destination = pino.destination({ dest: logFile ?? 1, sync: true, append: true, mkdir: false });
  destination.on('error', () => undefined);
  const log = pino({ level: config.logLevel }, destination).child({ run_id: runId, role: 'supervisor' });
  if (!isRunId(runId)) {
    log.error('not a run id');
    return 2;
  }
  const store = new LocalStateStore(config.stateStore);
  const wf = new ToilWorkflow(config.workDir, store, runId);
  const me = processIdentity();
  let claimed: string | null;
  try {
    claimed = await store.createKey(runId, TASK_KEY, me);
    // A supervisor that died left its claim: a run whose job outlives supervisors (Slurm) is taken over.
    if (claimed !== me && claimed !== null && config.executor === 'slurm' && !(await isIdentityAlive(claimed))) {
      const dead = claimed;
      claimed = await store.update(runId, TASK_KEY, (current) => (current === dead ? me : null));
    }
  } catch (err) {
    log.error({ err }, 'could not claim the run: the state store cannot be written');
    return UNRECORDED_EXIT;
  }
  if (claimed !== me) {
    log.info({ owner: claimed }, 'another supervisor drives this run');
    return 0;
  }
  const [state, engineId] = await Promise.all([wf.getState(), wf.get(RunKeys.engine)]);
  if (isTerminal(state)) return 0;

  const engine = engineId ? await createEngine(engineId) : null;
  const reserveDirs = [wf.runDir, path.join(config.stateStore, runId)];
  const sandbox = await (sandboxAhead ?? supervisorSandbox(config));
  const onEngine = (e: EngineEvent): void => {
    if (e.kind === 'started') log.info({ executor: e.executor }, 'engine started');
    else log.info({ exit_code: e.exitCode }, 'engine ended');
  };
  const task = engine ? new WorkflowTask(wf, engine, { cancelGraceMs: config.cancelGraceMs, reserveDirs, executor: executorFor(config, wf, sandbox), onEngine }) : null;
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'signalled');
    if (!task) return;
    const stop = (): Promise<void> => task.shutdown(`The run's supervisor was stopped (${signal}); its processes were stopped.`);
    void wf.getState().then((state) => (state === 'CANCELING' ? task.cancel() : stop()), stop).catch(() => undefined);
  };
  // A run whose cancel came while no supervisor watched it (taken over after a restart): cancel it now.
  if (task && state === 'CANCELING') void task.cancel();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined); // the server's terminal going away is no reason to stop

  if (!task) {
    try {
      await wf.addSystemLog(`Ferry cannot run engine '${engineId ?? ''}' here.`);
      await wf.stateMachine.sendSystemError();
    } catch (err) {
      log.error({ err }, 'could not record the run\'s outcome; the server will mark it SYSTEM_ERROR');
      return UNRECORDED_EXIT;
    }
  } else {
    log.info({ engine: engine!.name }, 'run starting');
    log.info({ state: await task.execute() }, 'run finished');
  }
  const final = await wf.getState().catch((): null => null);
  if (final === null || !isTerminal(final)) {
    log.error({ err: task?.unrecorded, state: final }, 'could not record the run\'s outcome; the server will mark it SYSTEM_ERROR');
    return UNRECORDED_EXIT;
  }
  // The index learns the run's final summary, so listings need not read the store for it.
  const summary = await readFinalSummary(store, runId).catch((): null => null);
  if (summary) await appendFinal(runIndexFile(config.stateStore), runId, summary).catch((err: unknown) => log.warn({ err }, 'could not note the end of the run in the index'));
  // The server drops the marker too when it sees the run end.
  await new ActiveRuns(config.stateStore).remove(runId).catch((err: unknown) => log.warn({ err }, 'could not drop the active-run marker'));
  return 0;
}

/**
 * The sandbox a supervisor puts its run in. The server passes the mode it
 * found in force at its start (`bwrap` or `none`), so no run probes again;
 * when bubblewrap was promised and is gone, the run fails rather than run
 * unsandboxed. `auto` (a supervisor started by hand) probes.
 */
async function supervisorSandbox(config: FerryConfig): Promise<SandboxPolicy> {
  if (config.sandbox === 'auto') return sandboxPolicy(config, await resolveSandbox(config));
  if (config.sandbox === 'none') return sandboxPolicy(config, { kind: 'none' });
  const bwrap = await findBwrap();
  return sandboxPolicy(config, { kind: 'bwrap', ...(bwrap ? { bwrap } : {}) });
}

/**
 * `ferry run-task --standby`: a supervisor started ahead of its run, so a
 * run's start does not wait for a process to start and load (the server
 * keeps one ready). It reads the run id from stdin, then is that run's
 * supervisor, logging to the run's supervisor.log. Without a run id (stdin
 * closed: the server stopped or changed its mind) it exits 0. While it
 * waits it finds its sandbox and looks at the machine for it (see
 * warmSandbox).
 */
export async function standBy(config: FerryConfig): Promise<number> {
  // While it waits: the sandbox its run will get, and what that sandbox shows of the machine.
  const sandbox = supervisorSandbox(config).then((policy) => {
    void warmSandbox(policy);
    return policy;
  });
  sandbox.catch(() => undefined); // a failure is the run's, reported when it needs the sandbox
  const runId = await firstLine(process.stdin);
  if (runId === null) return 0;
  if (!isRunId(runId)) return 2;
  return superviseRun(config, runId, path.join(config.workDir, runId, 'supervisor.log'), sandbox);
}

/** The first line of a stream (null if it ends first); the stream is let go afterwards. */
function firstLine(stream: NodeJS.ReadStream): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    const done = (line: string | null): void => {
      stream.removeAllListeners('data');
      stream.removeAllListeners('end');
      stream.on('error', () => undefined);
      stream.destroy();
      resolve(line);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline >= 0) done(text.slice(0, newline).trim());
      else if (text.length > 1024) done(null);
    });
    stream.on('end', () => done(null));
    stream.on('error', () => done(null));
  });
}
