import { operationIds, type OperationHandlers, type OperationId } from '../../generated/operations.js';
import type { Caller } from './caller.js';
import type { Staging } from './staging.js';

/**
 * Every operation of the spec as the backend serves it. Attachments arrive
 * in a staging folder, inside RunWorkflow's input (`workflow_attachment`);
 * every operation learns whom the request speaks for.
 */
export type WesHandlers = OperationHandlers<Staging, Caller>;

/**
 * The abstract WES backend: one method per operationId of the bundled spec.
 * `resolveOperationId` is how the API layer finds the method that serves an
 * operation; `assertComplete` makes the app refuse to start when one is missing.
 */
export abstract class WESBackend {
  /** The method serving `operationId`, bound to this backend; throws when there is none. */
  resolveOperationId<Op extends OperationId>(operationId: Op): WesHandlers[Op] {
    const method: unknown = Reflect.get(this, operationId);
    if (typeof method !== 'function') throw new Error(`No backend method serves operation '${operationId}'.`);
    return method.bind(this);
  }

  /** Throws unless every operation in `ids` (default: the whole spec) has a method. */
  assertComplete(ids: readonly string[] = operationIds): void {
    const missing = ids.filter((id) => typeof Reflect.get(this, id) !== 'function');
    if (missing.length > 0) throw new Error(`The backend serves no method for: ${missing.join(', ')}.`);
  }
}

/**
 * Binds each operation of the spec to its backend method. Typed from the
 * generated operations: a spec bump that adds or reshapes one stops this
 * compiling until it is served.
 */
export function bindHandlers(backend: WESBackend): WesHandlers {
  const bind = <Op extends OperationId>(id: Op): WesHandlers[Op] => backend.resolveOperationId(id);
  return {
    GetServiceInfo: bind('GetServiceInfo'),
    ListRuns: bind('ListRuns'),
    RunWorkflow: bind('RunWorkflow'),
    GetRunLog: bind('GetRunLog'),
    DeleteRun: bind('DeleteRun'),
    GetRunStatus: bind('GetRunStatus'),
    ListTasks: bind('ListTasks'),
    GetTask: bind('GetTask'),
    CancelRun: bind('CancelRun'),
    GetRunStdout: bind('GetRunStdout'),
    GetRunStderr: bind('GetRunStderr'),
    ListRunOutputs: bind('ListRunOutputs'),
    GetRunOutput: bind('GetRunOutput'),
    GetRunOutputsZip: bind('GetRunOutputsZip'),
    GetEngineStatus: bind('GetEngineStatus'),
    GetRoot: bind('GetRoot'),
  } satisfies WesHandlers;
}
