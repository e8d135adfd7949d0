import fs from 'node:fs/promises';
import path from 'node:path';
import { LineTail } from '../util/line-tail.js';
import type { FinalSummary, IndexEntry, IndexFacts } from './index-entry.js';
import { RunLists, type RunFilter } from './run-lists.js';
import { removeSorted } from './seq-list.js';
import { isRunId, type StateStore } from './state-store.js';
import { isTerminal, type State } from './state-machine.js';
import { RunKeys } from './workflow.js';

export type { FinalSummary, IndexEntry, IndexFacts } from './index-entry.js';
export type { RunFilter } from './run-lists.js';

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

/**
 * The order runs were submitted in, so that listing a page costs the page,
 * not the number of runs. An append-only file of one JSON line per run, kept
 * in memory and followed for lines other processes append; a second line,
 * `{"final": run_id, state, start_time, end_time}`, is appended when a run
 * ends, so that listing and counting finished runs need no read of the store,
 * even right after a start; a third, `{"deleted": run_id}`, when a run is
 * deleted (the run leaves the index; its number is never given again, so
 * page tokens stay good). The state store stays the truth: on open, runs
 * the store has but the index lacks (a crash between the two writes) are
 * added, and a run without its final line is read from the store.
 */
export class RunIndex {
  private readonly entries: IndexEntry[] = [];
  private readonly byId = new Map<string, IndexEntry>();
  private readonly open = new Set<IndexEntry>();
  private readonly finalCounts = new Map<State, number>();
  /** The highest number given so far, deleted runs' included: numbers only count up. */
  private lastSeq = 0;
  /** Each owner's runs, ended runs by state, runs by tag: what a filtered page is walked along. */
  private readonly lists = new RunLists();
  private readonly tail: LineTail;
  private readonly endListeners: ((entry: IndexEntry) => void)[] = [];
  /** While a file that was replaced is read again from its start: its runs did not end just now. */
  private rereading = false;

  private constructor(private readonly file: string) {
    this.tail = new LineTail(file);
  }

  /** Opens (or rebuilds) the index of `store`, kept in `file`. */
  static async open(
    file: string,
    store: StateStore,
    readFacts: (runId: string) => Promise<IndexFacts> = async () => ({ tags: {} }),
  ): Promise<RunIndex> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const index = new RunIndex(file);
    await index.refresh();
    const missing = (await store.listRunIds()).filter((id) => !index.byId.has(id));
    if (missing.length > 0) {
      const withTimes = await Promise.all(
        missing.map(async (id) => ({ id, at: (await store.get(id, RunKeys.submittedAt)) ?? '', exists: await store.has(id) })),
      );
      withTimes.sort((a, b) => a.at.localeCompare(b.at));
      for (const m of withTimes) {
        if (!m.exists) continue;
        const facts = await readFacts(m.id).catch((): IndexFacts => ({ tags: {} }));
        await index.add(m.id, facts.tags, facts.owner);
      }
    }
    return index;
  }

  /** Reads lines appended by anyone since the last look. */
  async refresh(): Promise<void> {
    const { lines, reset } = await this.tail.read();
    this.rereading = reset;
    if (reset) {
      this.entries.length = 0;
      this.byId.clear();
      this.open.clear();
      this.finalCounts.clear();
      this.lastSeq = 0;
      this.lists.clear();
    }
    try {
      for (const line of lines) this.ingest(line);
    } finally {
      this.rereading = false;
    }
  }

  /**
   * Calls `listener` with each run seen to end from now on: its final line
   * read (a supervisor's), or its end recorded by this process.
   */
  onEnded(listener: (entry: IndexEntry) => void): void {
    this.endListeners.push(listener);
  }

  private ingest(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return; // a damaged line loses one entry of the index, never the run
    }
    if (typeof value !== 'object' || value === null) return;
    if ('final' in value) return this.ingestFinal(value as Record<string, unknown>);
    if ('deleted' in value) {
      const { deleted } = value as { deleted: unknown };
      if (typeof deleted === 'string') this.forget(deleted);
      return;
    }
    const { seq: written, run_id: runId, tags, owner } = value as { seq?: unknown; run_id?: unknown; tags?: unknown; owner?: unknown };
    if (typeof written !== 'number' || typeof runId !== 'string' || !isRunId(runId) || this.byId.has(runId)) return;
    // The order is the file's: a line's number is the one it was written with when that
    // still counts up, else the next one, so every reader of the file numbers it alike.
    const next = this.lastSeq + 1;
    const seq = Number.isSafeInteger(written) && written > next ? written : next;
    this.lastSeq = seq;
    const entry: IndexEntry = { seq, runId, tags: isStringRecord(tags) ? tags : {}, ...(typeof owner === 'string' ? { owner } : {}) };
    this.entries.push(entry);
    this.lists.added(entry);
    this.open.add(entry);
    this.byId.set(runId, entry);
  }

  private ingestFinal(value: Record<string, unknown>): void {
    const entry = typeof value.final === 'string' ? this.byId.get(value.final) : undefined;
    if (!entry || entry.final || typeof value.state !== 'string' || !isTerminal(value.state as State)) return;
    const time = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const start = time(value.start_time);
    const end = time(value.end_time);
    this.finish(entry, { state: value.state as State, ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) });
  }

  /**
   * Records that a run has ended, seen by this process: kept in memory at
   * once, and appended to the file unless a final line for it is there already.
   */
  async recordFinal(runId: string, final: FinalSummary): Promise<void> {
    const entry = this.byId.get(runId);
    if (!entry || entry.final || !isTerminal(final.state)) return;
    this.finish(entry, final);
    await appendFinal(this.file, runId, final);
  }

  private finish(entry: IndexEntry, final: FinalSummary): void {
    entry.final = final;
    this.open.delete(entry);
    this.finalCounts.set(final.state, (this.finalCounts.get(final.state) ?? 0) + 1);
    this.lists.ended(entry);
    if (!this.rereading) for (const listener of this.endListeners) listener(entry);
  }

  /**
   * Records that a run is deleted: it leaves this index at once, and its
   * tombstone is appended to the file and flushed (see appendDeleted).
   */
  async recordDeleted(runId: string): Promise<void> {
    this.forget(runId);
    await appendDeleted(this.file, runId);
  }

  /**
   * Drops a run from the index in memory only (a tombstone read, or a
   * deletion of this process that is durably marked: see RunDeletions).
   */
  forget(runId: string): void {
    const entry = this.byId.get(runId);
    if (!entry) return;
    this.byId.delete(runId);
    this.open.delete(entry);
    removeSorted(this.entries, entry);
    this.lists.removed(entry);
    if (entry.final) {
      const left = (this.finalCounts.get(entry.final.state) ?? 1) - 1;
      if (left > 0) this.finalCounts.set(entry.final.state, left);
      else this.finalCounts.delete(entry.final.state);
    }
  }

  /** How many runs have ended in each state, as far as the index knows (kept up to date, never counted). */
  endedCounts(): ReadonlyMap<State, number> {
    return this.finalCounts;
  }

  /** Entries not known to have ended: those whose state must be read from the store. */
  unfinished(): IndexEntry[] {
    return [...this.open];
  }

  get(runId: string): IndexEntry | undefined {
    return this.byId.get(runId);
  }

  /**
   * Appends a run. Adds made while another is being written are written
   * together by the next flush (one append for all of them, no lock), so
   * concurrent submissions do not queue one by one. O_APPEND keeps each
   * batch whole whoever else appends, and numbers follow the file's order
   * (see ingest), so they stay unique even with several writers.
   */
  add(runId: string, tags: Record<string, string>, owner?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ runId, tags, owner, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private readonly pending: { runId: string; tags: Record<string, string>; owner: string | undefined; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing = false;

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        let seq = this.lastSeq;
        const seen = new Set<string>();
        const lines: string[] = [];
        for (const { runId, tags, owner } of batch) {
          if (this.byId.has(runId) || seen.has(runId)) continue;
          seen.add(runId);
          lines.push(JSON.stringify({ seq: ++seq, run_id: runId, tags, ...(owner === undefined ? {} : { owner }) }) + '\n');
        }
        if (lines.length > 0) {
          // A crash mid-append leaves a torn last line: end it, so these records start lines of their own.
          await fs.appendFile(this.file, (this.tail.partial ? '\n' : '') + lines.join(''));
          // Read back with whatever else was appended meanwhile, in the file's order.
          await this.refresh();
        }
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Every entry, oldest first. */
  all(): readonly IndexEntry[] {
    return this.entries;
  }

  has(runId: string): boolean {
    return this.byId.has(runId);
  }

  /**
   * Up to `limit` entries that may match `filter`, in its order, strictly
   * after the sequence number `after` (below it newest first, above it
   * oldest first; from the start when absent): ended runs whose summary
   * matches, and, under a state filter, runs not known to have ended, whose
   * state the caller must read. Runs added meanwhile never shift what comes
   * after a cursor.
   *
   * The walk goes along the shortest of the lists the filter names (see
   * RunLists), so it costs the entries it passes, never the number of runs.
   */
  select(filter: RunFilter, limit: number, after?: number): IndexEntry[] {
    return this.lists.select(this.entries, this.open, filter, limit, after);
  }
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** A run's final summary read from the store; null while the run has not ended. */
export async function readFinalSummary(store: StateStore, runId: string): Promise<FinalSummary | null> {
  const [state, start, end] = await Promise.all([store.get(runId, 'state'), store.get(runId, RunKeys.startTime), store.get(runId, RunKeys.endTime)]);
  const s = (state?.trim() ?? '') as State;
  if (!isTerminal(s)) return null;
  return { state: s, ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) };
}
