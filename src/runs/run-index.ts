import fs from 'node:fs/promises';
import path from 'node:path';
import { LineTail } from '../util/line-tail.js';
import { addMissingRuns } from './index-missing.js';
import type { FinalSummary, IndexEntry, IndexFacts } from './index-entry.js';
import { appendDeleted, appendFinal, isStringRecord } from './index-file.js';
import { readSnapshot, removeStaleSnapshotTemps, SNAPSHOT_AFTER_LINES, SNAPSHOT_DELAY_MS, writeSnapshot, type RunIndexOptions, type Snapshot } from './index-snapshot.js';
import { OPEN, RunColumns, T_NONE, T_STRING } from './run-columns.js';
import { RunLists, type RunFilter } from './run-lists.js';
import { isRunId, type StateStore } from './state-store.js';
import { isTerminal, type State } from './state-machine.js';

export type { FinalSummary, IndexEntry, IndexFacts } from './index-entry.js';
export type { RunFilter } from './run-lists.js';
export { appendDeleted, appendFinal, readFinalSummary, runIndexFile } from './index-file.js';
export { SNAPSHOT_AFTER_LINES, SNAPSHOT_DELAY_MS, type RunIndexOptions } from './index-snapshot.js';

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
 *
 * In memory, runs are held in columns (see RunColumns) rather than as an
 * object each, so memory per stored run stays small; the entries handed out
 * are made on demand, and are copies.
 */
export class RunIndex {
  private cols = new RunColumns();
  private readonly finalCounts = new Map<State, number>();
  /** The highest number given so far, deleted runs' included: numbers only count up. */
  private lastSeq = 0;
  /** Every run, the open ones, each owner's runs, ended runs by state, runs by tag: what a page is walked along. */
  private readonly lists: RunLists;
  private readonly tail: LineTail;
  private readonly endListeners: ((entry: IndexEntry) => void)[] = [];
  /** While a file that was replaced is read again from its start: its runs did not end just now. */
  private rereading = false;
  /** Where in the file (and which file) what is in memory was read up to: what a snapshot covers. */
  private coveredOffset = 0;
  private coveredIno: number | null = null;
  /** Lines read since the last snapshot (or since the file was read whole). */
  private linesSinceSnapshot = 0;
  private snapshotting: Promise<void> | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  /** After a snapshot failed: the lines past the last one that make the next try. */
  private retryAfterLines = 0;
  /** Whether this index was read from a snapshot (and the lines after it) rather than the whole file. */
  fromSnapshot = false;

  private constructor(
    private readonly file: string,
    private readonly options: RunIndexOptions = {},
  ) {
    this.tail = new LineTail(file);
    this.lists = new RunLists({
      owner: (slot) => this.cols.owner[slot]!,
      tags: (slot) => this.cols.tagSets[this.cols.tags[slot]!]!,
      finalState: (slot) => this.cols.finalState(slot),
    });
  }

  /** Opens (or rebuilds) the index of `store`, kept in `file`. */
  static async open(
    file: string,
    store: StateStore,
    readFacts: (runId: string) => Promise<IndexFacts> = async () => ({ tags: {} }),
    options: RunIndexOptions = {},
  ): Promise<RunIndex> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const index = new RunIndex(file, options);
    if (options.snapshotAfterLines !== 0) {
      await removeStaleSnapshotTemps(file);
      const snapshot = await readSnapshot(file);
      if (snapshot) index.restore(snapshot);
    }
    await index.refresh();
    await addMissingRuns(index, store, readFacts);
    return index;
  }

  /** Takes the runs of a snapshot as what the file says up to its offset (the index is empty). */
  private restore(snapshot: Snapshot): void {
    const cols = snapshot.cols;
    this.cols = cols;
    for (let slot = 0; slot < cols.count; slot++) {
      const state = cols.finalState(slot);
      this.lists.added(slot, state === undefined);
      if (state === undefined) continue;
      this.finalCounts.set(state, (this.finalCounts.get(state) ?? 0) + 1);
      this.lists.ended(slot);
    }
    this.lastSeq = snapshot.lastSeq;
    this.tail.resumeAt(snapshot.offset, snapshot.ino);
    this.coveredOffset = snapshot.offset;
    this.coveredIno = snapshot.ino;
    this.fromSnapshot = true;
  }

  /**
   * Reads lines appended by anyone since the last look. One read at a time
   * (a call while one is under way reads after it), so lines are taken in
   * the file's order exactly once.
   */
  refresh(): Promise<void> {
    const next = this.reading.then(
      () => this.readMore(),
      () => this.readMore(),
    );
    this.reading = next;
    return next;
  }

  private reading: Promise<void> = Promise.resolve();

  private async readMore(): Promise<void> {
    const { lines, reset, end } = await this.tail.read();
    this.rereading = reset;
    if (reset) {
      this.cols = new RunColumns();
      this.finalCounts.clear();
      this.lastSeq = 0;
      this.lists.clear();
      this.linesSinceSnapshot = 0;
    }
    try {
      for (const line of lines) this.ingest(line);
    } finally {
      this.rereading = false;
      this.coveredOffset = end;
      this.coveredIno = this.tail.ino;
      this.linesSinceSnapshot += lines.length;
    }
    const after = this.options.snapshotAfterLines ?? SNAPSHOT_AFTER_LINES;
    if (after > 0 && this.linesSinceSnapshot >= Math.max(after, this.retryAfterLines) && !this.snapshotting && !this.snapshotTimer) {
      // A little later, so that a start that read many lines is not made longer by writing them.
      this.snapshotTimer = setTimeout(() => {
        this.snapshotTimer = null;
        this.snapshot().catch((err: unknown) => {
          // Tried again only after as many lines more, not at every read.
          this.retryAfterLines = this.linesSinceSnapshot + after;
          this.options.onSnapshotError?.(err);
        });
      }, this.options.snapshotDelayMs ?? SNAPSHOT_DELAY_MS);
      this.snapshotTimer.unref();
    }
  }

  /**
   * Writes a snapshot of the index as read so far (see index-snapshot.ts),
   * so that the next start reads it rather than every line of the file; one
   * at a time (a call while one is written waits for it).
   */
  snapshot(): Promise<void> {
    if (this.snapshotting) return this.snapshotting;
    if (this.coveredIno === null) return Promise.resolve();
    const covered = this.linesSinceSnapshot;
    const write = writeSnapshot(this.file, this.cols, this.lists.all.sorted(), { offset: this.coveredOffset, ino: this.coveredIno, lastSeq: this.lastSeq });
    this.snapshotting = write
      .then(() => {
        this.linesSinceSnapshot = Math.max(0, this.linesSinceSnapshot - covered);
        this.retryAfterLines = 0;
      })
      .finally(() => {
        this.snapshotting = null;
      });
    return this.snapshotting;
  }

  /** At a clean shutdown: a last snapshot, if lines were read since the last one. */
  async close(): Promise<void> {
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = null;
    await this.snapshotting?.catch(() => undefined);
    if (this.options.snapshotAfterLines === 0) return;
    await this.refresh();
    await this.snapshotting?.catch(() => undefined);
    if (this.linesSinceSnapshot > 0) await this.snapshot();
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
    if (typeof written !== 'number' || typeof runId !== 'string' || !isRunId(runId) || this.cols.ids.has(runId)) return;
    // The order is the file's: a line's number is the one it was written with when that
    // still counts up, else the next one, so every reader of the file numbers it alike.
    const next = this.lastSeq + 1;
    const seq = Number.isSafeInteger(written) && written > next ? written : next;
    this.lastSeq = seq;
    const slot = this.cols.push(seq, runId, isStringRecord(tags) ? tags : {}, typeof owner === 'string' ? owner : undefined);
    this.lists.added(slot);
  }

  private ingestFinal(value: Record<string, unknown>): void {
    const slot = typeof value.final === 'string' ? this.cols.ids.get(value.final) : undefined;
    if (slot === undefined || this.cols.state[slot] !== OPEN || typeof value.state !== 'string' || !isTerminal(value.state as State)) return;
    const time = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const start = time(value.start_time);
    const end = time(value.end_time);
    this.finish(slot, { state: value.state as State, ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) });
  }

  /**
   * Records that a run has ended, seen by this process: kept in memory at
   * once, and appended to the file unless a final line for it is there already.
   */
  async recordFinal(runId: string, final: FinalSummary): Promise<void> {
    const slot = this.cols.ids.get(runId);
    if (slot === undefined || this.cols.state[slot] !== OPEN || !isTerminal(final.state)) return;
    this.finish(slot, final);
    await appendFinal(this.file, runId, final);
  }

  private finish(slot: number, final: FinalSummary): void {
    this.cols.setFinal(slot, final);
    this.finalCounts.set(final.state, (this.finalCounts.get(final.state) ?? 0) + 1);
    this.lists.ended(slot);
    if (!this.rereading && this.endListeners.length > 0) {
      const entry = this.cols.entry(slot);
      for (const listener of this.endListeners) listener(entry);
    }
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
    const slot = this.cols.ids.get(runId);
    if (slot === undefined) return;
    this.cols.ids.delete(runId);
    this.lists.removed(slot);
    const state = this.cols.finalState(slot);
    if (state !== undefined) {
      const left = (this.finalCounts.get(state) ?? 1) - 1;
      if (left > 0) this.finalCounts.set(state, left);
      else this.finalCounts.delete(state);
    }
    this.cols.drop(slot);
  }

  /** How many runs have ended in each state, as far as the index knows (kept up to date, never counted). */
  endedCounts(): ReadonlyMap<State, number> {
    return this.finalCounts;
  }

  /** Entries not known to have ended: those whose state must be read from the store. */
  unfinished(): IndexEntry[] {
    return Array.from(this.lists.open, (slot) => this.cols.entry(slot));
  }

  get(runId: string): IndexEntry | undefined {
    const slot = this.cols.ids.get(runId);
    return slot === undefined ? undefined : this.cols.entry(slot);
  }

  /**
   * Whether the index holds the run, and whose it is: null when it does not,
   * else its owner ('' for a run of nobody in particular). What a lookup of
   * a run on every request needs, with no entry built (no times decoded).
   */
  ownerOf(runId: string): string | null {
    const slot = this.cols.ids.get(runId);
    return slot === undefined ? null : this.cols.ownerOf(slot);
  }

  /** The state the run ended in, when the index has seen it end. */
  finalStateOf(runId: string): State | undefined {
    const slot = this.cols.ids.get(runId);
    return slot === undefined ? undefined : this.cols.finalState(slot);
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
          if (this.cols.ids.has(runId) || seen.has(runId)) continue;
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
    return this.cols.ids.size;
  }

  /** Every entry, oldest first (made for the call: costs the number of runs). */
  all(): IndexEntry[] {
    return Array.from(this.lists.all.sorted(), (slot) => this.cols.entry(slot));
  }

  /**
   * Up to `max` ended runs whose end time is before `cutoff` (epoch ms),
   * oldest first, with their end time as stored: a walk of the columns,
   * no entry made for the runs passed.
   */
  endedBefore(cutoff: number, max: number): { runId: string; end: string }[] {
    const cols = this.cols;
    const out: { runId: string; end: string }[] = [];
    for (const slot of this.lists.all.sorted()) {
      if (out.length >= max) break;
      const form = cols.endForm[slot]!;
      if (form === T_NONE || cols.state[slot] === OPEN) continue;
      const ms = form === T_STRING ? Date.parse(cols.endStrings.get(slot) ?? '') : cols.endMs[slot]!;
      if (ms < cutoff) out.push({ runId: cols.ids.idOf(slot), end: cols.endTime(slot)! });
    }
    return out;
  }

  has(runId: string): boolean {
    return this.cols.ids.has(runId);
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
    const ascending = filter.ascending === true;
    const from = after === undefined ? (ascending ? 0 : this.cols.count) : ascending ? this.cols.slotsBelow(after + 1) : this.cols.slotsBelow(after);
    const owner = filter.owner === undefined ? 0 : this.cols.ownerNumber(filter.owner);
    return this.lists.select(filter, owner, limit, from).map((slot) => this.cols.entry(slot));
  }
}
