/**
 * The Slurm queue as every run of this server sees it: one squeue call per
 * polling interval, whatever the number of runs and of the processes
 * watching them (each run's supervisor is a process of its own). The last
 * answer is kept in a file beside the state store; whoever finds it older
 * than the interval takes a lock file, asks squeue once, and writes the
 * answer for all; the others wait for it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { squeueAll, type QueuedJob } from './commands.js';

export interface QueueSnapshot {
  /** When the squeue call that made it started (ms since the epoch): a job submitted before then is in it if the controller knows it. */
  at: number;
  jobs: QueuedJob[];
}

/** A lock older than this is taken to belong to a watcher that died. */
const STALE_LOCK_MS = 60_000;

export class SlurmQueue {
  private last: QueueSnapshot | null = null;
  private inFlight: Promise<QueueSnapshot> | null = null;
  private readonly file: string;
  private readonly lock: string;

  constructor(
    /** A folder of the server's own (in the state store), shared by the server and its supervisors. */
    private readonly dir: string,
    private readonly pollMs: number,
    private readonly ask: () => Promise<QueuedJob[]> = squeueAll,
  ) {
    this.file = path.join(dir, 'queue.json');
    this.lock = path.join(dir, 'queue.lock');
  }

  /** A snapshot no older than the polling interval, taken after `since` (ms since the epoch) when given. */
  async snapshot(since = 0): Promise<QueueSnapshot> {
    const fresh = (s: QueueSnapshot | null): s is QueueSnapshot => s !== null && s.at >= since && Date.now() - s.at < this.pollMs;
    if (fresh(this.last)) return this.last;
    // One refresh at a time in this process; the others here share it.
    this.inFlight ??= this.refresh(fresh).finally(() => (this.inFlight = null));
    const s = await this.inFlight;
    return s.at >= since ? s : this.snapshot(since);
  }

  private async refresh(fresh: (s: QueueSnapshot | null) => s is QueueSnapshot): Promise<QueueSnapshot> {
    await fs.mkdir(this.dir, { recursive: true });
    for (;;) {
      const shared = await this.read();
      if (fresh(shared)) return (this.last = shared);
      if (await this.takeLock()) {
        try {
          // Someone may have written a fresh one between the read and the lock.
          const again = await this.read();
          if (fresh(again)) return (this.last = again);
          const at = Date.now();
          const jobs = await this.ask();
          const snap = { at, jobs };
          // Whole or not at all for readers; not durable (a lost snapshot is only asked again).
          const tmp = `${this.file}.${process.pid}.tmp`;
          await fs.writeFile(tmp, JSON.stringify(snap)).then(() => fs.rename(tmp, this.file)).catch(() => fs.rm(tmp, { force: true }).catch(() => undefined));
          return (this.last = snap);
        } finally {
          await fs.rm(this.lock, { force: true }).catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(100, this.pollMs / 4)));
    }
  }

  private async read(): Promise<QueueSnapshot | null> {
    try {
      const snap = JSON.parse(await fs.readFile(this.file, 'utf8')) as QueueSnapshot;
      return typeof snap.at === 'number' && Array.isArray(snap.jobs) ? snap : null;
    } catch {
      return null;
    }
  }

  /** The lock file, created exclusively; one left by a watcher that died long ago is taken over. */
  private async takeLock(): Promise<boolean> {
    try {
      await fs.writeFile(this.lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      const st = await fs.stat(this.lock).catch(() => null);
      if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) await fs.rm(this.lock, { force: true }).catch(() => undefined);
      return false;
    }
  }
}
