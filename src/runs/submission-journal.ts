import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FileHandle } from 'node:fs/promises';
import { inFolder, syncDir } from '../util/atomic-file.js';
import { errnoCode } from '../util/errors.js';
import { isRunId } from './state-store.js';
import { journalDir, syncFileSystems, type JournalEntry } from './journal-entries.js';

export { journalDir, readJournal, recoverJournal, type JournalEntry } from './journal-entries.js';

/** Submissions whose files add up to more than this are made durable file by file instead. */
export const JOURNAL_MAX_BYTES = 1024 * 1024;
/** Likewise submissions of more files than this. */
export const JOURNAL_MAX_FILES = 64;
/**
 * How long entries gather before the file systems are synced and they are
 * dropped. By then the kernel has written most of it back on its own (dirty
 * pages are written within 30 s by default), so the sync costs little and
 * does not compete with the runs' engines for the disk.
 */
const CHECKPOINT_INTERVAL_MS = 30_000;


/** A segment of the journal: one append-only file of JSON lines. */
interface Segment {
  file: string;
  /** Open while a batch is written; closed between batches, so the server holds no file of the store open for writing. */
  handle: FileHandle | undefined;
  /** Takes no more lines (closed by a checkpoint, or after a failed batch). */
  retired: boolean;
  /** Bytes written and flushed so far: where the next batch goes. */
  size: number;
  /** Its folder entry is not flushed yet (the first batch into it flushes the folder too). */
  fresh: boolean;
  /** Lines in it. */
  lines: number;
  /** Entries in it whose run is neither in place nor withdrawn: the segment may not go before they are. */
  open: Set<string>;
}

interface Waiter {
  line: string;
  /** The run a new entry is for (none for a withdrawal). */
  entryFor: string | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The submission journal: how a small submission is made durable with a
 * share of one fdatasync instead of one fsync per file and folder.
 *
 * A submission writes its run folder and first record plainly (no fsync),
 * then appends one entry holding all of it to the journal's current segment,
 * `<store>/.journal/<n>.jsonl`, one JSON line. Entries that arrive while a
 * batch is being written, or in the same turn of the event loop, go in the
 * next batch together: one positional write and one fdatasync for all of
 * them (group commit; the segment's folder is flushed once, with its first
 * batch). Only once its batch is flushed are the run folder and record
 * renamed into place and the run acknowledged. From then on the entry can
 * rebuild the run, so a machine crash that loses the plain writes loses
 * nothing: `recoverJournal`, at the next start, rewrites what is missing or
 * differs.
 *
 * A batch that fails is undone (the segment is cut back to where the batch
 * began and flushed) and every submission in it is refused; a segment that
 * cannot be cut back is left for good, and the refused runs get withdrawal
 * lines in the next batch. A submission refused after its entry was flushed,
 * or a run deleted, is withdrawn likewise: `{"withdrawn": run_id}`, flushed.
 * A crash in the middle of a batch leaves at most a torn last line, which
 * was never acknowledged and is skipped.
 *
 * Every 30 s while there are entries, the current segment is closed, the
 * file systems holding the runs and the store are synced (`sync
 * --file-system`), and the closed segments whose every entry is settled
 * (its run in place, or withdrawn) are removed, oldest first: by then the
 * runs' own files are durable.
 */
export class SubmissionJournal {
  readonly dir: string;
  /** Segments still on disk, oldest first; the last one is current unless retired. */
  private readonly segments: Segment[] = [];
  /** The segment holding each entry written by this process, while it is on disk. */
  private readonly holder = new Map<string, Segment>();
  /** Runs refused whose lines could not be cut out of a segment: withdrawn with the next batch. */
  private readonly refused = new Set<string>();
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  /** Serialises what touches the segments: batches, and the rotation of a checkpoint. */
  private io: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private closed = false;
  private counter = 0;
  /** Batches flushed (one fdatasync each) and lines in them, since the start: for tests and benchmarks. */
  readonly stats = { batches: 0, lines: 0 };

  constructor(
    stateStore: string,
    /** Folders on the file systems a checkpoint syncs (the work folder and the state store). */
    private readonly roots: string[],
    private readonly logger?: Logger,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {
    this.dir = journalDir(stateStore);
  }

  /** Writes a run's entry and makes it durable. Once this returns, the run can be rebuilt. */
  write(entry: JournalEntry): Promise<void> {
    if (!isRunId(entry.run_id)) return Promise.reject(new Error(`invalid run id '${entry.run_id}'`));
    return this.append(JSON.stringify(entry) + '\n', entry.run_id);
  }

  /** The run is in place: its entry may go with the next checkpoint. */
  settled(runId: string): void {
    this.holder.get(runId)?.open.delete(runId);
    this.schedule();
  }

  /**
   * The submission failed after its entry was written, or the run is being
   * deleted: the entry must not bring it back. Once this returns, it will
   * not. Nothing is written for a run this journal holds no entry of.
   */
  async withdraw(runId: string): Promise<void> {
    if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
    const seg = this.holder.get(runId);
    if (!seg) return;
    await this.append(JSON.stringify({ withdrawn: runId }) + '\n', undefined);
    seg.open.delete(runId);
    this.schedule();
  }

  private append(line: string, entryFor: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, entryFor, resolve, reject });
      this.flushing ??= this.flushAll();
    });
  }

  /** Writes batches while waiters queue up; those of the same turn of the event loop share the first. */
  private async flushAll(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    for (;;) {
      await this.writeQueued();
      // Idle: the current segment's file is closed (an open file for writing would keep its file system
      // from being remounted read-only); the next batch opens it again.
      await this.serial(async () => {
        const last = this.segments.at(-1);
        if (this.queue.length > 0 || !last?.handle) return;
        const handle = last.handle;
        last.handle = undefined;
        await handle.close().catch(() => undefined);
      });
      if (this.queue.length === 0) break;
    }
    this.flushing = undefined;
  }

  private async writeQueued(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const refused = [...this.refused];
      const withdrawals = refused.map((id) => JSON.stringify({ withdrawn: id }) + '\n').join('');
      try {
        await this.serial(() => this.writeBatch(withdrawals + batch.map((w) => w.line).join(''), batch));
        for (const id of refused) this.refused.delete(id);
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.io.then(fn, fn);
    this.io = run.catch(() => undefined);
    return run;
  }

  private async current(): Promise<Segment> {
    const last = this.segments.at(-1);
    if (last && !last.retired) {
      if (last.handle) return last;
      try {
        last.handle = await fs.open(last.file, 'r+');
        return last;
      } catch (err) {
        // Removed from under the journal (a recovery run on its folder): the next lines start a segment of their own.
        if (errnoCode(err) !== 'ENOENT') throw err;
        last.retired = true;
      }
    }
    const file = path.join(this.dir, `${String(Date.now()).padStart(15, '0')}-${process.pid}-${++this.counter}.jsonl`);
    const handle = await inFolder(this.dir, () => fs.open(file, 'wx'));
    const seg: Segment = { file, handle, retired: false, size: 0, fresh: true, lines: 0, open: new Set() };
    this.segments.push(seg);
    return seg;
  }

  private async writeBatch(text: string, batch: Waiter[]): Promise<void> {
    const seg = await this.current();
    const handle = seg.handle!;
    const data = Buffer.from(text);
    const at = seg.size;
    try {
      for (let done = 0; done < data.length; ) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, at + done);
        done += bytesWritten;
      }
      // The file's new size goes with the data (fdatasync flushes what reading it back needs).
      await handle.datasync();
      if (seg.fresh) {
        await syncDir(this.dir);
        seg.fresh = false;
      }
    } catch (err) {
      // Undone, so that no refused submission comes back; the segment takes nothing more either way.
      const undone = await handle.truncate(at).then(() => handle.datasync()).then(() => true, () => false);
      if (!undone) for (const w of batch) if (w.entryFor) this.refused.add(w.entryFor);
      await this.retire(seg);
      throw err;
    }
    seg.size = at + data.length;
    seg.lines += batch.length;
    this.stats.batches++;
    this.stats.lines += batch.length;
    for (const w of batch) {
      if (!w.entryFor) continue;
      this.holder.set(w.entryFor, seg);
      seg.open.add(w.entryFor);
    }
  }

  private async retire(seg: Segment): Promise<void> {
    seg.retired = true;
    const handle = seg.handle;
    seg.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private schedule(): void {
    if (this.timer || this.checkpointing || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.checkpoint();
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Closes the current segment, syncs the file systems and removes the
   * closed segments, oldest first, up to the first that holds an entry
   * whose run is not yet in place. On failure they stay for the next try
   * (and, at worst, for `recoverJournal`).
   */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing.then(() => this.checkpoint());
    if (this.segments.length === 0) return Promise.resolve();
    this.checkpointing = (async () => {
      try {
        await this.serial(async () => {
          const last = this.segments.at(-1);
          if (last && !last.retired && last.lines > 0) await this.retire(last);
        });
        const done: Segment[] = [];
        for (const seg of this.segments) {
          if (!seg.retired || seg.open.size > 0) break;
          done.push(seg);
        }
        if (done.length === 0) return;
        await syncFileSystems(this.roots);
        for (const seg of done) {
          await fs.rm(seg.file, { force: true });
          // One at a time: a withdrawal never outlives, on disk, an older segment holding the entry it withdraws.
          await syncDir(this.dir);
          this.segments.splice(this.segments.indexOf(seg), 1);
          for (const [id, s] of this.holder) if (s === seg) this.holder.delete(id);
        }
      } catch (err) {
        this.logger?.warn({ err }, 'could not checkpoint the submission journal; will retry');
      } finally {
        this.checkpointing = undefined;
        if (this.segments.length > 0) this.schedule();
      }
    })();
    return this.checkpointing;
  }

  /** Stops the timer after a last checkpoint. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.checkpoint();
    await this.serial(async () => {
      const last = this.segments.at(-1);
      if (last && !last.retired) await this.retire(last);
    });
  }
}
