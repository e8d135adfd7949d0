import fs from 'node:fs/promises';
import path from 'node:path';
import { LineTail } from '../util/line-tail.js';
import { withGlobalMutex } from '../util/global-mutex.js';
import { decodePageToken, encodePageToken } from '../util/page-token.js';
import { isRunId, type StateStore } from './state-store.js';
import { RunKeys } from './workflow.js';

/** One run in the listing order. */
export interface IndexEntry {
  seq: number;
  runId: string;
  tags: Record<string, string>;
}

/**
 * The order runs were submitted in, so that listing a page costs the page,
 * not the number of runs. An append-only file of one JSON line per run, kept
 * in memory and followed for lines other processes append. The state store
 * stays the truth: on open, runs the store has but the index lacks (a crash
 * between the two writes) are added.
 */
export class RunIndex {
  private readonly entries: IndexEntry[] = [];
  private readonly byId = new Map<string, IndexEntry>();
  private readonly tail: LineTail;

  private constructor(
    private readonly file: string,
    private readonly store: StateStore,
  ) {
    this.tail = new LineTail(file);
  }

  /** Opens (or rebuilds) the index of `store`, kept in `file`. */
  static async open(
    file: string,
    store: StateStore,
    readTags: (runId: string) => Promise<Record<string, string>> = async () => ({}),
  ): Promise<RunIndex> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const index = new RunIndex(file, store);
    await index.refresh();
    const missing = (await store.listRunIds()).filter((id) => !index.byId.has(id));
    if (missing.length > 0) {
      const withTimes = await Promise.all(
        missing.map(async (id) => ({ id, at: (await store.get(id, RunKeys.submittedAt)) ?? '', exists: await store.has(id) })),
      );
      withTimes.sort((a, b) => a.at.localeCompare(b.at));
      for (const m of withTimes) if (m.exists) await index.add(m.id, await readTags(m.id).catch(() => ({})));
    }
    return index;
  }

  /** Reads lines appended by anyone since the last look. */
  async refresh(): Promise<void> {
    const { lines, reset } = await this.tail.read();
    if (reset) {
      this.entries.length = 0;
      this.byId.clear();
    }
    for (const line of lines) this.ingest(line);
  }

  private ingest(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return; // a damaged line loses one entry of the index, never the run
    }
    const { seq, run_id: runId, tags } = value as { seq?: unknown; run_id?: unknown; tags?: unknown };
    if (typeof seq !== 'number' || typeof runId !== 'string' || !isRunId(runId) || this.byId.has(runId)) return;
    const last = this.entries[this.entries.length - 1];
    if (last && seq <= last.seq) return;
    const entry: IndexEntry = { seq, runId, tags: isStringRecord(tags) ? tags : {} };
    this.entries.push(entry);
    this.byId.set(runId, entry);
  }

  /** Appends a run (under the index's lock, so sequence numbers stay unique across processes). */
  async add(runId: string, tags: Record<string, string>): Promise<void> {
    await withGlobalMutex(path.dirname(this.file), 'run-index', async () => {
      await this.refresh();
      if (this.byId.has(runId)) return;
      const seq = (this.entries[this.entries.length - 1]?.seq ?? 0) + 1;
      // A crash mid-append leaves a torn last line: end it, so this record starts a line of its own.
      const torn = await endsWithoutNewline(this.file);
      await fs.appendFile(this.file, (torn ? '\n' : '') + JSON.stringify({ seq, run_id: runId, tags }) + '\n');
      await this.refresh();
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Every entry, oldest first. */
  all(): readonly IndexEntry[] {
    return this.entries;
  }

  has(runId: string): boolean {
    return this.byId.has(runId);
  }

  /**
   * A page, newest first. The token holds the sequence number to continue
   * below, so runs added meanwhile never shift later pages.
   */
  page(size: number, token?: string): { entries: IndexEntry[]; nextPageToken: string } {
    const below = token ? decodePageToken('runs', token) : Number.MAX_SAFE_INTEGER;
    // Entries are sorted by seq: binary search for the first one >= below.
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.seq < below) lo = mid + 1;
      else hi = mid;
    }
    const end = lo;
    const start = Math.max(0, end - size);
    const entries = this.entries.slice(start, end).reverse();
    const nextPageToken = start > 0 ? encodePageToken('runs', this.entries[start]!.seq) : '';
    return { entries, nextPageToken };
  }
}

async function endsWithoutNewline(file: string): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return false;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    await handle.close();
  }
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}
