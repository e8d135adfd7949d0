/**
 * The run index's file, `<state_store>/.index/runs.jsonl`, as other processes
 * write it (see RunIndex): a run's final line, a deleted run's tombstone,
 * and a finished run's summary as the store has it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FinalSummary } from './index-entry.js';
import { isRunId, type StateStore } from './state-store.js';
import { isTerminal, type State } from './state-machine.js';
import { RunKeys } from './workflow.js';

/** Where a state store keeps its run index. */
export function runIndexFile(stateStore: string): string {
  return path.join(stateStore, '.index', 'runs.jsonl');
}

/**
 * Appends a finished run's summary to the index in `file` (a run's
 * supervisor does this when it has recorded the outcome, so a server
 * starting later knows every finished run's state from the index alone).
 * One small O_APPEND write, without the index's lock: it cannot interleave
 * with other appends, and should it land on a line torn by a crash, only
 * this hint is lost and the run is read from the store instead.
 */
export async function appendFinal(file: string, runId: string, final: FinalSummary): Promise<void> {
  if (!isRunId(runId) || !isTerminal(final.state)) return;
  await fs.appendFile(file, JSON.stringify({ final: runId, ...final }) + '\n');
}

/**
 * Appends a deleted run's tombstone, `{"deleted": run_id}`, to the index in
 * `file`, and flushes the file to disk before returning: once a deletion goes
 * on to remove the run's files, no index (read whole by a starting server, or
 * followed by a running one) may name the run again. Ends a line torn by a
 * crash first, so the tombstone is a line of its own.
 */
export async function appendDeleted(file: string, runId: string): Promise<void> {
  if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const handle = await fs.open(file, 'a+');
  try {
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    const torn = size > 0 && (await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 0x0a;
    await handle.appendFile((torn ? '\n' : '') + JSON.stringify({ deleted: runId }) + '\n');
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** A run's final summary read from the store; null while the run has not ended. */
export async function readFinalSummary(store: StateStore, runId: string): Promise<FinalSummary | null> {
  const [state, start, end] = await Promise.all([store.get(runId, 'state'), store.get(runId, RunKeys.startTime), store.get(runId, RunKeys.endTime)]);
  const s = (state?.trim() ?? '') as State;
  if (!isTerminal(s)) return null;
  return { state: s, ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) };
}
