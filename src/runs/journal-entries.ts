/**
 * The reading side of the submission journal (see SubmissionJournal): its
 * entries as they are on disk, and the recovery that rebuilds acknowledged
 * runs from them at start.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { syncDir } from '../util/atomic-file.js';
import { errnoCode } from '../util/errors.js';
import type { ActiveRuns } from './active-runs.js';
import { isTerminal, type State } from './state-machine.js';
import { isRunId, type StateStore } from './state-store.js';

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

/** `<store>/.journal`. */
export function journalDir(stateStore: string): string {
  return path.join(stateStore, '.journal');
}

/** syncfs(2) on the file systems holding `roots`, through coreutils' `sync --file-system`. */
export function syncFileSystems(roots: string[]): Promise<void> {
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

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

/**
 * What the journal in `dir` would rebuild: every entry, in the order written,
 * less those withdrawn, with the names of the journal's files. Lines that
 * cannot be read (a batch torn by a crash, never acknowledged) are skipped,
 * as are files of one entry each (`<run_id>.json`, as servers before
 * segments wrote them) that are torn or named for another run.
 */
export async function readJournal(stateStore: string): Promise<{ entries: JournalEntry[]; names: string[] }> {
  const dir = journalDir(stateStore);
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json') || n.endsWith('.jsonl')).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { entries: [], names: [] };
    throw err;
  }
  const entries = new Map<string, JournalEntry>();
  const withdrawn = new Set<string>();
  for (const name of names) {
    const text = await fs.readFile(path.join(dir, name), 'utf8').catch(() => '');
    if (name.endsWith('.json')) {
      const entry = parseLine(text);
      if (isEntry(entry) && name === `${entry.run_id}.json`) entries.set(entry.run_id, entry);
      continue;
    }
    for (const line of text.split('\n')) {
      const v = parseLine(line);
      if (isEntry(v)) entries.set(v.run_id, v);
      else if (typeof v === 'object' && v !== null && typeof (v as { withdrawn?: unknown }).withdrawn === 'string') withdrawn.add((v as { withdrawn: string }).withdrawn);
    }
  }
  return { entries: [...entries.values()].filter((e) => !withdrawn.has(e.run_id)), names };
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
  const { entries, names } = await readJournal(opts.stateStore);
  const repaired: string[] = [];
  for (const entry of entries) {
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
