import fs from 'node:fs/promises';
import path from 'node:path';
import { LineTail } from '../util/line-tail.js';
import type { FinalSummary, IndexEntry, IndexFacts } from './index-entry.js';
import { RunLists, type RunFilter } from './run-lists.js';
import { isRunId, type StateStore } from './state-store.js';
import { isTerminal, TERMINAL_STATES, type State } from './state-machine.js';
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

/** A run's state in the columns: not known to have ended, one of the terminal states (1 + its place), or deleted. */
const OPEN = 0;
const DELETED = 255;
const FINAL_STATES: readonly State[] = [...TERMINAL_STATES];

/** How a time is kept: none; epoch ms written back as wesTime (seconds, `Z`); as toISOString; else the string itself. */
const T_NONE = 0;
const T_SECONDS = 1;
const T_ISO = 2;
const T_STRING = 3;

/**
 * A time string as epoch ms and the form that gives back exactly the same
 * string; a string no form gives back is kept as it is (T_STRING).
 */
function encodeTime(s: string | undefined): { form: number; ms: number } {
  if (s === undefined) return { form: T_NONE, ms: NaN };
  const ms = Date.parse(s);
  if (Number.isFinite(ms)) {
    const iso = new Date(ms).toISOString();
    if (iso === s) return { form: T_ISO, ms };
    if (iso.endsWith('.000Z') && iso.slice(0, -5) + 'Z' === s) return { form: T_SECONDS, ms };
  }
  return { form: T_STRING, ms: NaN };
}

function decodeTime(form: number, ms: number, kept: string | undefined): string | undefined {
  if (form === T_SECONDS) return new Date(ms).toISOString().slice(0, -5) + 'Z';
  if (form === T_ISO) return new Date(ms).toISOString();
  if (form === T_STRING) return kept;
  return undefined;
}

/**
 * The runs of the index in columns, one place ("slot") per run in the order
 * they were read, which is the submission order: sequence numbers, states
 * and times in typed arrays, owners and tag sets as numbers into tables of
 * the distinct ones, run ids as strings. A run costs a few dozen bytes
 * rather than an object graph; entries are made for the few runs a caller
 * asks for. Slots of deleted runs stay (their seq keeps the order searchable)
 * with their id dropped.
 */
class RunColumns {
  count = 0;
  seq = new Float64Array(0);
  state = new Uint8Array(0);
  owner = new Int32Array(0);
  tags = new Int32Array(0);
  startForm = new Uint8Array(0);
  endForm = new Uint8Array(0);
  startMs = new Float64Array(0);
  endMs = new Float64Array(0);
  ids: string[] = [];
  /** Times no form gives back, by slot. */
  readonly startStrings = new Map<number, string>();
  readonly endStrings = new Map<number, string>();
  /** Owners by number (0: none) and numbers by owner. */
  readonly owners: string[] = [''];
  readonly ownerNumbers = new Map<string, number>();
  /** Distinct tag sets by number (0: no tags), and numbers by the set's JSON. */
  readonly tagSets: Readonly<Record<string, string>>[] = [Object.freeze({})];
  readonly tagSetNumbers = new Map<string, number>([['{}', 0]]);

  /** A new slot for a run, after every other. */
  push(seq: number, runId: string, tags: Record<string, string>, owner: string | undefined): number {
    if (this.count === this.seq.length) this.grow();
    const slot = this.count++;
    this.seq[slot] = seq;
    this.state[slot] = OPEN;
    this.owner[slot] = owner === undefined ? 0 : this.ownerNumber(owner, true);
    this.tags[slot] = this.tagSetNumber(tags);
    this.startForm[slot] = T_NONE;
    this.endForm[slot] = T_NONE;
    this.ids.push(runId);
    return slot;
  }

  /** The owner's number: -1 for one never seen, unless `add`. */
  ownerNumber(owner: string, add = false): number {
    let n = this.ownerNumbers.get(owner);
    if (n === undefined) {
      if (!add) return -1;
      n = this.owners.push(owner) - 1;
      this.ownerNumbers.set(owner, n);
    }
    return n;
  }

  private tagSetNumber(tags: Record<string, string>): number {
    const key = JSON.stringify(tags);
    let n = this.tagSetNumbers.get(key);
    if (n === undefined) {
      n = this.tagSets.push(Object.freeze({ ...tags })) - 1;
      this.tagSetNumbers.set(key, n);
    }
    return n;
  }

  private grow(): void {
    const size = Math.max(1024, this.seq.length * 2);
    const grown = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.seq = grown(this.seq, (n) => new Float64Array(n));
    this.state = grown(this.state, (n) => new Uint8Array(n));
    this.owner = grown(this.owner, (n) => new Int32Array(n));
    this.tags = grown(this.tags, (n) => new Int32Array(n));
    this.startForm = grown(this.startForm, (n) => new Uint8Array(n));
    this.endForm = grown(this.endForm, (n) => new Uint8Array(n));
    this.startMs = grown(this.startMs, (n) => new Float64Array(n));
    this.endMs = grown(this.endMs, (n) => new Float64Array(n));
  }

  setFinal(slot: number, final: FinalSummary): void {
    this.state[slot] = 1 + FINAL_STATES.indexOf(final.state);
    const start = encodeTime(final.start_time);
    const end = encodeTime(final.end_time);
    this.startForm[slot] = start.form;
    this.startMs[slot] = start.ms;
    this.endForm[slot] = end.form;
    this.endMs[slot] = end.ms;
    if (start.form === T_STRING) this.startStrings.set(slot, final.start_time!);
    if (end.form === T_STRING) this.endStrings.set(slot, final.end_time!);
  }

  finalState(slot: number): State | undefined {
    const code = this.state[slot]!;
    return code === OPEN || code === DELETED ? undefined : FINAL_STATES[code - 1];
  }

  endTime(slot: number): string | undefined {
    return decodeTime(this.endForm[slot]!, this.endMs[slot]!, this.endStrings.get(slot));
  }

  final(slot: number): FinalSummary | undefined {
    const state = this.finalState(slot);
    if (state === undefined) return undefined;
    const start = decodeTime(this.startForm[slot]!, this.startMs[slot]!, this.startStrings.get(slot));
    const end = this.endTime(slot);
    return { state, ...(start === undefined ? {} : { start_time: start }), ...(end === undefined ? {} : { end_time: end }) };
  }

  entry(slot: number): IndexEntry {
    const owner = this.owner[slot]!;
    const final = this.final(slot);
    return {
      seq: this.seq[slot]!,
      runId: this.ids[slot]!,
      tags: this.tagSets[this.tags[slot]!]!,
      ...(owner === 0 ? {} : { owner: this.owners[owner]! }),
      ...(final ? { final } : {}),
    };
  }

  /** Marks a slot deleted, dropping what it holds but its seq. */
  drop(slot: number): void {
    this.state[slot] = DELETED;
    this.ids[slot] = '';
    this.startStrings.delete(slot);
    this.endStrings.delete(slot);
  }

  /** The number of slots whose seq is below `seq` (slots count up in seq). */
  slotsBelow(seq: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seq[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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
 *
 * In memory, runs are held in columns (see RunColumns) rather than as an
 * object each, so memory per stored run stays small; the entries handed out
 * are made on demand, and are copies.
 */
export class RunIndex {
  private cols = new RunColumns();
  private readonly byId = new Map<string, number>();
  private readonly finalCounts = new Map<State, number>();
  /** The highest number given so far, deleted runs' included: numbers only count up. */
  private lastSeq = 0;
  /** Every run, the open ones, each owner's runs, ended runs by state, runs by tag: what a page is walked along. */
  private readonly lists: RunLists;
  private readonly tail: LineTail;
  private readonly endListeners: ((entry: IndexEntry) => void)[] = [];
  /** While a file that was replaced is read again from its start: its runs did not end just now. */
  private rereading = false;

  private constructor(private readonly file: string) {
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
      this.cols = new RunColumns();
      this.byId.clear();
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
    const slot = this.cols.push(seq, runId, isStringRecord(tags) ? tags : {}, typeof owner === 'string' ? owner : undefined);
    this.byId.set(runId, slot);
    this.lists.added(slot);
  }

  private ingestFinal(value: Record<string, unknown>): void {
    const slot = typeof value.final === 'string' ? this.byId.get(value.final) : undefined;
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
    const slot = this.byId.get(runId);
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
    const slot = this.byId.get(runId);
    if (slot === undefined) return;
    this.byId.delete(runId);
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
    return Array.from(this.lists.open.sorted(), (slot) => this.cols.entry(slot));
  }

  get(runId: string): IndexEntry | undefined {
    const slot = this.byId.get(runId);
    return slot === undefined ? undefined : this.cols.entry(slot);
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
    return this.byId.size;
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
      if (ms < cutoff) out.push({ runId: cols.ids[slot]!, end: cols.endTime(slot)! });
    }
    return out;
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
    const ascending = filter.ascending === true;
    const from = after === undefined ? (ascending ? 0 : this.cols.count) : ascending ? this.cols.slotsBelow(after + 1) : this.cols.slotsBelow(after);
    const owner = filter.owner === undefined ? 0 : this.cols.ownerNumber(filter.owner);
    return this.lists.select(filter, owner, limit, from).map((slot) => this.cols.entry(slot));
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
