import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDir, syncDirShared } from '../util/atomic-file.js';
import { errnoCode, MalformedRequestError, unmaskMkdirError } from '../util/errors.js';

const MAX_NAME_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;

/**
 * A submission's folder while it is being received and validated. It lives
 * under `<workDir>/.staging/` and becomes the run folder with one rename when
 * everything checks out, or is removed: a rejected submission leaves nothing.
 */
export class Staging {
  private readonly names = new Set<string>();
  private readonly folders = new Set<string>();
  /** Set once discarded: nothing more may be written into it. */
  private discarded = false;

  private constructor(
    readonly dir: string,
    readonly executionDir: string,
  ) {}

  static async create(workDir: string): Promise<Staging> {
    const dir = path.join(stagingRoot(workDir), `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const executionDir = path.join(dir, 'execution');
    try {
      await fs.mkdir(executionDir, { recursive: true });
    } catch (err) {
      throw await unmaskMkdirError(err);
    }
    return new Staging(dir, executionDir);
  }

  /**
   * Where an attachment called `filename` goes. Sub-folders are kept; a name
   * that is empty, absolute, climbs with `..`, holds a backslash or a control
   * character, or repeats an earlier one is refused with a 400.
   */
  async attachmentPath(filename: string): Promise<{ name: string; path: string }> {
    if (this.discarded) throw new MalformedRequestError('The submission was abandoned.');
    const name = checkAttachmentName(filename);
    if (name === 'wes_inputs.json' || name.startsWith('wes_inputs.json/')) {
      throw new MalformedRequestError("workflow_attachment 'wes_inputs.json' is a name Ferry keeps for the run's inputs; send them as workflow_params.");
    }
    if (this.names.has(name)) throw new MalformedRequestError(`workflow_attachment '${name}' is attached more than once.`);
    const parts = name.split('/');
    const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
    if (this.folders.has(name) || parents.some((p) => this.names.has(p))) {
      throw new MalformedRequestError(`workflow_attachment '${name}' clashes with another attachment (a file and a folder of the same name).`);
    }
    this.names.add(name);
    for (const p of parents) this.folders.add(p);
    // Sub-folders one by one below execution/, never the staging folder itself: a
    // submission discarded meanwhile (its client gone) must not be made again.
    for (const p of parents) {
      await fs.mkdir(path.join(this.executionDir, p)).catch((err: unknown) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
      });
    }
    return { name, path: path.join(this.executionDir, name) };
  }

  /** Attachment names received so far. */
  get attachmentNames(): ReadonlySet<string> {
    return this.names;
  }

  /**
   * Makes the submission's folders durable (in parallel), so that once moved
   * it survives a crash. Its files are flushed as they are written: every
   * writer into a staging folder opens them with `flush: true` (or fsyncs
   * a copy), so only the folders' entries are left to sync here.
   */
  async sync(): Promise<void> {
    const dirs: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      dirs.push(dir);
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(path.join(dir, entry.name));
      }
    };
    await walk(this.dir);
    await Promise.all(dirs.map(syncDir));
  }

  /** Moves the (synced) submission to `dest` in one rename, made durable (with the other submissions' renames of the moment). */
  async moveTo(dest: string): Promise<void> {
    await fs.rename(this.dir, dest);
    await syncDirShared(path.dirname(dest));
  }

  /** Removes everything the submission wrote. */
  async discard(): Promise<void> {
    this.discarded = true;
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** `<workDir>/.staging`: cleared at start-up of anything a crash left. */
export function stagingRoot(workDir: string): string {
  return path.join(workDir, '.staging');
}

/** Validates an attachment's file name and returns it normalised (`a//b` → `a/b`). */
export function checkAttachmentName(filename: string): string {
  const shown = JSON.stringify(filename.length > 200 ? filename.slice(0, 200) + '…' : filename);
  const refuse = (why: string): never => {
    throw new MalformedRequestError(`workflow_attachment filename ${shown} ${why}.`);
  };
  if (filename === '') refuse('is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(filename)) refuse('holds a control character');
  if (filename.includes('\\')) refuse('holds a backslash');
  if (filename.startsWith('/')) refuse('is an absolute path');
  if (Buffer.byteLength(filename) > MAX_NAME_BYTES) refuse('is too long');
  const segments = filename.split('/').filter((s) => s !== '');
  if (segments.length === 0) refuse('names no file');
  for (const s of segments) {
    if (s === '..' || s === '.') refuse(`may not contain '${s}'`);
    if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) refuse('has a part longer than 255 bytes');
  }
  return segments.join('/');
}
