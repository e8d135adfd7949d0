import type { RunState } from './api.js';
import { h } from './dom.js';

/** Every state the API names, with how the page colours it (a new state in the spec is a type error here). */
const KIND: Record<RunState, 'idle' | 'active' | 'ok' | 'bad' | 'off'> = {
  UNKNOWN: 'idle',
  QUEUED: 'idle',
  INITIALIZING: 'active',
  RUNNING: 'active',
  PAUSED: 'idle',
  CANCELING: 'active',
  COMPLETE: 'ok',
  EXECUTOR_ERROR: 'bad',
  SYSTEM_ERROR: 'bad',
  PREEMPTED: 'bad',
  CANCELED: 'off',
};

export const STATES = Object.keys(KIND) as RunState[];

/** States a run is still on its way in. */
export const ACTIVE_STATES: RunState[] = ['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING'];

/** A run's state as a coloured badge. */
export function stateBadge(state: RunState | undefined): HTMLElement {
  const st = state ?? 'UNKNOWN';
  return h('span', { class: `state state-${KIND[st] ?? 'idle'}`, 'data-state': st }, st);
}
