import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { inFolder, syncDir, syncDirShared, writeFileDurable } from '../util/atomic-file.js';
import { errnoCode } from '../util/errors.js';
import type { ActiveRuns } from './active-runs.js';
import { isTerminal, type State } from './state-machine.js';
import { isRunId, type StateStore } from './state-store.js';

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

/**
 * What it takes to make a run again: the run folder's files (paths relative
 * to it, contents in base64), its folders, and its first record.
 */
export interface JournalEntry {
  v: 1;
  run_id: string;
  dirs: string[];
  files: Record<string, string>;
  record: Record<string, string>;
}

/**
 * The submission journal: how a small submission is made durable with one
 * fsync instead of one per file and folder.
 *
 * A submission writes its run folder and first record plainly (no fsync),
 * then writes one entry here, `<store>/.journal/<run_id>.json`, holding all
 * of it, flushed with its folder (shared with the other submissions of the
 * moment); only then are the run folder and record renamed into place and
 * the run acknowledged. From then on the entry can rebuild the run, so a
 * machine crash that loses the plain writes loses nothing: `recover`, at the
 * next start, rewrites what is missing or differs.
 *
 * Entries are dropped once the file systems holding the runs and the store
 * have been synced (`sync --file-system`, every 30 s while there are
 * entries), after which the run's own files are durable.
 */
export class SubmissionJournal {
  readonly dir: string;
  /** Entries whose run has been put in place, waiting for the next checkpoint. */
  private settledIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private closed = false;

  constructor(
    stateStore: string,
    /** Folders on the file systems a checkpoint syncs (the work folder and the state store). */
    private readonly roots: string[],
    private readonly logger?: Logger,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {
    this.dir = journalDir(stateStore);
  }

  private file(runId: string): string {
    if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
    return path.join(this.dir, `${runId}.json`);
  }

  /** Writes a run's entry and makes it durable. Once this returns, the run can be rebuilt. */
  async write(entry: JournalEntry): Promise<void> {
    const file = this.file(entry.run_id);
    const text = JSON.stringify(entry);
    await inFolder(this.dir, () => writeFileDurable(file, text));
    await syncDirShared(this.dir);
  }

  /** The run is in place: its entry may go with the next checkpoint. */
  settled(runId: string): void {
    this.settledIds.add(runId);
    this.schedule();
  }

  /** The submission failed after its entry was written: the entry must not bring it back. */
  async withdraw(runId: string): Promise<void> {
    this.settledIds.delete(runId);
    await fs.rm(this.file(runId), { force: true });
    await syncDir(this.dir);
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
   * Syncs the file systems and drops the entries of every run put in place
   * before the sync began. On failure the entries stay for the next try
   * (and, at worst, for `recover`).
   */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing.then(() => this.checkpoint());
    if (this.settledIds.size === 0) return Promise.resolve();
    const batch = [...this.settledIds];
    this.settledIds.clear();
    this.checkpointing = (async () => {
      try {
        await syncFileSystems(this.roots);
        await Promise.all(batch.map((id) => fs.rm(this.file(id), { force: true })));
      } catch (err) {
        for (const id of batch) this.settledIds.add(id);
        this.logger?.warn({ err }, 'could not checkpoint the submission journal; will retry');
      } finally {
        this.checkpointing = undefined;
        if (this.settledIds.size > 0) this.schedule();
      }
    })();
    return this.checkpointing;
  }

  /** Stops the timer after a last checkpoint. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.checkpoint();
  }
}

/** `<store>/.journal`. */
export function journalDir(stateStore: string): string {
  return path.join(stateStore, '.journal');
}

/** syncfs(2) on the file systems holding `roots`, through coreutils' `sync --file-system`. */
function syncFileSystems(roots: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['--file-system', ...new Set(roots)], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`sync --file-system failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/** A relative path inside a run folder, as the journal holds it (never climbing out). */
function safeRelative(rel: string): boolean {
  if (rel === '' || path.isAbsolute(rel) || rel.includes('\0')) return false;
  return rel.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function isEntry(v: unknown): v is JournalEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Partial<JournalEntry>;
  const strings = (o: unknown): boolean => typeof o === 'object' && o !== null && !Array.isArray(o) && Object.values(o).every((x) => typeof x === 'string');
  return (
    e.v === 1 &&
    typeof e.run_id === 'string' &&
    isRunId(e.run_id) &&
    Array.isArray(e.dirs) &&
    e.dirs.every((d) => typeof d === 'string' && safeRelative(d)) &&
    strings(e.files) &&
    Object.keys(e.files!).every(safeRelative) &&
    strings(e.record)
  );
}

/**
 * At start-up, before anything reads the runs: rebuilds from the journal
 * whatever of an acknowledged submission a machine crash lost (files missing
 * or not as written, a first record missing or unreadable, the active-run
 * marker), syncs, and empties the journal. An entry that cannot be read was
 * never flushed, so never acknowledged: it is dropped. Returns the ids of
 * the runs that needed repair.
 */
export async function recoverJournal(opts: { stateStore: string; workDir: string; store: StateStore; activeRuns: ActiveRuns; logger?: Logger }): Promise<string[]> {
  const dir = journalDir(opts.stateStore);
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const repaired: string[] = [];
  for (const name of names) {
    let entry: unknown;
    try {
      entry = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8'));
    } catch {
      entry = null;
    }
    if (!isEntry(entry) || name !== `${entry.run_id}.json`) continue;
    const runDir = path.join(opts.workDir, entry.run_id);
    let changed = false;
    for (const d of entry.dirs) {
      const p = path.join(runDir, d);
      if (!(await fs.stat(p).then((s) => s.isDirectory(), () => false))) {
        await fs.mkdir(p, { recursive: true });
        changed = true;
      }
    }
    for (const [rel, data] of Object.entries(entry.files)) {
      const p = path.join(runDir, rel);
      const want = Buffer.from(data, 'base64');
      const have = await fs.readFile(p).catch(() => null);
      if (have && have.equals(want)) continue;
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, want);
      changed = true;
    }
    if (await opts.store.restoreFirstRecord(entry.run_id, entry.record)) changed = true;
    const state = ((await opts.store.get(entry.run_id, 'state')) ?? '').trim() as State;
    if (!isTerminal(state)) await opts.activeRuns.add(entry.run_id);
    if (changed) {
      repaired.push(entry.run_id);
      opts.logger?.warn({ run_id: entry.run_id }, 'rebuilt what a crash lost of a submitted run from the submission journal');
    }
  }
  if (names.length > 0) {
    await syncFileSystems([opts.workDir, opts.stateStore]);
    await Promise.all(names.map((n) => fs.rm(path.join(dir, n), { force: true })));
    await syncDir(dir);
  }
  return repaired;
}
