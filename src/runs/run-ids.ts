/**
 * Run ids (`run-` and 32 hex digits, see isRunId) packed as their 16 bytes,
 * and found by an open-addressing hash table of slots: 16 bytes a run in one
 * typed array, and 4 to 8 in the table, rather than a string and a Map
 * entry each.
 */

const ID_BYTES = 16;
const PREFIX = 'run-';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The 16 bytes of `runId` into `into` at `at`; false (and `into` partly written) if it is not a run id. */
export function packRunId(runId: string, into: Uint8Array, at: number): boolean {
  if (runId.length !== PREFIX.length + 2 * ID_BYTES || !runId.startsWith(PREFIX)) return false;
  for (let i = 0; i < ID_BYTES; i++) {
    const hi = hexValue(runId.charCodeAt(PREFIX.length + 2 * i));
    const lo = hexValue(runId.charCodeAt(PREFIX.length + 2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    into[at + i] = (hi << 4) | lo;
  }
  return true;
}

/** A hash of the 16 bytes at `at`: the four words mixed, so ids alike but in their last digits spread. */
function hashAt(bytes: Uint8Array, at: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ID_BYTES; i++) h = Math.imul(h ^ bytes[at + i]!, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The ids of the slots of a RunColumns, and which slot an id is in. Slots
 * are given by the caller (each id at most once in the table at a time).
 */
export class RunIds {
  /** The ids' bytes, 16 per slot. */
  bytes = new Uint8Array(0);
  /** Open addressing, linear probing: slot + 1, 0 when empty. */
  private table = new Int32Array(16);
  private used = 0;
  private readonly probe = new Uint8Array(ID_BYTES);

  get size(): number {
    return this.used;
  }

  /** Makes room for `slots` slots' bytes. */
  reserve(slots: number): void {
    if (this.bytes.length >= slots * ID_BYTES) return;
    const next = new Uint8Array(Math.max(slots, 1024, (2 * this.bytes.length) / ID_BYTES) * ID_BYTES);
    next.set(this.bytes);
    this.bytes = next;
  }

  /** The id in `slot` (whether or not it is in the table). */
  idOf(slot: number): string {
    const at = slot * ID_BYTES;
    return PREFIX + Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, ID_BYTES).toString('hex');
  }

  /** Writes `runId` into `slot` and enters it in the table; false if it is not a run id. */
  set(runId: string, slot: number): boolean {
    this.reserve(slot + 1);
    if (!packRunId(runId, this.bytes, slot * ID_BYTES)) return false;
    this.enter(slot);
    return true;
  }

  /** Makes the table big enough for `count` ids without growing on the way (a snapshot's). */
  reserveTable(count: number): void {
    let size = this.table.length;
    while ((count + 1) * 2 > size) size *= 2;
    if (size > this.table.length) this.rehash(size);
  }

  /** Enters the id already written in `slot` (a snapshot's). */
  enter(slot: number): void {
    if ((this.used + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const mask = this.table.length - 1;
    let i = hashAt(this.bytes, slot * ID_BYTES) & mask;
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = slot + 1;
    this.used++;
  }

  /** The table position holding `runId`, or -1. */
  private find(runId: string): number {
    if (this.used === 0 || !packRunId(runId, this.probe, 0)) return -1;
    const mask = this.table.length - 1;
    for (let i = hashAt(this.probe, 0) & mask; ; i = (i + 1) & mask) {
      const entry = this.table[i]!;
      if (entry === 0) return -1;
      if (this.sameAt(entry - 1)) return i;
    }
  }

  private sameAt(slot: number): boolean {
    const at = slot * ID_BYTES;
    for (let k = 0; k < ID_BYTES; k++) if (this.bytes[at + k] !== this.probe[k]) return false;
    return true;
  }

  /** The slot `runId` is in, if it is in the table. */
  get(runId: string): number | undefined {
    const i = this.find(runId);
    return i === -1 ? undefined : this.table[i]! - 1;
  }

  has(runId: string): boolean {
    return this.find(runId) !== -1;
  }

  /** Takes `runId` out of the table (its bytes stay in its slot). */
  delete(runId: string): void {
    let i = this.find(runId);
    if (i === -1) return;
    // Backward-shift deletion: later entries of the same run of the table move up, so no probe stops short.
    const mask = this.table.length - 1;
    for (let j = (i + 1) & mask; this.table[j] !== 0; j = (j + 1) & mask) {
      const home = hashAt(this.bytes, (this.table[j]! - 1) * ID_BYTES) & mask;
      // Entry j may move to i if its home is not in (i, j] (cyclically).
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        this.table[i] = this.table[j]!;
        i = j;
      }
    }
    this.table[i] = 0;
    this.used--;
  }

  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size);
    this.used = 0;
    for (const entry of old) if (entry !== 0) this.enter(entry - 1);
  }

  clear(): void {
    this.bytes = new Uint8Array(0);
    this.table = new Int32Array(16);
    this.used = 0;
  }
}
