import { pino } from 'pino';
import type { FerryConfig } from '../config.js';
import { createEngine } from '../engines/registry.js';
import { ActiveRuns } from '../runs/active-runs.js';
import { isTerminal } from '../runs/state-machine.js';
import { LocalStateStore, isRunId } from '../runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import { processIdentity } from '../util/process.js';
import { WorkflowTask } from './workflow-task.js';

/** State-store key naming the supervisor process that drives a run. */
export const TASK_KEY = 'task';

/**
 * `ferry run-task <run_id>`: the supervisor of one run, detached from the
 * server so the run outlives it. It claims the run (only one supervisor ever
 * drives a run), drives it to a terminal state with WorkflowTask, and writes
 * the outcome into the state store itself. SIGTERM means "cancel" when the
 * run is CANCELING, otherwise "stop": the engine is stopped and the run ends
 * SYSTEM_ERROR, so it never claims to run with no one driving it.
 */
export async function superviseRun(config: FerryConfig, runId: string): Promise<number> {
  const log = pino({ level: config.logLevel }).child({ run_id: runId, role: 'supervisor' });
  if (!isRunId(runId)) {
    log.error('not a run id');
    return 2;
  }
  const store = new LocalStateStore(config.stateStore);
  const wf = new ToilWorkflow(config.workDir, store, runId);
  const me = processIdentity();
  const claimed = await store.update(runId, TASK_KEY, (current) => (current === null ? me : null));
  if (claimed !== me) {
    log.info({ owner: claimed }, 'another supervisor drives this run');
    return 0;
  }
  if (isTerminal(await wf.getState())) return 0;

  const engineId = await wf.get(RunKeys.engine);
  const engine = engineId ? await createEngine(engineId) : null;
  const task = engine ? new WorkflowTask(wf, engine, { cancelGraceMs: config.cancelGraceMs }) : null;
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'signalled');
    if (!task) return;
    void wf.getState().then((state) =>
      state === 'CANCELING' ? task.cancel() : task.shutdown(`The run's supervisor was stopped (${signal}); its processes were stopped.`),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined); // the server's terminal going away is no reason to stop

  if (!task) {
    await wf.addSystemLog(`Ferry cannot run engine '${engineId ?? ''}' here.`);
    await wf.stateMachine.sendSystemError();
  } else {
    log.info({ engine: engine!.name }, 'run starting');
    log.info({ state: await task.execute() }, 'run finished');
  }
  if (isTerminal(await wf.getState())) await new ActiveRuns(config.stateStore).remove(runId);
  return 0;
}
