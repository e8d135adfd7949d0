import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { inFolder, syncDirShared, writeFileDurable } from '../util/atomic-file.js';
import { errnoCode } from '../util/errors.js';
import { wesTime } from '../util/time.js';
import type { ActiveRuns } from './active-runs.js';
import { appendDeleted, runIndexFile, type RunIndex } from './run-index.js';
import { WorkflowStateMachine } from './state-machine.js';
import { isRunId, runIdsIn, type StateStore } from './state-store.js';
import { journalDir, type SubmissionJournal } from './submission-journal.js';

/** `<store>/.deleting`: one marker per run whose deletion has begun and not ended. */
export function deletingDir(stateStore: string): string {
  return path.join(stateStore, '.deleting');
}

export interface RunDeletionsOptions {
  workDir: string;
  stateStore: string;
  store: StateStore;
  activeRuns: ActiveRuns;
  /** The server's submission journal: a run's entry there could bring the run back. */
  journal?: SubmissionJournal;
  logger?: Logger;
}

/**
 * Deleting runs so that none is ever seen half there, whatever crash comes
 * in the middle. A deletion is one durable step, then tidying up:
 *
 * 1. `mark`: a marker file `<store>/.deleting/<run_id>`, flushed with
 *    its folder. From then on the run is gone: lookups and listings ask
 *    `isDeleting` first, and a server starting up finishes every marked
 *    deletion (`recover`) before it reads any run.
 * 2. `finish`: the run's tombstone in the index, flushed (so no index names
 *    it again); its submission journal entry dropped (it could rebuild the
 *    run after a machine crash); its folder, its record in the state store
 *    and its active-run marker removed, the parent folders flushed; and only
 *    then the marker removed. Every part of it may be done twice.
 *
 * A step that fails leaves the marker: the run stays gone, `pending` lists
 * it, and `finish` (or the next start) completes it.
 *
 * Whether a run may be deleted (finished, no task still tidying up after it,
 * who asks) is for the caller to decide; this only deletes.
 */
export class RunDeletions {
  readonly dir: string;
  /** Runs marked and not yet finished, as this process knows them. */
  private readonly marked = new Set<string>();

  constructor(private readonly opts: RunDeletionsOptions) {
    this.dir = deletingDir(opts.stateStore);
  }

  /** Whether the run's deletion has begun and not ended: it is gone to every reader. */
  isDeleting(runId: string): boolean {
    return this.marked.has(runId);
  }

  /** Runs whose deletion began here and did not end (a step failed). */
  pending(): string[] {
    return [...this.marked];
  }

  /** Deletes a run: `mark`, then `finish`. When this returns, nothing of the run is left. */
  async delete(runId: string, index?: RunIndex): Promise<void> {
    await this.mark(runId);
    // Marked: listings need not wait for the tombstone to stop showing it.
    index?.forget(runId);
    await this.finish(runId, index);
  }

  /**
   * The durable step: once this returns, the run is deleted, whatever
   * happens next. If the marker cannot be written, the run stays as it was
   * and the error is thrown.
   */
  async mark(runId: string): Promise<void> {
    check(runId);
    if (this.marked.has(runId)) return;
    // Gone to readers from now: a reader must not find the run while its marker is being written.
    this.marked.add(runId);
    const marker = path.join(this.dir, runId);
    try {
      await inFolder(this.dir, () => writeFileDurable(marker, JSON.stringify({ run_id: runId, at: wesTime(new Date()) })));
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') {
        this.marked.delete(runId);
        await fs.rm(marker, { force: true }).catch(() => undefined);
        throw err;
      }
    }
    await syncDirShared(this.dir);
  }

  /**
   * Removes everything of a marked run, the marker last. `index`: the
   * server's live index (it forgets the run at once); without one (at
   * start-up, before the index is opened), the tombstone goes to its file.
   */
  async finish(runId: string, index?: RunIndex): Promise<void> {
    check(runId);
    const { workDir, stateStore, store, activeRuns, journal } = this.opts;
    this.marked.add(runId);
    if (index) await index.recordDeleted(runId);
    else await appendDeleted(runIndexFile(stateStore), runId);
    if (journal) await journal.withdraw(runId);
    else await fs.rm(path.join(journalDir(stateStore), `${runId}.json`), { force: true });
    await fs.rm(path.join(workDir, runId), { recursive: true, force: true, maxRetries: 3 });
    await store.remove(runId);
    await activeRuns.remove(runId);
    WorkflowStateMachine.forget(store, runId);
    // The removals reach the disk before the marker goes: a crash never leaves half a run unmarked.
    await Promise.all([syncDirShared(workDir), syncDirShared(stateStore)]);
    await fs.rm(path.join(this.dir, runId), { force: true });
    this.marked.delete(runId);
  }

  /**
   * At start-up, before anything reads the runs: finishes every deletion
   * that a crash cut short. Returns their run ids.
   */
  async recover(): Promise<string[]> {
    const ids = await runIdsIn(this.dir);
    for (const runId of ids) {
      await this.finish(runId);
      this.opts.logger?.warn({ run_id: runId }, 'finished the deletion of a run that a stop or crash had cut short');
    }
    return ids;
  }
}

function check(runId: string): void {
  if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
}
