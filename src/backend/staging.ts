import fs from 'node:fs/promises';
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { JOURNAL_MAX_BYTES } from '../runs/submission-journal.js';
import { inFolder, syncDir, syncDirShared, syncFile } from '../util/atomic-file.js';
import { errnoCode, MalformedRequestError, unmaskMkdirError } from '../util/errors.js';
import { fileBatches, type TreeEntry } from '../util/file-batch.js';
import { checkRelativeName } from '../util/path-safety.js';
import { randomHex } from '../util/random.js';

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
  /** Copies of small files as they were written, by absolute path. */
  private readonly kept = new Map<string, Buffer[]>();
  private keptBytes = 0;
  /** Set once the copies outgrew their budget: the submission is too big for `contents`. */
  private overBudget = false;

  private constructor(
    readonly dir: string,
    readonly executionDir: string,
  ) {}

  static async create(workDir: string): Promise<Staging> {
    const dir = path.join(stagingRoot(workDir), `${Date.now()}-${randomHex(8)}`);
    const executionDir = path.join(dir, 'execution');
    try {
      await inFolder(stagingRoot(workDir), () =>
        fileBatches().run([
          { op: 'mkdir', path: dir },
          { op: 'mkdir', path: executionDir },
        ]),
      );
    } catch (err) {
      throw await unmaskMkdirError(err);
    }
    return new Staging(dir, executionDir);
  }

  /**
   * Where an attachment called `filename` goes. Sub-folders are kept; a name
   * that is empty, absolute, climbs with `..`, holds a backslash or a control
   * character is refused with a 400. A name received before comes back with
   * `repeat` set: its bytes must then go through {@link receiveRepeat}.
   */
  async attachmentPath(filename: string): Promise<{ name: string; path: string; repeat: boolean }> {
    if (this.discarded) throw new MalformedRequestError('The submission was abandoned.');
    const name = checkAttachmentName(filename);
    if (name === 'wes_inputs.json' || name.startsWith('wes_inputs.json/')) {
      throw new MalformedRequestError("workflow_attachment 'wes_inputs.json' is a name Ferry keeps for the run's inputs; send them as workflow_params.");
    }
    // toil-wes-cwl-runner attaches a file that both the workflow and its inputs name twice.
    if (this.names.has(name)) return { name, path: path.join(this.executionDir, name), repeat: true };
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
    return { name, path: path.join(this.executionDir, name), repeat: false };
  }

  /**
   * Reads a repeated attachment's bytes and compares them with those already
   * received under its name, writing nothing: the same bytes are accepted
   * (the file is kept once), different ones are refused with a 400 as soon
   * as they differ. Returns the size read.
   */
  async receiveRepeat(name: string, file: string, source: AsyncIterable<Buffer>): Promise<number> {
    const differs = (): never => {
      throw new MalformedRequestError(`workflow_attachment '${name}' is attached more than once, with different contents.`);
    };
    const handle = await fs.open(file, 'r');
    try {
      const { size: expected } = await handle.stat();
      const held = Buffer.alloc(64 * 1024);
      let size = 0;
      for await (const chunk of source) {
        if (size + chunk.length > expected) differs();
        for (let done = 0; done < chunk.length; ) {
          const want = Math.min(held.length, chunk.length - done);
          const { bytesRead } = await handle.read(held, 0, want, size + done);
          if (bytesRead === 0 || !held.subarray(0, bytesRead).equals(chunk.subarray(done, done + bytesRead))) differs();
          done += bytesRead;
        }
        size += chunk.length;
      }
      if (size !== expected) differs();
      return size;
    } finally {
      await handle.close();
    }
  }

  /**
   * Writes a stream into a new file of the submission (`wx`), keeping a copy
   * while the copies of the whole submission stay within `maxKeep` bytes,
   * by default what one journal entry may hold (past that, all are dropped:
   * see `contents`). A small file is written in
   * one call once it has all arrived; a bigger one is written as it comes,
   * in batches of what arrived during the previous write. Returns its size.
   */
  async receive(file: string, source: AsyncIterable<Buffer>, maxKeep = JOURNAL_MAX_BYTES): Promise<number> {
    const copy: Buffer[] = [];
    this.kept.set(file, copy);
    let handle: FileHandle | undefined;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (!this.overBudget) {
          this.keptBytes += chunk.length;
          if (this.keptBytes > maxKeep) {
            this.overBudget = true;
            this.kept.clear();
          } else {
            copy.push(chunk);
          }
        }
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH_BYTES) {
          handle ??= await fs.open(file, 'wx');
          await writeAll(handle, pending);
          pending = [];
          pendingBytes = 0;
        }
      }
      if (handle) await writeAll(handle, pending);
      else await fileBatches().run([{ op: 'create', path: file, data: pending.length === 1 ? pending[0]! : Buffer.concat(pending) }]);
    } finally {
      await handle?.close();
    }
    return size;
  }

  /** The first `n` bytes of a file written through `receive` or `writeKept`, when a copy is kept. */
  keptHead(file: string, n: number): Buffer | undefined {
    const chunks = this.kept.get(file);
    return chunks ? Buffer.concat(chunks, Math.min(n, chunks.reduce((a, c) => a + c.length, 0))) : undefined;
  }

  /** Writes a new file in the submission and keeps a copy of it. */
  async writeKept(file: string, data: string): Promise<void> {
    const buf = Buffer.from(data);
    await fileBatches().run([{ op: 'create', path: file, data: buf }]);
    if (this.overBudget) return;
    this.kept.set(file, [buf]);
    this.keptBytes += buf.length;
  }

  /**
   * Everything in the submission, as paths relative to its folder with
   * their contents: what a SubmissionJournal entry holds. Files written
   * without a kept copy are read back. Null when the submission holds more
   * than `maxBytes` or `maxFiles`, or anything but files and folders.
   */
  async contents(maxBytes: number, maxFiles: number): Promise<{ dirs: string[]; files: Record<string, Buffer> } | null> {
    if (this.overBudget) return null;
    const dirs: string[] = [];
    const files: Record<string, Buffer> = {};
    let bytes = 0;
    let count = 0;
    const entries: TreeEntry[] = await fileBatches().tree(this.dir);
    for (const { rel, kind } of entries) {
      if (kind === 'dir') {
        dirs.push(rel);
        continue;
      }
      if (kind !== 'file' || ++count > maxFiles) return null;
      const abs = path.join(this.dir, rel);
      const chunks = this.kept.get(abs);
      const data = chunks ? Buffer.concat(chunks) : await readSmall(abs, maxBytes - bytes);
      if (data === null) return null;
      bytes += data.length;
      if (bytes > maxBytes) return null;
      files[rel] = data;
    }
    return { dirs, files };
  }

  /** Attachment names received so far. */
  get attachmentNames(): ReadonlySet<string> {
    return this.names;
  }

  /** The folders the attachments received so far lie in (`a` and `a/b` for `a/b/c.txt`). */
  get attachmentFolders(): ReadonlySet<string> {
    return this.folders;
  }

  /**
   * Makes everything in the submission durable at once: every file and
   * folder in it is fsynced side by side (the file system can then commit
   * them together), so that once moved it survives a crash. Writers into a
   * staging folder write plainly; nothing there counts until this is done.
   */
  async sync(): Promise<void> {
    const dirs: string[] = [];
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      dirs.push(dir);
      const entries = await fs.readdir(dir, { withFileTypes: true });
      await Promise.all(
        entries.map(async (entry) => {
          const p = path.join(dir, entry.name);
          if (entry.isDirectory()) await walk(p);
          else if (entry.isFile()) files.push(p);
        }),
      );
    };
    await walk(this.dir);
    await Promise.all([...files.map(syncFile), ...dirs.map(syncDir)]);
  }

  /**
   * Moves the (synced) submission to `dest` in one rename, made durable
   * (with the other submissions' renames of the moment) unless `durable` is
   * false (a SubmissionJournal entry stands for it).
   */
  async moveTo(dest: string, durable = true): Promise<void> {
    if (!durable) return void (await fileBatches().run([{ op: 'rename', from: this.dir, to: dest }]));
    await fs.rename(this.dir, dest);
    await syncDirShared(path.dirname(dest));
  }

  /** Removes everything the submission wrote. */
  async discard(): Promise<void> {
    this.discarded = true;
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** Files bigger than this are written as they arrive rather than in one call at the end. */
const WRITE_BATCH_BYTES = 256 * 1024;

/** Writes every byte of `chunks` at the handle's position (writev may write less than asked). */
async function writeAll(handle: FileHandle, chunks: Buffer[]): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length;
      rest.shift();
    }
    if (rest.length > 0 && bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

/** A file's content if it is at most `max` bytes, else null. */
async function readSmall(file: string, max: number): Promise<Buffer | null> {
  const handle = await fs.open(file, 'r');
  try {
    if ((await handle.stat()).size > max) return null;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** `<workDir>/.staging`: cleared at start-up of anything a crash left. */
export function stagingRoot(workDir: string): string {
  return path.join(workDir, '.staging');
}

/**
 * Validates an attachment's file name and returns it normalised (`a//b` →
 * `a/b`); throws a 400 saying what is wrong with it (see checkRelativeName).
 */
export function checkAttachmentName(filename: string): string {
  return checkRelativeName(filename, { subject: 'workflow_attachment filename', emptyParts: 'collapse' });
}
