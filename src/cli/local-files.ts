/**
 * The local files a submission attaches, gathered from the workflow's
 * references and the inputs, and their names as attachments: paths relative
 * to the one folder that holds them all, so their layout survives.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './context.js';

/** Where a reference leads: a local path, or somewhere only the server reaches (a URL, the same document). */
export type Reference = { local: string } | { remote: string };

/**
 * Resolves a reference written in a document or an inputs file at `baseDir`:
 * a relative path or URI, an absolute path, or a `file://` URL are local;
 * http(s) and other schemes, and `#fragments` of the same document, are not.
 * The fragment and query of a local reference are dropped.
 */
export function resolveReference(ref: string, baseDir: string): Reference {
  if (ref.startsWith('#') || ref === '') return { remote: ref };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(ref)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    try {
      return { local: fileURLToPath(ref.replace(/[?#].*$/s, '')) };
    } catch {
      throw new CliError(`not a local file URL: '${ref}'`);
    }
  }
  // A one-letter "scheme" is a Windows drive, which this client does not run on; anything longer is a URL.
  if (scheme !== undefined && scheme.length > 1) return { remote: ref };
  return { local: path.resolve(baseDir, ref.replace(/#.*$/s, '')) };
}

/** A local path as written, or decoded when only the decoded one exists (references are URIs: `my%20tool.cwl`). */
export async function existingPath(p: string): Promise<string | null> {
  for (const candidate of [p, safeDecode(p)]) {
    if (candidate !== null && (await fs.stat(candidate).catch(() => null))) return candidate;
  }
  return null;
}

function safeDecode(p: string): string | null {
  try {
    const decoded = decodeURIComponent(p);
    return decoded === p ? null : decoded;
  } catch {
    return null;
  }
}

/** The files a submission attaches, by absolute path, and what the client should be told about them. */
export class LocalFiles {
  readonly files = new Set<string>();
  readonly warnings: string[] = [];

  /**
   * Adds a file, or each file under a folder (empty folders cannot be
   * attached); a path that does not exist is an error naming `what` needed it.
   * Returns the path found (decoded when it had to be) and its kind.
   */
  async add(p: string, what: string): Promise<{ path: string; kind: 'file' | 'folder' }> {
    const found = await existingPath(p);
    if (found === null) throw new CliError(`${what}: ${p} does not exist`);
    const stat = await fs.stat(found);
    if (stat.isDirectory()) {
      for (const file of await filesUnder(found)) this.files.add(file);
      return { path: found, kind: 'folder' };
    }
    if (!stat.isFile()) throw new CliError(`${what}: ${found} is not a file or a folder`);
    this.files.add(found);
    return { path: found, kind: 'file' };
  }
}

/** Every file under a folder, following no links to folders (a link to a file counts as that file). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile() || (entry.isSymbolicLink() && (await fs.stat(full).catch(() => null))?.isFile())) out.push(full);
  }
  return out;
}

/** The deepest folder holding every path given. */
export function commonRoot(paths: Iterable<string>): string {
  let root: string[] | undefined;
  for (const p of paths) {
    const parts = path.dirname(path.resolve(p)).split(path.sep);
    if (root === undefined) root = parts;
    else {
      let i = 0;
      while (i < root.length && i < parts.length && root[i] === parts[i]) i++;
      root = root.slice(0, i);
    }
  }
  return root === undefined ? process.cwd() : root.join(path.sep) || path.sep;
}

/**
 * A file's name as an attachment: its path under the root, `/`-separated.
 * Names the server would refuse (a backslash or a control character) are
 * refused here, before anything is sent.
 */
export function attachmentName(root: string, file: string): string {
  const name = path.relative(root, file).split(path.sep).join('/');
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(name)) throw new CliError(`cannot attach '${name}': a backslash or a control character in its name`);
  return name;
}
