import type { Logger } from 'pino';
import type { components } from '../../generated/schema.js';
import type { FinalSummary, IndexEntry, RunIndex } from '../runs/run-index.js';
import { ALL_STATES, isTerminal } from '../runs/state-machine.js';
import { RunKeys } from '../runs/workflow.js';
import type { Caller } from './caller.js';
import type { RunLifecycle } from './run-lifecycle.js';

type RunSummary = components['schemas']['RunSummary'];

/**
 * Runs as a list: pages of summaries newest first, and counts per state.
 * Ended runs are answered from the index; only the others are read.
 */
export class RunListing {
  constructor(
    private readonly index: RunIndex,
    private readonly lifecycle: RunLifecycle,
    private readonly logger: Logger,
  ) {}

  /**
   * One page of the run summaries `caller` may see, and the token of the
   * next ('' on the last page): a user's own runs, or every run for an admin
   * and where no authentication is configured.
   */
  async page(size: number, token: string | undefined, caller: Caller): Promise<{ runs: RunSummary[]; next_page_token: string }> {
    await this.index.refresh();
    const owner = caller === null || caller.admin ? undefined : caller.user;
    const page = this.index.page(size, token || undefined, owner);
    // A run being deleted leaves the index as soon as it is marked; one the index still holds is skipped here.
    const entries = page.entries.filter((e) => !this.lifecycle.isDeleting(e.runId));
    const runs = (await Promise.all(entries.map((e) => this.summary(e)))).filter((s): s is RunSummary => s !== null);
    return { runs, next_page_token: page.nextPageToken };
  }

  /** How many runs are in each state (states with none left out). */
  async stateCounts(): Promise<Record<string, number>> {
    await this.index.refresh();
    // Ended runs are counted by the index as they end; only the others are read.
    const counts: Record<string, number> = Object.fromEntries(this.index.endedCounts());
    const open = this.index.unfinished().filter((e) => !this.lifecycle.isDeleting(e.runId));
    const states = await mapLimit(open, 64, async (e) => this.summary(e).then((s) => s?.state));
    for (const s of states) if (s) counts[s] = (counts[s] ?? 0) + 1;
    return Object.fromEntries(ALL_STATES.filter((s) => counts[s]).map((s) => [s, counts[s]!]));
  }

  /** A run's summary: from the index once it has ended, else from the store. */
  private async summary(entry: IndexEntry): Promise<RunSummary | null> {
    const { runId, tags } = entry;
    if (entry.final) return { run_id: runId, tags, ...entry.final };
    const wf = this.lifecycle.workflow(runId);
    const state = await this.lifecycle.currentState(wf);
    if (state === 'UNKNOWN') return null;
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
