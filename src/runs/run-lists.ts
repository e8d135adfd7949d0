import { SlotList, walkSlots } from './slot-list.js';
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

/** What the lists need to know of a run held in the index's columns (see RunIndex). */
export interface RunFacts {
  /** The owner's number in the index's table of owners (0: none). */
  owner(slot: number): number;
  tags(slot: number): Readonly<Record<string, string>>;
  /** The state the run ended in, or undefined while not known to have ended. */
  finalState(slot: number): State | undefined;
}

/** A tag key's runs, all and by value, each in submission order. */
interface TagRuns {
  all: SlotList;
  byValue: Map<string, SlotList>;
}

/**
 * The lists of runs (by slot, see SlotList) a listing is walked along, each
 * in submission order and kept up to date as runs are added, end and are
 * deleted: every run, the runs not known to have ended, each owner's runs
 * (so a user's page costs the page), the ended runs by final state (a run
 * ending late among them is put in place when the list is next read), and
 * the runs by tag key and by key and value.
 */
export class RunLists {
  readonly all = new SlotList();
  /** The runs not known to have ended, in slot order (the order they were added in). */
  readonly open = new Set<number>();
  private readonly byOwner = new Map<number, SlotList>();
  private readonly byFinalState = new Map<State, SlotList>();
  private readonly byTag = new Map<string, TagRuns>();

  constructor(private readonly facts: RunFacts) {}

  /** The entries of tag sets already seen (runs share them: see RunColumns). */
  private readonly entriesOf = new WeakMap<object, [string, string][]>();

  private tagEntries(slot: number): [string, string][] {
    const tags = this.facts.tags(slot);
    let entries = this.entriesOf.get(tags);
    if (!entries) this.entriesOf.set(tags, (entries = Object.entries(tags)));
    return entries;
  }

  clear(): void {
    this.all.clear();
    this.open.clear();
    this.byOwner.clear();
    this.byFinalState.clear();
    this.byTag.clear();
  }

  /** A run newer than every one held: not ended (else `ended` follows at once, see RunIndex.restore). */
  added(slot: number, open = true): void {
    this.all.push(slot);
    if (open) this.open.add(slot);
    const owner = this.facts.owner(slot);
    if (owner !== 0) {
      const own = this.byOwner.get(owner);
      if (own) own.push(slot);
      else this.byOwner.set(owner, listOf(slot));
    }
    for (const [key, value] of this.tagEntries(slot)) {
      let tag = this.byTag.get(key);
      if (!tag) this.byTag.set(key, (tag = { all: new SlotList(), byValue: new Map() }));
      tag.all.push(slot);
      const same = tag.byValue.get(value);
      if (same) same.push(slot);
      else tag.byValue.set(value, listOf(slot));
    }
  }

  /** A run that has just got its final summary. */
  ended(slot: number): void {
    const state = this.facts.finalState(slot);
    if (state === undefined) return;
    this.open.delete(slot);
    let ended = this.byFinalState.get(state);
    if (!ended) this.byFinalState.set(state, (ended = new SlotList()));
    ended.push(slot);
  }

  /** A run deleted (its facts still readable): out of every list. */
  removed(slot: number): void {
    this.all.remove(slot);
    this.open.delete(slot);
    const owner = this.facts.owner(slot);
    if (owner !== 0) {
      const own = this.byOwner.get(owner);
      if (own) {
        own.remove(slot);
        if (own.length === 0) this.byOwner.delete(owner);
      }
    }
    for (const [key, value] of this.tagEntries(slot)) {
      const tag = this.byTag.get(key);
      if (!tag) continue;
      tag.all.remove(slot);
      const same = tag.byValue.get(value);
      if (same) {
        same.remove(slot);
        if (same.length === 0) tag.byValue.delete(value);
      }
      if (tag.all.length === 0) this.byTag.delete(key);
    }
    const state = this.facts.finalState(slot);
    if (state !== undefined) this.byFinalState.get(state)?.remove(slot);
  }

  /**
   * Up to `limit` slots that may match `filter` (see RunIndex.select), from
   * the slot boundary `from` (see walkSlots); `owner` is the filter's owner's
   * number (0 when the filter names none, -1 for an owner without runs). The
   * walk goes along the shortest of the lists the filter names (the owner's
   * runs, the tag's, the ended runs of the states asked for with the open
   * ones, or every run) and checks the rest on each run it passes.
   */
  select(filter: RunFilter, owner: number, limit: number, from: number): number[] {
    const { states, tagKey, tagValue } = filter;
    const out: number[] = [];
    if (limit < 1 || states?.size === 0) return out;
    const none = new Int32Array(0);
    const sources: ArrayLike<number>[][] = [[this.all.sorted()]];
    if (owner !== 0) sources.push([this.byOwner.get(owner)?.sorted() ?? none]);
    if (tagKey !== undefined) {
      const tag = this.byTag.get(tagKey);
      sources.push([(tagValue === undefined ? tag?.all : tag?.byValue.get(tagValue))?.sorted() ?? none]);
    }
    if (states !== undefined) {
      const ended = [...states].filter(isTerminal).map((s) => this.byFinalState.get(s)?.sorted() ?? none);
      sources.push([...ended, Int32Array.from(this.open)]);
    }
    const size = (lists: ArrayLike<number>[]): number => lists.reduce((n, l) => n + l.length, 0);
    const along = sources.reduce((best, s) => (size(s) < size(best) ? s : best));
    const matches = (slot: number): boolean => {
      if (owner !== 0 && this.facts.owner(slot) !== owner) return false;
      if (tagKey !== undefined) {
        const tags = this.facts.tags(slot);
        if (!Object.hasOwn(tags, tagKey) || (tagValue !== undefined && tags[tagKey] !== tagValue)) return false;
      }
      if (states === undefined) return true;
      const state = this.facts.finalState(slot);
      return state === undefined || states.has(state);
    };
    walkSlots(along, filter.ascending === true, from, (slot) => {
      if (matches(slot)) out.push(slot);
      return out.length < limit;
    });
    return out;
  }
}

function listOf(slot: number): SlotList {
  const list = new SlotList();
  list.push(slot);
  return list;
}
