import type { IndexEntry } from './index-entry.js';
import { removeSorted, SeqList, walkMerged } from './seq-list.js';
import { isTerminal, type State } from './state-machine.js';

/** Which runs a listing wants, in which order: every part optional. */
export interface RunFilter {
  /** Only this user's runs. */
  owner?: string;
  /**
   * Only runs in one of these states: the ended runs the index knows to be
   * in one, and every run not known to have ended, whose state only the
   * store can tell (the caller reads it).
   */
  states?: ReadonlySet<State>;
  /** Only runs whose tags have this key… */
  tagKey?: string;
  /** …with this value (only with tagKey). */
  tagValue?: string;
  /** Oldest first; newest first when false or absent. */
  ascending?: boolean;
}

/** A tag key's runs, all and by value, each in submission order. */
interface TagRuns {
  all: IndexEntry[];
  byValue: Map<string, IndexEntry[]>;
}

/**
 * The lists of runs a listing is walked along beside the submission order,
 * each in that order and kept up to date as runs are added, end and are
 * deleted: each owner's runs (so a user's page costs the page), the ended
 * runs by final state (a run ending late among them is put in place when the
 * list is next read), and the runs by tag key and by key and value.
 */
export class RunLists {
  private readonly byOwner = new Map<string, IndexEntry[]>();
  private readonly byFinalState = new Map<State, SeqList<IndexEntry>>();
  private readonly byTag = new Map<string, TagRuns>();

  clear(): void {
    this.byOwner.clear();
    this.byFinalState.clear();
    this.byTag.clear();
  }

  /** A run newer than every one held (runs arrive in submission order, so pushing keeps each list in order). */
  added(entry: IndexEntry): void {
    if (entry.owner !== undefined) {
      const own = this.byOwner.get(entry.owner);
      if (own) own.push(entry);
      else this.byOwner.set(entry.owner, [entry]);
    }
    for (const [key, value] of Object.entries(entry.tags)) {
      let tag = this.byTag.get(key);
      if (!tag) this.byTag.set(key, (tag = { all: [], byValue: new Map() }));
      tag.all.push(entry);
      const same = tag.byValue.get(value);
      if (same) same.push(entry);
      else tag.byValue.set(value, [entry]);
    }
  }

  /** A run that has just got its final summary. */
  ended(entry: IndexEntry): void {
    if (!entry.final) return;
    let ended = this.byFinalState.get(entry.final.state);
    if (!ended) this.byFinalState.set(entry.final.state, (ended = new SeqList()));
    ended.add(entry);
  }

  /** A run deleted: out of every list. */
  removed(entry: IndexEntry): void {
    if (entry.owner !== undefined) {
      const own = this.byOwner.get(entry.owner);
      if (own) {
        removeSorted(own, entry);
        if (own.length === 0) this.byOwner.delete(entry.owner);
      }
    }
    for (const [key, value] of Object.entries(entry.tags)) {
      const tag = this.byTag.get(key);
      if (!tag) continue;
      removeSorted(tag.all, entry);
      const same = tag.byValue.get(value);
      if (same) {
        removeSorted(same, entry);
        if (same.length === 0) tag.byValue.delete(value);
      }
      if (tag.all.length === 0) this.byTag.delete(key);
    }
    if (entry.final) this.byFinalState.get(entry.final.state)?.remove(entry);
  }

  /**
   * Up to `limit` entries that may match `filter` (see RunIndex.select), of
   * `all` runs and the `open` ones (not known to have ended), both in
   * submission order. The walk goes along the shortest of the lists the
   * filter names (the owner's runs, the tag's, the ended runs of the states
   * asked for with the open ones, or every run) and checks the rest on each
   * entry it passes.
   */
  select(all: readonly IndexEntry[], open: Iterable<IndexEntry>, filter: RunFilter, limit: number, after?: number): IndexEntry[] {
    const { owner, states, tagKey, tagValue } = filter;
    const out: IndexEntry[] = [];
    if (limit < 1 || states?.size === 0) return out;
    const sources: (readonly IndexEntry[])[][] = [[all]];
    if (owner !== undefined) sources.push([this.byOwner.get(owner) ?? []]);
    if (tagKey !== undefined) {
      const tag = this.byTag.get(tagKey);
      sources.push([(tagValue === undefined ? tag?.all : tag?.byValue.get(tagValue)) ?? []]);
    }
    if (states !== undefined) {
      const ended = [...states].filter(isTerminal).map((s) => this.byFinalState.get(s)?.sorted() ?? []);
      sources.push([...ended, [...open]]);
    }
    const size = (lists: (readonly IndexEntry[])[]): number => lists.reduce((n, l) => n + l.length, 0);
    const along = sources.reduce((best, s) => (size(s) < size(best) ? s : best));
    const matches = (e: IndexEntry): boolean =>
      (owner === undefined || e.owner === owner) &&
      (tagKey === undefined || (Object.hasOwn(e.tags, tagKey) && (tagValue === undefined || e.tags[tagKey] === tagValue))) &&
      (states === undefined || e.final === undefined || states.has(e.final.state));
    walkMerged(along, filter.ascending === true, after, (e) => {
      if (matches(e)) out.push(e);
      return out.length < limit;
    });
    return out;
  }
}
