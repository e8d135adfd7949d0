import type { components } from '../../generated/schema.js';
import type { StateStore } from './state-store.js';

/** A WES run state, as the spec names them. */
export type State = components['schemas']['State'];

/**
 * States a run never leaves. PREEMPTED is one for Ferry: a scheduler that
 * preempts a run's job ends it, and Ferry does not restart it (resubmit).
 */
export const TERMINAL_STATES: ReadonlySet<State> = new Set<State>(['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED', 'PREEMPTED']);
export const ALL_STATES: readonly State[] = [
  'UNKNOWN', 'QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'COMPLETE',
  'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED', 'CANCELING', 'PREEMPTED',
];

/** True for states a run never leaves. */
export function isTerminal(state: State): boolean {
  return TERMINAL_STATES.has(state);
}

function asState(value: string | null): State {
  if (value === null) return 'UNKNOWN';
  const v = value.trim() as State;
  return ALL_STATES.includes(v) ? v : 'UNKNOWN';
}

/**
 * Which states each event may move a run out of. Terminal states are left by
 * nothing; CANCELING is left only towards CANCELED or SYSTEM_ERROR, so a late
 * "engine started" or "engine finished" can never undo a cancel request.
 */
const allowedFrom: Record<State, ReadonlySet<State | 'NONE'>> = {
  UNKNOWN: new Set(),
  PREEMPTED: new Set(['QUEUED', 'INITIALIZING', 'RUNNING']),
  PAUSED: new Set(),
  QUEUED: new Set(['NONE']),
  INITIALIZING: new Set(['QUEUED']),
  RUNNING: new Set(['QUEUED', 'INITIALIZING']),
  CANCELING: new Set(['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED']),
  CANCELED: new Set(['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING']),
  COMPLETE: new Set(['QUEUED', 'INITIALIZING', 'RUNNING']),
  EXECUTOR_ERROR: new Set(['QUEUED', 'INITIALIZING', 'RUNNING']),
  SYSTEM_ERROR: new Set(['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING']),
};

/**
 * The authority on a run's WES state. Every change is a compare-and-set under
 * the run's lock in the state store, so the server and the task driving the
 * engine (possibly another process) can both send events safely. Terminal
 * states, once read, are cached: a run never leaves one.
 */
export class WorkflowStateMachine {
  /** Terminal states seen so far, shared by every run of this store. */
  private static readonly terminalCache = new WeakMap<StateStore, Map<string, State>>();

  constructor(
    private readonly store: StateStore,
    readonly runId: string,
  ) {}

  /** Drops what is remembered of a run that no longer exists (deleted). */
  static forget(store: StateStore, runId: string): void {
    WorkflowStateMachine.terminalCache.get(store)?.delete(runId);
  }

  private get cache(): Map<string, State> {
    let c = WorkflowStateMachine.terminalCache.get(this.store);
    if (!c) {
      c = new Map();
      WorkflowStateMachine.terminalCache.set(this.store, c);
    }
    return c;
  }

  /** A run's final state when this process has read it, without reading the store; else undefined. */
  static knownFinal(store: StateStore, runId: string): State | undefined {
    return WorkflowStateMachine.terminalCache.get(store)?.get(runId);
  }

  /** The run's state now; UNKNOWN when the store has no record of it. */
  async getCurrentState(): Promise<State> {
    const cached = this.cache.get(this.runId);
    if (cached) return cached;
    const state = asState(await this.store.get(this.runId, 'state'));
    if (isTerminal(state)) this.cache.set(this.runId, state);
    return state;
  }

  /**
   * Moves the run to `target` if the current state allows it. Returns the
   * state the run is in afterwards (the old one when the move was refused).
   */
  async transition(target: State): Promise<State> {
    const cached = this.cache.get(this.runId);
    if (cached) return cached;
    const stored = await this.store.update(this.runId, 'state', (current) => {
      const from = current === null ? 'NONE' : asState(current);
      return allowedFrom[target].has(from) ? target : null;
    });
    const state = asState(stored);
    if (isTerminal(state)) this.cache.set(this.runId, state);
    return state;
  }

  sendEnqueue(): Promise<State> { return this.transition('QUEUED'); }
  sendInitialize(): Promise<State> { return this.transition('INITIALIZING'); }
  sendRun(): Promise<State> { return this.transition('RUNNING'); }
  sendCancel(): Promise<State> { return this.transition('CANCELING'); }
  sendCanceled(): Promise<State> { return this.transition('CANCELED'); }
  sendComplete(): Promise<State> { return this.transition('COMPLETE'); }
  sendExecutorError(): Promise<State> { return this.transition('EXECUTOR_ERROR'); }
  sendSystemError(): Promise<State> { return this.transition('SYSTEM_ERROR'); }
}
