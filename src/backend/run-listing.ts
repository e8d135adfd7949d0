import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { components } from '../../generated/schema.js';
import type { FinalSummary, IndexEntry, RunFilter, RunIndex } from '../runs/run-index.js';
import { ALL_STATES, isTerminal, type State } from '../runs/state-machine.js';
import { RunKeys } from '../runs/workflow.js';
import { MalformedRequestError } from '../util/errors.js';
import { decodePageToken, encodePageToken } from '../util/page-token.js';
import type { Caller } from './caller.js';
import type { RunLifecycle } from './run-lifecycle.js';

type RunSummary = components['schemas']['RunSummary'];

/** What a client may ask of a listing besides its page (ListRuns' filters). */
export interface ListingQuery {
  /** Only runs in one of these states. */
  state?: readonly State[];
  /** Only runs tagged with this key… */
  tag_key?: string;
  /** …and this value (refused without tag_key). */
  tag_value?: string;
  /** `desc` (newest first, the default) or `asc`. */
  sort_order?: 'asc' | 'desc';
}

/** How many runs of unknown state are read at once while a page is filled. */
const READS_IN_FLIGHT = 64;

/**
 * Runs as a list: pages of summaries, filtered and in either order, and
 * counts per state. Ended runs are answered from the index; only the others
 * are read.
 */
export class RunListing {
  constructor(
    private readonly index: RunIndex,
    private readonly lifecycle: RunLifecycle,
    private readonly logger: Logger,
  ) {}

  /**
   * One page of the run summaries `caller` may see (a user's own runs, or
   * every run for an admin and where no authentication is configured) that
   * match `query`, and the token of the next page ('' on the last page).
   *
   * The page is filled from the index (see RunIndex.select), then checked: a
   * run that has not ended is read from the store, and left out if it is not
   * in a state asked for; the next candidates take its place. The token
   * holds the sequence number of the page's last run and which listing it
   * belongs to, so runs added meanwhile never shift later pages, and a token
   * is refused by a listing with other filters or another order.
   */
  async page(size: number, token: string | undefined, caller: Caller, query: ListingQuery = {}): Promise<{ runs: RunSummary[]; next_page_token: string }> {
    if (query.tag_value !== undefined && query.tag_key === undefined) {
      throw new MalformedRequestError('tag_value filters on the value of a tag: give its key as tag_key too.');
    }
    const kind = tokenKind(query);
    let after = token ? decodePageToken(kind, token) : undefined;
    await this.index.refresh();
    const filter: RunFilter = {
      ...(caller === null || caller.admin ? {} : { owner: caller.user }),
      ...(query.state?.length ? { states: new Set(query.state) } : {}),
      ...(query.tag_key === undefined ? {} : { tagKey: query.tag_key }),
      ...(query.tag_value === undefined ? {} : { tagValue: query.tag_value }),
      ascending: query.sort_order === 'asc',
    };
    // One more than the page, to know whether another page follows.
    const found: { entry: IndexEntry; summary: RunSummary }[] = [];
    for (;;) {
      const want = size + 1 - found.length;
      const candidates = this.index.select(filter, want, after);
      const summaries = await mapLimit(candidates, READS_IN_FLIGHT, (e) => this.summary(e, filter.states));
      candidates.forEach((entry, i) => {
        const summary = summaries[i];
        if (summary) found.push({ entry, summary });
      });
      if (found.length > size || candidates.length < want) break;
      after = candidates[candidates.length - 1]!.seq;
    }
    const runs = found.slice(0, size);
    const next = found.length > size ? encodePageToken(kind, runs[runs.length - 1]!.entry.seq) : '';
    return { runs: runs.map((r) => r.summary), next_page_token: next };
  }

  /** How many runs are in each state (states with none left out). */
  async stateCounts(): Promise<Record<string, number>> {
    await this.index.refresh();
    // Ended runs are counted by the index as they end; only the others are read.
    const counts: Record<string, number> = Object.fromEntries(this.index.endedCounts());
    const states = await mapLimit(this.index.unfinished(), READS_IN_FLIGHT, async (e) => this.summary(e).then((s) => s?.state));
    for (const s of states) if (s) counts[s] = (counts[s] ?? 0) + 1;
    return Object.fromEntries(ALL_STATES.filter((s) => counts[s]).map((s) => [s, counts[s]!]));
  }

  /**
   * A run's summary, or null when it is being deleted, has no state or not one of `states`:
   * from the index once it has ended, else from the store (its times only
   * when its state is wanted), unless the run cannot be in one of `states`.
   */
  private async summary(entry: IndexEntry, states?: ReadonlySet<State>): Promise<RunSummary | null> {
    const { runId, tags } = entry;
    // A run being deleted leaves the index as soon as it is marked; one the index still holds is skipped here.
    if (this.lifecycle.isDeleting(runId)) return null;
    const wanted = (state: State): boolean => state !== 'UNKNOWN' && (states === undefined || states.has(state));
    if (entry.final) return wanted(entry.final.state) ? { run_id: runId, tags, ...entry.final } : null;
    // A run still waiting in the queue is not read when no state it can be in is wanted (a full
    // queue is passed over at no cost by a listing of ended or running runs).
    const possible = states && this.lifecycle.possibleStates(runId);
    if (possible && ![...possible].some((s) => states.has(s))) return null;
    const wf = this.lifecycle.workflow(runId);
    const state = await this.lifecycle.currentState(wf);
    if (!wanted(state)) return null;
    const [start, end] = await Promise.all([wf.get(RunKeys.startTime), wf.get(RunKeys.endTime)]);
    const times = { ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) };
    if (isTerminal(state)) this.rememberFinal(runId, { state, ...times });
    return { run_id: runId, state, tags, ...times };
  }

  /** Notes in the index that a run has ended (normally its supervisor has; this covers the rest). */
  private rememberFinal(runId: string, final: FinalSummary): void {
    void this.index.recordFinal(runId, final).catch((err: unknown) => this.logger.warn({ err, run_id: runId }, 'could not note the end of a run in the index'));
  }
}

/**
 * What a listing's page tokens are tagged with: `runs` for the plain one
 * (newest first, unfiltered: tokens from before filters existed stay good),
 * else `runs:` and a digest of the filters and order, so that a token only
 * continues the listing it came from.
 */
function tokenKind(query: ListingQuery): string {
  const states = [...new Set(query.state ?? [])].sort();
  const order = query.sort_order ?? 'desc';
  if (states.length === 0 && query.tag_key === undefined && order === 'desc') return 'runs';
  const canonical = JSON.stringify([order, states, query.tag_key ?? null, query.tag_value ?? null]);
  return `runs:${createHash('sha256').update(canonical).digest('base64url').slice(0, 16)}`;
}

/** Maps with at most `limit` calls in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
