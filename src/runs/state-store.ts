import type { Dir } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { atomicFileCreate, inFolder, syncDir, syncDirShared, writeFileDurable } from '../util/atomic-file.js';
import { withGlobalMutex } from '../util/global-mutex.js';
import { errnoCode } from '../util/errors.js';
import { fileBatches } from '../util/file-batch.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { randomHex } from '../util/random.js';

/** Run ids are `run-` and 32 hex digits; nothing else ever names a folder. */
const RUN_ID_PATTERN = /^run-[0-9a-f]{32}$/;
const KEY_PATTERN = /^[a-z][a-z0-9_]*$/;
/** Folders of run records being created. */
const INCOMPLETE_PREFIX = '.new-';
/**
 * A run's first record, every key in one JSON file (one write and one fsync
 * where a file per key would take six). Never rewritten: a key written later
 * gets its own file, which wins over this one.
 */
const FIRST_RECORD = 'record.json';
/** How many runs' first records are kept parsed (they never change). */
const FIRST_RECORD_CACHE = 1024;

/** True when `runId` has the shape of a run id this server makes. */
export function isRunId(runId: string): boolean {
  return RUN_ID_PATTERN.test(runId);
}

/** The names in `dir` that are run ids (none when the folder does not exist). */
export async function runIdsIn(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter(isRunId);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/**
 * The names in `dir` that are run ids, in batches of up to `size` (none when
 * the folder does not exist): a folder of many runs costs no list of all
 * their names in memory (whose high-water mark the process keeps). Each batch
 * is read synchronously from the open folder (about a millisecond) and the
 * event loop gets a turn between batches: a promise per name made the scan
 * of 100,000 runs three times slower, and it is on the start-up path.
 */
export async function* runIdBatchesIn(dir: string, size = 1024): AsyncGenerator<string[]> {
  let entries: Dir;
  try {
    entries = await fs.opendir(dir, { bufferSize: size });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    for (let done = false; !done; ) {
      const batch: string[] = [];
      while (batch.length < size) {
        const entry = entries.readSync();
        if (entry === null) {
          done = true;
          break;
        }
        if (isRunId(entry.name)) batch.push(entry.name);
      }
      if (batch.length > 0) yield batch;
    }
  } finally {
    await entries.close().catch(() => undefined);
  }
}

/**
 * A key/value store per run: the record of a run's state that survives the
 * server. Every write is atomic; read-modify-write goes through `update`,
 * which holds a cross-process lock for the run.
 */
export interface StateStore {
  get(runId: string, key: string): Promise<string | null>;
  set(runId: string, key: string, value: string): Promise<void>;
  /**
   * Reads `key`, calls `fn` with it and writes what `fn` returns (null: no
   * write), all under the run's lock. Returns the value now stored.
   */
  update(runId: string, key: string, fn: (current: string | null) => string | null): Promise<string | null>;
  /**
   * Writes `key` only if the run has none yet, in one atomic step that needs
   * no lock; returns the value now stored (`value`, or the one that was
   * there). For a key that is written once and read by many, such as who
   * drives a run.
   */
  createKey(runId: string, key: string, value: string): Promise<string>;
  /**
   * Creates a run's record with its first keys, all at once: readers see
   * either no run or all of them. Fails if the run exists.
   */
  create(runId: string, record: Record<string, string>): Promise<void>;
  /**
   * Writes a run's first record without making it visible yet: `publish`
   * makes it appear all at once (failing if the run exists), `discard` drops
   * it unseen. Not flushed to disk when `durable` is false (the caller has
   * made it durable another way).
   */
  prepare(runId: string, record: Record<string, string>, opts?: { durable?: boolean }): Promise<PreparedRecord>;
  /**
   * Puts back a run's first record when it is missing or unreadable (a
   * machine crash lost it); keys written later are left alone. Returns
   * whether anything was written.
   */
  restoreFirstRecord(runId: string, record: Record<string, string>): Promise<boolean>;
  /** Removes what creations cut short by a crash left (call when none can be in progress). */
  sweepIncomplete(): Promise<void>;
  /** Every key of a run at once (absent run: empty object). */
  getAll(runId: string): Promise<Record<string, string>>;
  /** Whether the store holds anything for the run. */
  has(runId: string): Promise<boolean>;
  /** Every run id in the store (for rebuilding indexes; cost grows with the number of runs). */
  listRunIds(): Promise<string[]>;
  /** The same in batches, without a list of them all. */
  runIdBatches(): AsyncIterable<string[]>;
  /** Removes a run's record, every key of it (a submission undone half way, a run deleted). */
  remove(runId: string): Promise<void>;
}

/** A run record written but not yet visible (see StateStore.prepare). */
export interface PreparedRecord {
  /** Makes the record appear, all at once. */
  publish(): Promise<void>;
  /** Drops it unseen. */
  discard(): Promise<void>;
}

function check(runId: string, key?: string): void {
  if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
  if (key !== undefined && !KEY_PATTERN.test(key)) throw new Error(`invalid state key '${key}'`);
}

/**
 * The embedded default: plain text files `<root>/<run_id>/<key>`, over the
 * run's first record `<root>/<run_id>/record.json` (see FIRST_RECORD).
 */
export class LocalStateStore implements StateStore {
  /** Serialises this process's writers per run before they take the cross-process lock. */
  private readonly local = new KeyedLock();
  private readonly firstRecords = new LRUCache<string, Record<string, string>>({ max: FIRST_RECORD_CACHE });
  /**
   * Runs removed lately: a read of a first record that was under way while
   * its run was removed must not put it back in the cache (run ids are never
   * reused, so remembering the last few thousand is enough).
   */
  private readonly removed = new LRUCache<string, true>({ max: FIRST_RECORD_CACHE * 4 });

  constructor(readonly root: string) {}

  private locked<T>(runId: string, dir: string, fn: () => Promise<T>): Promise<T> {
    return this.local.run(runId, () => withGlobalMutex(dir, 'store', fn));
  }

  private file(runId: string, key: string): string {
    check(runId, key);
    return path.join(this.root, runId, key);
  }

  async get(runId: string, key: string): Promise<string | null> {
    try {
      return await fs.readFile(this.file(runId, key), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return (await this.firstRecord(runId))[key] ?? null;
      throw err;
    }
  }

  /** The run's first record (empty while there is none); parsed once, as it never changes. */
  private async firstRecord(runId: string): Promise<Record<string, string>> {
    const cached = this.firstRecords.get(runId);
    if (cached) return cached;
    let text: string;
    try {
      text = await fs.readFile(path.join(this.root, runId, FIRST_RECORD), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return {};
      throw err;
    }
    const parsed = JSON.parse(text) as unknown;
    const record: Record<string, string> = {};
    if (typeof parsed === 'object' && parsed !== null) {
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' && KEY_PATTERN.test(k)) record[k] = v;
    }
    if (!this.removed.has(runId)) this.firstRecords.set(runId, record);
    return record;
  }

  /**
   * A new key is created atomically without the lock (a rename cannot be
   * seen half done); overwriting an existing one takes the run's lock, so it
   * never interleaves with an `update`.
   */
  async set(runId: string, key: string, value: string): Promise<void> {
    const file = this.file(runId, key);
    // The run's folder is made only when a write finds it missing (see inFolder), not looked for each time.
    if ((await this.get(runId, key)) === null) return inFolder(path.dirname(file), () => atomicFileCreate(file, value));
    await this.locked(runId, path.dirname(file), () => atomicFileCreate(file, value));
  }

  async update(runId: string, key: string, fn: (current: string | null) => string | null): Promise<string | null> {
    const file = this.file(runId, key);
    // Taking the lock makes the run's folder if it is missing (the lock lives inside it).
    return this.locked(runId, path.dirname(file), async () => {
      const current = await this.get(runId, key);
      const next = fn(current);
      if (next === null || next === current) return current;
      await atomicFileCreate(file, next);
      return next;
    });
  }

  /**
   * The value goes into a temporary file (flushed), which is then linked
   * under the key's name: link(2) refuses a name that exists, so of two
   * writers exactly one wins, and a reader sees no key or the whole value.
   * A key held by the first record counts as there.
   */
  async createKey(runId: string, key: string, value: string): Promise<string> {
    const file = this.file(runId, key);
    const held = await this.get(runId, key);
    if (held !== null) return held;
    const tmp = path.join(path.dirname(file), `.${key}.${process.pid}.${randomHex(6)}.tmp`);
    try {
      await writeFileDurable(tmp, value);
      await fs.link(tmp, file);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      return (await this.get(runId, key)) ?? value;
    } finally {
      await fs.unlink(tmp).catch(() => undefined);
    }
    await syncDir(path.dirname(file));
    return value;
  }

  async create(runId: string, record: Record<string, string>): Promise<void> {
    await (await this.prepare(runId, record)).publish();
  }

  /**
   * The first half of `create`, for callers that have other durable work to
   * do meanwhile: the record is written as one file into a fresh folder
   * beside the runs, file and folder fsynced (unless `durable` is false: the
   * caller has made it durable another way, see SubmissionJournal); `publish`
   * then renames it into place
   * (one atomic step, no lock: the run id is new, and rename(2) refuses to
   * replace a folder that holds anything). A crash before that leaves a
   * `.new-` folder, which is no run and is swept by `sweepIncomplete`.
   */
  async prepare(runId: string, record: Record<string, string>, opts: { durable?: boolean } = {}): Promise<PreparedRecord> {
    check(runId);
    for (const key of Object.keys(record)) check(runId, key);
    const durable = opts.durable ?? true;
    const tmp = path.join(this.root, `${INCOMPLETE_PREFIX}${runId}.${randomHex(6)}`);
    const discard = (): Promise<void> => fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    try {
      if (durable) {
        await inFolder(this.root, () => fs.mkdir(tmp));
        await writeFileDurable(path.join(tmp, FIRST_RECORD), JSON.stringify(record));
        await syncDir(tmp);
      } else {
        // Not durable (a journal entry stands for it): both in one batch, off the server's thread.
        const data = Buffer.from(JSON.stringify(record));
        await inFolder(this.root, () =>
          fileBatches().run([
            { op: 'mkdir', path: tmp },
            { op: 'create', path: path.join(tmp, FIRST_RECORD), data },
          ]),
        );
      }
    } catch (err) {
      await discard();
      throw err;
    }
    return {
      publish: async () => {
        try {
          if (durable) await fs.rename(tmp, path.join(this.root, runId));
          else await fileBatches().run([{ op: 'rename', from: tmp, to: path.join(this.root, runId) }]);
        } catch (err) {
          await discard();
          if (['EEXIST', 'ENOTEMPTY'].includes(errnoCode(err) ?? '')) throw new Error(`run '${runId}' exists already`);
          throw err;
        }
        if (durable) await syncDirShared(this.root);
      },
      discard,
    };
  }

  /**
   * Puts back a run's first record when it is missing or unreadable (a
   * machine crash lost it; see SubmissionJournal). Keys written later are
   * left alone. Returns whether anything was written.
   */
  async restoreFirstRecord(runId: string, record: Record<string, string>): Promise<boolean> {
    check(runId);
    const file = path.join(this.root, runId, FIRST_RECORD);
    const text = await fs.readFile(file, 'utf8').catch(() => null);
    if (text !== null) {
      try {
        JSON.parse(text);
        return false;
      } catch {
        // torn: written again below
      }
    }
    this.firstRecords.delete(runId);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await atomicFileCreate(file, JSON.stringify(record));
    return true;
  }

  /** Removes what creations cut short by a crash left (call when none can be in progress). */
  async sweepIncomplete(): Promise<void> {
    const names = await fs.readdir(this.root).catch((): string[] => []);
    await Promise.all(names.filter((n) => n.startsWith(INCOMPLETE_PREFIX)).map((n) => fs.rm(path.join(this.root, n), { recursive: true, force: true })));
  }

  async getAll(runId: string): Promise<Record<string, string>> {
    check(runId);
    const dir = path.join(this.root, runId);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return {};
      throw err;
    }
    const out: Record<string, string> = names.includes(FIRST_RECORD) ? { ...(await this.firstRecord(runId)) } : {};
    await Promise.all(
      names
        .filter((n) => KEY_PATTERN.test(n))
        .map(async (n) => {
          const v = await this.get(runId, n);
          if (v !== null) out[n] = v;
        }),
    );
    return out;
  }

  async has(runId: string): Promise<boolean> {
    if (!isRunId(runId)) return false;
    return (await this.get(runId, 'state')) !== null;
  }

  listRunIds(): Promise<string[]> {
    return runIdsIn(this.root);
  }

  runIdBatches(): AsyncIterable<string[]> {
    return runIdBatchesIn(this.root);
  }

  async remove(runId: string): Promise<void> {
    check(runId);
    this.removed.set(runId, true);
    this.firstRecords.delete(runId);
    await fs.rm(path.join(this.root, runId), { recursive: true, force: true, maxRetries: 3 });
  }
}
