import type { Logger } from 'pino';
import { readFinalSummary, type RunIndex } from '../runs/run-index.js';
import type { StateStore } from '../runs/state-store.js';
import { errnoCode, WorkflowNotFoundError } from '../util/errors.js';
import type { RunLifecycle } from './run-lifecycle.js';

export interface RunRetentionDeps {
  index: RunIndex;
  lifecycle: RunLifecycle;
  /** Deletes a finished run, as DELETE does. */
  deleteRun: (runId: string) => Promise<void>;
  store: StateStore;
  logger: Logger;
  /** Finished runs are deleted this many days after they ended; 0: kept forever. */
  retentionDays: number;
  /** Now, in milliseconds since the epoch (tests move it rather than wait days). */
  clock?: () => number;
  /** Time between sweeps (default 10 minutes; the first comes sooner). */
  intervalMs?: number;
  /** Most runs one sweep deletes (default 100). */
  batch?: number;
}

/** What one sweep did. */
export interface SweepResult {
  /** Runs deleted for being past the retention time. */
  deleted: string[];
  /** Runs whose deletion had failed part way and is now finished. */
  finished: string[];
  /** Whether work was left for the next sweep (it then comes soon). */
  more: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_INTERVAL_MS = 10 * 60 * 1000;
/** The first sweep after a start, when the interval is longer: not while the server starts. */
const FIRST_SWEEP_MS = 10_000;
/** The pause before the next sweep when one had more to do than its share. */
const CATCH_UP_MS = 1000;
const DEFAULT_BATCH = 100;
/** Runs whose end the index does not know yet, read from the store per sweep. */
const SETTLE_READS = 256;

/**
 * Deletes finished runs once they are older than the retention time, in the
 * background: a sweep every interval, each deleting at most `batch` runs
 * (oldest submissions first), through the same path as DELETE, so a crash
 * mid-way is finished at the next start. Each sweep also finishes the
 * deletions that failed part way (those runs are gone already; their files
 * are not), whether or not a retention time is set.
 *
 * A run's age is its end time. The index knows it for runs whose end was
 * noted there; for the others (ended by this server as lost, cancelled while
 * queued, or an index rebuilt) each sweep reads a share from the store and
 * notes it. A run with no end time is kept.
 */
export class RunRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepResult> | null = null;
  /** Where the next sweep goes on reading runs whose end the index does not know. */
  private cursor = 0;
  private closed = false;

  constructor(private readonly deps: RunRetentionDeps) {}

  private get intervalMs(): number {
    return this.deps.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Starts the periodic sweeps. */
  start(): void {
    this.schedule(Math.min(FIRST_SWEEP_MS, this.intervalMs));
  }

  /** Stops them, after the sweep under way (if any). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.sweep().then(
        (r) => this.schedule(r.more ? CATCH_UP_MS : this.intervalMs),
        (err: unknown) => {
          this.deps.logger.error({ err }, 'retention sweep failed');
          this.schedule(this.intervalMs);
        },
      );
    }, ms);
    this.timer.unref();
  }

  /** One sweep (one at a time: a call during a sweep gets that sweep's result). */
  sweep(): Promise<SweepResult> {
    this.running ??= this.sweepOnce().finally(() => (this.running = null));
    return this.running;
  }

  private async sweepOnce(): Promise<SweepResult> {
    const { lifecycle, index, logger, retentionDays } = this.deps;
    const finished = await lifecycle.finishPendingDeletions();
    if (retentionDays <= 0) return { deleted: [], finished, more: false };
    await index.refresh();
    const unsettled = await this.settleSome();
    const batch = this.deps.batch ?? DEFAULT_BATCH;
    const cutoff = (this.deps.clock ?? Date.now)() - retentionDays * DAY_MS;
    // One more than the batch, to know whether more are due.
    const due = index.endedBefore(cutoff, batch + 1);
    const deleted: string[] = [];
    for (const { runId, end } of due.slice(0, batch)) {
      if (this.closed) break;
      try {
        await this.deps.deleteRun(runId);
        deleted.push(runId);
        logger.info({ run_id: runId, end_time: end, retention_days: retentionDays }, 'run deleted: past the retention time');
      } catch (err) {
        // Deleted meanwhile by someone else: nothing to do.
        if (err instanceof WorkflowNotFoundError) continue;
        logger.warn({ err, run_id: runId, code: errnoCode(err) }, 'could not delete a run past the retention time; will retry');
      }
    }
    const more = due.length > batch || unsettled;
    if (deleted.length > 0 || finished.length > 0) {
      logger.info({ deleted: deleted.length, finished: finished.length, more, retention_days: retentionDays }, 'retention sweep');
    }
    return { deleted, finished, more };
  }

  /**
   * Reads from the store a share of the runs whose end the index does not
   * know, and notes the ends found. Returns whether it found some and others
   * are left unread (worth a sweep soon; runs merely running or queued are not).
   */
  private async settleSome(): Promise<boolean> {
    const { index, store, logger } = this.deps;
    const open = index.unfinished();
    if (this.cursor >= open.length) this.cursor = 0;
    const share = open.slice(this.cursor, this.cursor + SETTLE_READS);
    this.cursor += share.length;
    let found = 0;
    for (const e of share) {
      const final = await readFinalSummary(store, e.runId).catch(() => null);
      if (!final) continue;
      found++;
      await index.recordFinal(e.runId, final).catch((err: unknown) => logger.warn({ err, run_id: e.runId }, 'could not note the end of a run in the index'));
    }
    return found > 0 && this.cursor < open.length;
  }
}
