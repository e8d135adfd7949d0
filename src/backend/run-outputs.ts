/**
 * A run's outputs over HTTP: the run log's `outputs` with every File and
 * Directory located under the run's outputs route instead of the server's
 * own paths, the files of the outputs folder listed and found by their path
 * inside it, never by a link that leads out of it.
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ToilWorkflow } from '../runs/workflow.js';
import { errnoCode, MalformedRequestError, NotFoundError } from '../util/errors.js';
import { isInside } from '../util/path-safety.js';
import { LOCAL_PATH, type ApiLinks } from './api-links.js';

/** A file of the outputs folder, as it is now. */
export interface OutputFile {
  kind: 'file';
  /** Where it is on this machine (its real path, inside the outputs folder). */
  path: string;
  /** Its path inside the outputs folder, `/`-separated. */
  relative: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** A folder of the outputs folder, with what is in it. */
export interface OutputFolder {
  kind: 'directory';
  relative: string;
  entries: { name: string; directory: boolean; size?: number }[];
}

/** The CWL fields that hold paths of this machine: never shown to a client. */
const SERVER_PATH_FIELDS = new Set(['path', 'dirname']);

/**
 * The outputs a client sees: every File and Directory whose location lies in
 * the run's outputs folder gets its URL there instead (`location`), and loses
 * the fields naming server paths; the rest (class, basename, size, checksum,
 * secondaryFiles, listing, format…) stays. Nothing is changed in place.
 */
export function publicOutputs(outputs: Record<string, unknown>, wf: ToilWorkflow, links: ApiLinks): Record<string, unknown> {
  const root = wf.outputsDir;
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value !== 'object' || value === null) return value;
    const obj = value as Record<string, unknown>;
    const isFileOrFolder = obj.class === 'File' || obj.class === 'Directory';
    const out: Record<string, unknown> & { [LOCAL_PATH]?: string } = {};
    for (const [key, v] of Object.entries(obj)) {
      if (isFileOrFolder && SERVER_PATH_FIELDS.has(key)) continue;
      out[key] = isFileOrFolder && key === 'location' ? publicLocation(v, root, wf.runId, links) : visit(v);
    }
    const local = isFileOrFolder && typeof obj.location === 'string' ? localPath(obj.location) : null;
    if (local !== null && isInside(root, local) && local !== root) out[LOCAL_PATH] = local;
    return out;
  };
  return visit(outputs) as Record<string, unknown>;
}

function publicLocation(location: unknown, root: string, runId: string, links: ApiLinks): unknown {
  const local = typeof location === 'string' ? localPath(location) : null;
  if (local === null || !isInside(root, local) || local === root) return location;
  return links.output(runId, path.relative(root, local).split(path.sep).join('/'));
}

function localPath(location: string): string | null {
  if (location.startsWith('/')) return path.resolve(location);
  if (!location.startsWith('file://')) return null;
  try {
    return fileURLToPath(location);
  } catch {
    return null;
  }
}

/** Checksums the engine reported, by path inside the outputs folder. */
export function reportedChecksums(outputs: Record<string, unknown>, root: string): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (typeof value !== 'object' || value === null) return;
    const obj = value as Record<string, unknown>;
    if (obj.class === 'File' && typeof obj.checksum === 'string' && typeof obj.location === 'string') {
      const local = localPath(obj.location);
      if (local !== null && isInside(root, local)) found.set(path.relative(root, local).split(path.sep).join('/'), obj.checksum);
    }
    Object.values(obj).forEach(visit);
  };
  visit(outputs);
  return found;
}

/** The real path of the outputs folder, or a 404 when the run has none. */
async function outputsRoot(wf: ToilWorkflow): Promise<string> {
  try {
    return await fs.realpath(wf.outputsDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`Run '${wf.runId}' has no outputs.`);
    throw err;
  }
}

/**
 * A file or folder of the run's outputs by its path inside the outputs
 * folder, or a 404: for an empty, `.` or `..` part, and for anything whose
 * real path (links followed) is not inside the outputs folder.
 */
export async function findOutput(wf: ToilWorkflow, relative: string): Promise<OutputFile | OutputFolder> {
  const notFound = (): NotFoundError => new NotFoundError(`Run '${wf.runId}' has no output '${relative}'.`);
  const parts = relative.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0'))) throw notFound();
  const root = await outputsRoot(wf);
  const real = await fs.realpath(path.join(root, ...parts)).catch(() => null);
  if (real === null || real === root || !isInside(root, real)) throw notFound();
  const st = await fs.stat(real).catch(() => null);
  const clean = parts.join('/');
  if (st?.isFile()) return { kind: 'file', path: real, relative: clean, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  if (!st?.isDirectory()) throw notFound();
  const entries: OutputFolder['entries'] = [];
  for (const entry of await readFolder(real)) {
    const found = await entryInside(root, path.join(real, entry.name), entry);
    if (found) entries.push({ name: entry.name, ...found });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { kind: 'directory', relative: clean, entries };
}

/** What a folder entry is, counting a link only when it leads inside `root`; null for anything else. */
async function entryInside(root: string, full: string, entry: Dirent): Promise<{ directory: boolean; size?: number; real: string } | null> {
  let real = full;
  if (entry.isSymbolicLink()) {
    const target = await fs.realpath(full).catch(() => null);
    if (target === null || target === root || !isInside(root, target)) return null;
    real = target;
  } else if (!entry.isFile() && !entry.isDirectory()) {
    return null;
  }
  const st = await fs.stat(real).catch(() => null);
  if (st?.isDirectory()) return { directory: true, real };
  if (st?.isFile()) return { directory: false, size: st.size, real };
  return null;
}

async function readFolder(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/**
 * Every file of the outputs folder, by path inside it, sorted, one at a
 * time: sub-folders walked, links counted only when they lead to a file
 * inside (links to folders are not walked: no loop, no escape).
 */
export async function* outputFiles(wf: ToilWorkflow): AsyncGenerator<OutputFile> {
  const root = await outputsRoot(wf);
  async function* walk(dir: string, prefix: string): AsyncGenerator<OutputFile> {
    const entries = (await readFolder(dir)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        yield* walk(full, relative);
        continue;
      }
      const found = await entryInside(root, full, entry);
      if (!found || found.directory) continue;
      const st = await fs.stat(found.real).catch(() => null);
      if (st?.isFile()) yield { kind: 'file', path: found.real, relative, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    }
  }
  yield* walk(root, '');
}

/** A page of the outputs folder's files: those after the token's path, in path order. */
export async function outputPage(wf: ToilWorkflow, pageSize: number, token: string | undefined): Promise<{ files: OutputFile[]; next: string }> {
  let after = '';
  if (token) {
    after = Buffer.from(token, 'base64url').toString('utf8');
    if (!after || Buffer.from(after, 'utf8').toString('base64url') !== token) throw new MalformedRequestError(`page_token '${token}' is not one Ferry gave out.`);
  }
  const files: OutputFile[] = [];
  for await (const file of outputFiles(wf)) {
    if (after && !(compare(file.relative, after) > 0)) continue;
    if (files.length === pageSize) return { files, next: Buffer.from(files[files.length - 1]!.relative, 'utf8').toString('base64url') };
    files.push(file);
  }
  return { files, next: '' };
}

/** The walk's order: folder by folder, names by code unit (so `a/b` sorts as its parts). */
function compare(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}
