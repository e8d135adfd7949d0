/**
 * Lists kept in order of sequence number (the order runs were submitted in),
 * walked from a cursor in either direction: what lets a listing, filtered or
 * not, cost its page rather than the number of runs.
 */

/** Anything with a place in the submission order. */
export interface Sequenced {
  readonly seq: number;
}

/** The index of the first item whose seq is at least `seq` (the length if none is). */
export function lowerBound(list: readonly Sequenced[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Removes `item` from `list`, in seq order (found by binary search); nothing if it is not there. */
export function removeSorted<T extends Sequenced>(list: T[], item: T): void {
  const at = lowerBound(list, item.seq);
  if (list[at] === item) list.splice(at, 1);
}

/** Fewer items than this placed late are inserted one by one; more are sorted in at once. */
const INSERT_LATE_ONE_BY_ONE = 64;

/**
 * A list in seq order that items may join out of order (a run ending before
 * one submitted earlier). Such latecomers wait aside and are put in place when
 * the list is next read: one by one (a binary search and a move of the items
 * after it) when they are few, by one sort when many arrive at once (a whole
 * index file read at start-up).
 */
export class SeqList<T extends Sequenced> {
  private items: T[] = [];
  private late: T[] = [];

  add(item: T): void {
    const last = this.items[this.items.length - 1];
    if (this.late.length === 0 && (last === undefined || last.seq < item.seq)) this.items.push(item);
    else this.late.push(item);
  }

  get size(): number {
    return this.items.length + this.late.length;
  }

  remove(item: T): void {
    this.sorted();
    removeSorted(this.items, item);
  }

  /** The items, in seq order. */
  sorted(): readonly T[] {
    if (this.late.length === 0) return this.items;
    if (this.late.length < INSERT_LATE_ONE_BY_ONE) {
      for (const item of this.late) this.items.splice(lowerBound(this.items, item.seq), 0, item);
    } else {
      this.items = this.items.concat(this.late).sort((a, b) => a.seq - b.seq);
    }
    this.late = [];
    return this.items;
  }

  clear(): void {
    this.items = [];
    this.late = [];
  }
}

/**
 * Visits the items of seq-ordered lists (no item in two of them) merged into
 * one order, ascending or descending, starting strictly after the cursor
 * `after` (above it ascending, below it descending; from the end when
 * absent), until `visit` returns false or the lists run out.
 */
export function walkMerged<T extends Sequenced>(lists: readonly (readonly T[])[], ascending: boolean, after: number | undefined, visit: (item: T) => boolean): void {
  // Each list's next position: the first item past the cursor in the walk's direction.
  const at = lists.map((list) => {
    if (ascending) return after === undefined ? 0 : lowerBound(list, after + 1);
    return (after === undefined ? list.length : lowerBound(list, after)) - 1;
  });
  const step = ascending ? 1 : -1;
  for (;;) {
    let best = -1;
    let bestSeq = 0;
    for (let i = 0; i < lists.length; i++) {
      const list = lists[i]!;
      const p = at[i]!;
      if (p < 0 || p >= list.length) continue;
      const item = list[p]!;
      if (best === -1 || (ascending ? item.seq < bestSeq : item.seq > bestSeq)) {
        best = i;
        bestSeq = item.seq;
      }
    }
    if (best === -1) return;
    const item = lists[best]![at[best]!]!;
    at[best] = at[best]! + step;
    if (!visit(item)) return;
  }
}
