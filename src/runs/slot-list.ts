/**
 * Lists of run slots (a run's place in the index's columns, see RunIndex),
 * kept in slot order, which is the submission order: four bytes a run, in
 * one typed array, rather than a reference to an object per run.
 */

/** The index of the first slot in `items[0..length)` that is at least `slot` (`length` if none is). */
function lowerBound(items: Int32Array, length: number, slot: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]! < slot) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Fewer slots than this placed late are inserted one by one; more are sorted in at once. */
const INSERT_LATE_ONE_BY_ONE = 64;

const EMPTY = new Int32Array(0);

/** Lists up to this long are a plain array (a typed array costs some 200 bytes before its first slot). */
const SMALL = 32;

/**
 * A growable list of slots in ascending order. Slots may join out of order
 * (a run ending before one submitted earlier): such latecomers wait aside and
 * are put in place when the list is next read, one by one when they are few,
 * by one sort when many arrive at once (a whole index file read at start-up).
 * Short lists (a tag value or owner with few runs) are a plain array.
 */
export class SlotList {
  /** While the list is short: its slots, in order unless `unsorted`. */
  private small: number[] | null = [];
  private unsorted = false;
  private items = EMPTY;
  private count = 0;
  private late: number[] | null = null;
  private gone: Set<number> | null = null;

  get length(): number {
    if (this.small) return this.small.length;
    return this.count + (this.late?.length ?? 0) - (this.gone?.size ?? 0);
  }

  /** Adds a slot (not already in the list). */
  push(slot: number): void {
    const small = this.small;
    if (small) {
      if (small.length > 0 && small[small.length - 1]! > slot) this.unsorted = true;
      small.push(slot);
      if (small.length > SMALL) this.toTyped();
      return;
    }
    if (!this.late && (this.count === 0 || this.items[this.count - 1]! < slot)) this.append(slot);
    else (this.late ??= []).push(slot);
  }

  private toTyped(): void {
    const small = this.sortedSmall();
    this.items = Int32Array.from(small);
    this.count = small.length;
    this.small = null;
  }

  private sortedSmall(): number[] {
    const small = this.small!;
    if (this.unsorted) small.sort((x, y) => x - y);
    this.unsorted = false;
    return small;
  }

  private append(slot: number): void {
    if (this.count === this.items.length) this.grow(this.count + 1);
    this.items[this.count++] = slot;
  }

  private grow(min: number): void {
    const next = new Int32Array(Math.max(min, this.items.length * 2));
    next.set(this.items.subarray(0, this.count));
    this.items = next;
  }

  /**
   * Removes `slot`, which must be in the list. Removals from a long list
   * wait aside too and are made in one pass when the list is next read, so
   * that removing many (a start-up reading many tombstones) costs one pass,
   * not one each.
   */
  remove(slot: number): void {
    const small = this.small;
    if (small) {
      const at = small.indexOf(slot);
      if (at !== -1) small.splice(at, 1);
      return;
    }
    (this.gone ??= new Set()).add(slot);
  }

  /** Puts the latecomers in place and takes the removed out. */
  private settle(): void {
    this.settleLate();
    const gone = this.gone;
    if (!gone) return;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const slot = this.items[i]!;
      if (!gone.has(slot)) this.items[kept++] = slot;
    }
    this.count = kept;
    this.gone = null;
    // Give memory back when a list has shrunk to a quarter of what it holds.
    if (this.items.length > 64 && this.count < this.items.length / 4) this.items = this.items.slice(0, Math.max(4, this.count * 2));
  }

  private settleLate(): void {
    const late = this.late;
    if (!late) return;
    this.late = null;
    if (late.length < INSERT_LATE_ONE_BY_ONE) {
      for (const slot of late) {
        if (this.count === this.items.length) this.grow(this.count + 1);
        const at = lowerBound(this.items, this.count, slot);
        this.items.copyWithin(at + 1, at, this.count);
        this.items[at] = slot;
        this.count++;
      }
    } else {
      if (this.count + late.length > this.items.length) this.grow(this.count + late.length);
      this.items.set(late, this.count);
      this.count += late.length;
      this.items.subarray(0, this.count).sort();
    }
  }

  /** The slots, in order (valid until the list next changes). */
  sorted(): ArrayLike<number> & Iterable<number> {
    if (this.small) return this.sortedSmall();
    this.settle();
    return this.items.subarray(0, this.count);
  }

  clear(): void {
    this.small = [];
    this.unsorted = false;
    this.items = EMPTY;
    this.count = 0;
    this.late = null;
    this.gone = null;
  }
}

/**
 * Visits the slots of ascending slot lists (no slot in two of them) merged
 * into one order, ascending or descending, starting at the slot boundary
 * `from`: ascending, the slots at or above it; descending, those below it.
 * Stops when `visit` returns false or the lists run out.
 */
export function walkSlots(lists: readonly ArrayLike<number>[], ascending: boolean, from: number, visit: (slot: number) => boolean): void {
  const at = lists.map((list) => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return ascending ? lo : lo - 1;
  });
  const step = ascending ? 1 : -1;
  for (;;) {
    let best = -1;
    let bestSlot = 0;
    for (let i = 0; i < lists.length; i++) {
      const list = lists[i]!;
      const p = at[i]!;
      if (p < 0 || p >= list.length) continue;
      const slot = list[p]!;
      if (best === -1 || (ascending ? slot < bestSlot : slot > bestSlot)) {
        best = i;
        bestSlot = slot;
      }
    }
    if (best === -1) return;
    at[best] = at[best]! + step;
    if (!visit(bestSlot)) return;
  }
}
