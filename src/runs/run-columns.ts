import type { FinalSummary, IndexEntry } from './index-entry.js';
import { RunIds } from './run-ids.js';
import { TERMINAL_STATES, type State } from './state-machine.js';

/** A run's state in the columns: not known to have ended, one of the terminal states (1 + its place), or deleted. */
export const OPEN = 0;
export const DELETED = 255;
export const FINAL_STATES: readonly State[] = [...TERMINAL_STATES];

/** How a time is kept: none; epoch ms written back as wesTime (seconds, `Z`); as toISOString; else the string itself. */
export const T_NONE = 0;
export const T_SECONDS = 1;
export const T_ISO = 2;
export const T_STRING = 3;

/**
 * A time string as epoch ms and the form that gives back exactly the same
 * string; a string no form gives back is kept as it is (T_STRING).
 */
function encodeTime(s: string | undefined): { form: number; ms: number } {
  if (s === undefined) return { form: T_NONE, ms: NaN };
  const seconds = wesSeconds(s);
  if (seconds !== null) return { form: T_SECONDS, ms: seconds };
  const ms = Date.parse(s);
  if (Number.isFinite(ms)) {
    const iso = new Date(ms).toISOString();
    if (iso === s) return { form: T_ISO, ms };
    if (iso.endsWith('.000Z') && iso.slice(0, -5) + 'Z' === s) return { form: T_SECONDS, ms };
  }
  return { form: T_STRING, ms: NaN };
}

/** Digits of `s` from `at`, `n` of them, as a number; NaN if one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/**
 * The epoch ms of a time as wesTime writes it (`YYYY-MM-DDTHH:MM:SSZ`, the
 * common case, read without Date.parse and toISOString), or null if `s` is
 * not exactly that (including a date that does not exist).
 */
function wesSeconds(s: string): number | null {
  if (s.length !== 20 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[19] !== 'Z') return null;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  // Years below 1000 are left to the general path (Date.UTC reads 0–99 as 1900–1999).
  if (!(y >= 1000 && mo >= 1 && mo <= 12 && d >= 1 && h <= 23 && mi <= 59 && se <= 59)) return null;
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  // A day past the month's end rolls over into the next month: not the same time spelled back.
  return new Date(ms).getUTCDate() === d ? ms : null;
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
 * the distinct ones, run ids packed as bytes (see RunIds). A run costs a few dozen bytes
 * rather than an object graph; entries are made for the few runs a caller
 * asks for. Slots of deleted runs stay (their seq keeps the order searchable)
 * with their id dropped.
 */
export class RunColumns {
  count = 0;
  seq = new Float64Array(0);
  state = new Uint8Array(0);
  owner = new Int32Array(0);
  tags = new Int32Array(0);
  startForm = new Uint8Array(0);
  endForm = new Uint8Array(0);
  startMs = new Float64Array(0);
  endMs = new Float64Array(0);
  /** The runs' ids, and the slot of each live one. */
  ids = new RunIds();
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
    this.ids.set(runId, slot);
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

  /** The slot's owner, '' for none. */
  ownerOf(slot: number): string {
    const owner = this.owner[slot]!;
    return owner === 0 ? '' : this.owners[owner]!;
  }

  entry(slot: number): IndexEntry {
    const owner = this.owner[slot]!;
    const final = this.final(slot);
    return {
      seq: this.seq[slot]!,
      runId: this.ids.idOf(slot),
      tags: this.tagSets[this.tags[slot]!]!,
      ...(owner === 0 ? {} : { owner: this.owners[owner]! }),
      ...(final ? { final } : {}),
    };
  }

  /** Marks a slot deleted (its id already out of the table), dropping what it holds but its seq. */
  drop(slot: number): void {
    this.state[slot] = DELETED;
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


/** The typed columns of a snapshot, in the order they are laid out (8-byte ones first, so each stays aligned). */
const LAYOUT = [
  ['seq', 8],
  ['startMs', 8],
  ['endMs', 8],
  ['owner', 4],
  ['tags', 4],
  ['state', 1],
  ['startForm', 1],
  ['endForm', 1],
] as const;

/** The strings of a snapshot, as JSON after the typed columns. */
interface SnapshotStrings {
  owners: string[];
  tagSets: Record<string, string>[];
  startStrings: [number, string][];
  endStrings: [number, string][];
}

/**
 * The runs in `slots` (live ones, in order) as bytes: their columns, then
 * their strings and the tables of owners and tag sets as JSON. Slots are
 * numbered afresh, so deleted runs take no room.
 */
export function encodeColumns(cols: RunColumns, slots: ArrayLike<number>): Buffer {
  const n = slots.length;
  const typed = LAYOUT.reduce((bytes, [, size]) => bytes + size * n, 0);
  const buf = Buffer.alloc(typed);
  let at = 0;
  for (const [name, size] of LAYOUT) {
    const src = cols[name];
    const Ctor = src.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => typeof src;
    const dst = new Ctor(buf.buffer as ArrayBuffer, buf.byteOffset + at, n);
    for (let i = 0; i < n; i++) dst[i] = src[slots[i]!]!;
    at += size * n;
  }
  const idBytes = new Uint8Array(16 * n);
  const startStrings: [number, string][] = [];
  const endStrings: [number, string][] = [];
  for (let i = 0; i < n; i++) {
    const slot = slots[i]!;
    idBytes.set(cols.ids.bytes.subarray(16 * slot, 16 * slot + 16), 16 * i);
    const start = cols.startStrings.get(slot);
    if (start !== undefined) startStrings.push([i, start]);
    const end = cols.endStrings.get(slot);
    if (end !== undefined) endStrings.push([i, end]);
  }
  const strings: SnapshotStrings = { owners: cols.owners, tagSets: cols.tagSets, startStrings, endStrings };
  return Buffer.concat([buf, idBytes, Buffer.from(JSON.stringify(strings))]);
}

/** Columns of `count` runs from what encodeColumns wrote; throws on anything malformed. */
export function decodeColumns(payload: Buffer, count: number): RunColumns {
  const n = count;
  const typed = LAYOUT.reduce((bytes, [, size]) => bytes + size * n, 0);
  if (!Number.isSafeInteger(n) || n < 0 || payload.length < typed + 16 * n) throw new Error('snapshot columns cut short');
  // A copy at offset 0 of its own buffer, so every column is aligned.
  const own = new Uint8Array(typed);
  own.set(payload.subarray(0, typed));
  const cols = new RunColumns();
  let at = 0;
  for (const [name, size] of LAYOUT) {
    const Ctor = cols[name].constructor as new (buffer: ArrayBuffer, offset: number, length: number) => RunColumns[typeof name];
    (cols[name] as RunColumns[typeof name]) = new Ctor(own.buffer, at, n);
    at += size * n;
  }
  cols.ids.reserve(n);
  cols.ids.bytes.set(payload.subarray(typed, typed + 16 * n));
  cols.ids.reserveTable(n);
  for (let i = 0; i < n; i++) cols.ids.enter(i);
  const strings = JSON.parse(payload.subarray(typed + 16 * n).toString('utf8')) as SnapshotStrings;
  if (!Array.isArray(strings.owners) || !Array.isArray(strings.tagSets)) throw new Error('snapshot strings do not match its columns');
  cols.count = n;
  cols.owners.length = 0;
  cols.ownerNumbers.clear();
  for (const owner of strings.owners) cols.owners.push(String(owner));
  cols.owners.forEach((owner, i) => i > 0 && cols.ownerNumbers.set(owner, i));
  cols.tagSets.length = 0;
  cols.tagSetNumbers.clear();
  for (const tags of strings.tagSets) {
    cols.tagSetNumbers.set(JSON.stringify(tags), cols.tagSets.length);
    cols.tagSets.push(Object.freeze(tags));
  }
  for (const [slot, s] of strings.startStrings) cols.startStrings.set(slot, s);
  for (const [slot, s] of strings.endStrings) cols.endStrings.set(slot, s);
  for (let i = 0; i < n; i++) {
    if (cols.owner[i]! < 0 || cols.owner[i]! >= cols.owners.length || cols.tags[i]! < 0 || cols.tags[i]! >= cols.tagSets.length) throw new Error('snapshot refers to a missing owner or tag set');
    const state = cols.state[i]!;
    if (state === DELETED || (state !== OPEN && state > FINAL_STATES.length)) throw new Error('snapshot holds an unknown state');
    if (i > 0 && !(cols.seq[i]! > cols.seq[i - 1]!)) throw new Error('snapshot runs out of order');
  }
  return cols;
}
