import type { State } from './state-machine.js';

/** A finished run's summary: final, so the index can answer for it without reading the store. */
export interface FinalSummary {
  state: State;
  start_time?: string;
  end_time?: string;
}

/** One run in the listing order. */
export interface IndexEntry {
  seq: number;
  runId: string;
  tags: Record<string, string>;
  /** The user the run belongs to (absent: submitted without authentication). */
  owner?: string;
  /** Set once the run is known to have ended. */
  final?: FinalSummary;
}

/** What the index keeps of a run besides its id: from the request and record when it is rebuilt. */
export interface IndexFacts {
  tags: Record<string, string>;
  owner?: string;
}
