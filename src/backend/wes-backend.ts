import { operationIds, type OperationHandlers, type OperationId } from '../../generated/operations.js';

/** A bound handler: takes the operation's input, resolves to its result. */
export type BoundHandler = (input: never) => Promise<unknown>;

/**
 * The abstract WES backend: one method per operationId of the bundled spec.
 * `resolveOperationId` is how the API layer finds the method that serves an
 * operation; `assertComplete` makes the app refuse to start when one is missing.
 */
export abstract class WESBackend {
  /** The method serving `operationId`, bound to this backend. */
  resolveOperationId<Op extends OperationId>(operationId: Op): OperationHandlers[Op];
  resolveOperationId(operationId: string): BoundHandler;
  resolveOperationId(operationId: string): BoundHandler {
    const method: unknown = (this as unknown as Record<string, unknown>)[operationId];
    if (typeof method !== 'function') {
      throw new Error(`No backend method serves operation '${operationId}'.`);
    }
    return (method as BoundHandler).bind(this);
  }

  /** Throws unless every operation in `ids` (default: the whole spec) has a method. */
  assertComplete(ids: readonly string[] = operationIds): void {
    const missing = ids.filter((id) => typeof (this as unknown as Record<string, unknown>)[id] !== 'function');
    if (missing.length > 0) throw new Error(`The backend serves no method for: ${missing.join(', ')}.`);
  }
}
