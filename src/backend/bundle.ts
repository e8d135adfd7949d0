import { createWriteStream } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { MalformedRequestError, PayloadTooLargeError, WesError, errnoCode } from '../util/errors.js';
import { checkRelativeName, isInside } from '../util/path-safety.js';

/**
 * Workflow bundles: a `workflow.zip` (attached or fetched) that carries a
 * workflow with its tools, inputs and engine options, read as Toil reads them
 * (Amazon Genomics CLI's layout):
 * 1. one file in the zip: that is the workflow;
 * 2. a `MANIFEST.json` at the root: `mainWorkflowURL`, optional
 *    `inputFileURLs` (merged in order) and `optionsFileURL`, all relative
 *    paths inside the zip;
 * 3. else `main.<type>` is the workflow, the root's `inputs*.json` are merged
 *    in name order and `options.json` holds default engine options.
 *
 * The zip comes from the client, so it is read as hostile: names are checked
 * before anything is written, links and special files are refused, sizes are
 * counted as they are inflated (headers lie in zip bombs), every write is
 * checked to stay inside `execution/` and made with `wx`, and every refusal is
 * a WES error (400, or 413 over a limit).
 */

export interface BundleLimits {
  /** Most entries (files and folders) the zip may list. */
  maxZipEntries: number;
  /** Most bytes the zip may inflate to, all entries together. */
  maxZipBytes: number;
}

/** What a bundle asks to run. */
export interface BundleContents {
  /** The workflow file, relative to `execution/`. */
  workflow: string;
  /**
   * The bundle's input files merged in order (later keys win), with relative
   * File/Directory locations rewritten to resolve from `execution/`. Empty
   * when the bundle has none.
   */
  inputs: Record<string, unknown>;
  /** The bundle's default engine options (`{flag: value|null}`), unchecked. Empty when none. */
  options: Record<string, unknown>;
  /** Where the options came from, for messages (`options.json in workflow bundle 'x.zip'`). */
  optionsSource: string;
}

/** Largest JSON file (manifest, inputs, options) read from a bundle into memory. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 64;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** A local file header or an end of central directory (an empty zip). */
function isZipSignature(sig: number): boolean {
  return sig === 0x04034b50 || sig === 0x06054b50;
}

/**
 * Whether a staged workflow file is a zip bundle: its name ends in `.zip`, or
 * it starts with a zip signature (a fetched URL need not end in `.zip`; no
 * workflow language's source starts with those bytes). Python zip
 * applications (`.pyz`) run as they are and are not unpacked.
 */
export async function isZipBundle(file: string, head?: Buffer): Promise<boolean> {
  if (/\.zip$/i.test(file)) return true;
  if (/\.pyzw?$/i.test(file)) return false;
  if (head) return head.length >= 4 && isZipSignature(head.readUInt32LE(0));
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead < 4) return false;
    return isZipSignature(head.readUInt32LE(0));
  } catch {
    return false;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

interface Member {
  /** Canonical name inside the zip, without a trailing slash. */
  name: string;
  dir: boolean;
  entry: yauzl.Entry;
}

/**
 * Unpacks the bundle at `zipPath` next to itself (as Toil does: for a zip at
 * the top of `execution/` that is `execution/`) and works out its workflow,
 * inputs and options for `workflowType` (e.g. `CWL` → `main.cwl`).
 * Throws a WES error when the zip is unsafe, corrupt, over a limit, or does
 * not say which workflow to run; the caller discards the staging folder then.
 */
export async function openBundle(zipPath: string, executionDir: string, workflowType: string, limits: BundleLimits): Promise<BundleContents> {
  const execDir = path.resolve(executionDir);
  const destDir = path.dirname(path.resolve(zipPath));
  const label = `workflow bundle '${toPosix(path.relative(execDir, path.resolve(zipPath)))}'`;
  if (!isInside(execDir, destDir)) throw new Error(`${label} is not inside the run's execution folder`);

  let zip: yauzl.ZipFile;
  try {
    // Names are decoded and checked here (so each refusal says why), and the
    // inflated bytes counted here too: yauzl's own checks are off.
    zip = await yauzl.openPromise(zipPath, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false });
  } catch (err) {
    throw asBundleError(err, label);
  }
  let members: Member[];
  try {
    members = await readCentralDirectory(zip, label, limits);
    await extract(zip, members, destDir, execDir, label, limits);
  } catch (err) {
    throw asBundleError(err, label);
  } finally {
    zip.close();
  }
  const files = members.filter((m) => !m.dir).map((m) => m.name);
  return resolveLayout(files, destDir, execDir, workflowType, label);
}

/** Reads and checks every entry's header before a byte is written. */
async function readCentralDirectory(zip: yauzl.ZipFile, label: string, limits: BundleLimits): Promise<Member[]> {
  if (zip.entryCount > limits.maxZipEntries) {
    throw new PayloadTooLargeError(`${label} holds ${zip.entryCount} entries; at most ${limits.maxZipEntries} are allowed.`);
  }
  if (zip.entryCount === 0) throw new MalformedRequestError(`${label} is an empty zip.`);
  const members: Member[] = [];
  const files = new Set<string>();
  const explicitDirs = new Set<string>();
  /** Every folder some entry lives in, or that an entry names. */
  const folders = new Set<string>();
  let declared = 0;
  for await (const entry of zip.eachEntry()) {
    if (members.length >= limits.maxZipEntries) {
      throw new PayloadTooLargeError(`${label} holds more than ${limits.maxZipEntries} entries.`);
    }
    // UTF-8 when flagged (or from an Info-ZIP Unicode path field), else CP437;
    // strict: a backslash stays a backslash, to be refused, not turned into '/'.
    const raw = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    const dir = raw.endsWith('/');
    const name = checkEntryName(raw, label);
    const what = `${label}: entry ${JSON.stringify(name)}`;

    const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
    if (type === S_IFLNK) throw new MalformedRequestError(`${what} is a symbolic link; bundles may hold only files and folders.`);
    if (type !== 0 && type !== (dir ? S_IFDIR : S_IFREG)) {
      throw new MalformedRequestError(`${what} is not a regular file or folder (mode ${type.toString(8)}).`);
    }
    if (!dir) {
      if (entry.isEncrypted()) throw new MalformedRequestError(`${what} is encrypted.`);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new MalformedRequestError(`${what} uses compression method ${entry.compressionMethod}; only stored and deflated entries are supported.`);
      }
      if (entry.compressionMethod === 0 && entry.compressedSize !== entry.uncompressedSize) {
        throw new MalformedRequestError(`${what} is stored, but its sizes disagree (${entry.compressedSize} vs ${entry.uncompressedSize}).`);
      }
    }

    if (dir ? files.has(name) : folders.has(name)) throw new MalformedRequestError(`${what} is both a file and a folder.`);
    if (files.has(name) || explicitDirs.has(name)) throw new MalformedRequestError(`${what} appears more than once.`);
    const parts = name.split('/');
    const parents = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
    const fileParent = parents.find((p) => files.has(p));
    if (fileParent !== undefined) throw new MalformedRequestError(`${what} is inside ${JSON.stringify(fileParent)}, which is a file.`);
    for (const p of parents) folders.add(p);
    if (dir) {
      explicitDirs.add(name);
      folders.add(name);
    } else {
      files.add(name);
      declared += entry.uncompressedSize;
      // Honest headers over the limit are refused before anything is inflated.
      if (declared > limits.maxZipBytes) throw new PayloadTooLargeError(`${label} unpacks to more than ${limits.maxZipBytes} bytes.`);
    }
    members.push({ name, dir, entry });
  }
  return members;
}

/**
 * Checks an entry's name as stored and returns it without its trailing
 * slash. Refused: empty, absolute (`/x`, `C:x`), `.`/`..` or empty parts,
 * backslashes, control characters, over-long names or parts.
 */
export function checkEntryName(raw: string, label: string): string {
  return checkRelativeName(raw, {
    subject: `${label}: entry name`,
    emptyParts: 'refuse',
    trailingSlash: true,
    c1Controls: true,
    driveLetters: true,
    // yauzl's own rules, which the others already cover: a second opinion.
    alsoRefuse: (name) => {
      const why = yauzl.validateFileName(name);
      return why === null ? null : `is unsafe (${why})`;
    },
  });
}

/** Writes the entries, in order, under `destDir`, counting what is inflated. */
async function extract(zip: yauzl.ZipFile, members: Member[], destDir: string, execDir: string, label: string, limits: BundleLimits): Promise<void> {
  const realExec = await fs.realpath(execDir);
  const budget = { inflated: 0 };
  for (const m of members) {
    const target = path.resolve(destDir, m.name);
    // Names were checked already; this guard holds whatever the check missed.
    if (!isInside(execDir, target) || target === execDir) {
      throw new MalformedRequestError(`${label}: entry ${JSON.stringify(m.name)} would land outside the run.`);
    }
    try {
      if (m.dir) {
        await fs.mkdir(target, { recursive: true });
        continue;
      }
      await fs.mkdir(path.dirname(target), { recursive: true });
      // Nothing here creates links, but a folder on the way must really be ours.
      if (!isInside(realExec, await fs.realpath(path.dirname(target)))) {
        throw new MalformedRequestError(`${label}: entry ${JSON.stringify(m.name)} would land outside the run.`);
      }
      const data = await zip.openReadStreamPromise(m.entry);
      await pipeline(data, countingCheck(m, budget, label, limits), createWriteStream(target, { flags: 'wx' }));
    } catch (err) {
      if (CLASH.has(errnoCode(err) ?? '')) {
        throw new MalformedRequestError(`${label}: entry ${JSON.stringify(m.name)} clashes with an attachment (a file or folder is already there).`);
      }
      throw err;
    }
  }
}

/** What creating a file or folder answers when something is in the way. */
const CLASH = new Set(['EEXIST', 'ENOTDIR', 'EISDIR']);

/**
 * Passes an entry's inflated bytes through while counting them against the
 * bundle's budget and the entry's own header (size and CRC-32): a header that
 * understates its entry is caught on the first chunk past it.
 */
function countingCheck(m: Member, budget: { inflated: number }, label: string, limits: BundleLimits): Transform {
  const what = `${label}: entry ${JSON.stringify(m.name)}`;
  let seen = 0;
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      budget.inflated += chunk.length;
      if (budget.inflated > limits.maxZipBytes) return done(new PayloadTooLargeError(`${label} unpacks to more than ${limits.maxZipBytes} bytes.`));
      if (seen > m.entry.uncompressedSize) {
        return done(new MalformedRequestError(`${what} inflates past the ${m.entry.uncompressedSize} bytes its header declares.`));
      }
      crc = zlib.crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      if (seen !== m.entry.uncompressedSize) return done(new MalformedRequestError(`${what} is shorter than its header declares.`));
      if (crc >>> 0 !== m.entry.crc32 >>> 0) return done(new MalformedRequestError(`${what} fails its CRC check.`));
      done();
    },
  });
}

/** Turns what went wrong while reading the zip into a WES error. */
function asBundleError(err: unknown, label: string): unknown {
  if (err instanceof WesError) return err;
  const code = errnoCode(err);
  // A real I/O failure on our side (no space, …) stays what it is.
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return err;
  const why = String((err as Error).message ?? err).replace(/\.+$/, '');
  return new MalformedRequestError(`${label} is not a valid zip: ${why}.`);
}

/** Picks the workflow, inputs and options by Toil's three layouts. */
async function resolveLayout(files: string[], destDir: string, execDir: string, workflowType: string, label: string): Promise<BundleContents> {
  const fromExec = (name: string): string => toPosix(path.relative(execDir, path.join(destDir, name)));
  if (files.length === 0) throw new MalformedRequestError(`${label} holds no file.`);
  const none = { inputs: {}, options: {}, optionsSource: label };
  if (files.length === 1) return { workflow: fromExec(files[0]!), ...none };

  const present = new Set(files);
  let main: string;
  let inputFiles: string[];
  let optionsFile: string | null;
  if (present.has('MANIFEST.json')) {
    const manifest = await readJsonObject(path.join(destDir, 'MANIFEST.json'), `MANIFEST.json in ${label}`);
    const member = (ref: unknown, field: string): string => manifestMember(ref, field, present, label);
    if (manifest.mainWorkflowURL === undefined || manifest.mainWorkflowURL === null || manifest.mainWorkflowURL === '') {
      throw new MalformedRequestError(`MANIFEST.json in ${label} has no 'mainWorkflowURL'.`);
    }
    main = member(manifest.mainWorkflowURL, 'mainWorkflowURL');
    const inputs = manifest.inputFileURLs;
    if (inputs === undefined || inputs === null) inputFiles = [];
    else if (Array.isArray(inputs)) inputFiles = inputs.map((ref, i) => member(ref, `inputFileURLs[${i}]`));
    else throw new MalformedRequestError(`MANIFEST.json in ${label}: 'inputFileURLs' must be a list of paths.`);
    const options = manifest.optionsFileURL;
    optionsFile = options === undefined || options === null || options === '' ? null : member(options, 'optionsFileURL');
  } else {
    main = `main.${workflowType.toLowerCase()}`;
    if (!present.has(main)) {
      throw new MalformedRequestError(`${label} holds several files but neither MANIFEST.json nor '${main}': it does not say which is the workflow.`);
    }
    inputFiles = files.filter((f) => /^inputs[^/]*\.json$/.test(f)).sort();
    optionsFile = present.has('options.json') ? 'options.json' : null;
  }

  let inputs: Record<string, unknown> = {};
  for (const name of inputFiles) {
    const where = `${name} in ${label}`;
    const loaded = await readJsonObject(path.join(destDir, name), where);
    const rewritten = rewriteLocations(loaded, path.dirname(path.join(destDir, name)), execDir, where, 0) as Record<string, unknown>;
    // Spread defines own properties: a "__proto__" key stays a plain key.
    inputs = { ...inputs, ...rewritten };
  }
  const optionsSource = optionsFile === null ? label : `${optionsFile} in ${label}`;
  const options = optionsFile === null ? {} : await readJsonObject(path.join(destDir, optionsFile), optionsSource);
  return { workflow: fromExec(main), inputs, options, optionsSource };
}

/** A MANIFEST reference: a relative path naming a file of the bundle. */
function manifestMember(ref: unknown, field: string, present: ReadonlySet<string>, label: string): string {
  const where = `MANIFEST.json in ${label}: '${field}'`;
  if (typeof ref !== 'string' || ref === '') throw new MalformedRequestError(`${where} must be a relative path inside the bundle.`);
  const shown = JSON.stringify(ref.length > 200 ? ref.slice(0, 200) + '…' : ref);
  // eslint-disable-next-line no-control-regex
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref) || ref.startsWith('/') || ref.includes('\\') || /[\u0000-\u001f\u007f]/.test(ref)) {
    throw new MalformedRequestError(`${where} must be a relative path inside the bundle, got ${shown}.`);
  }
  const name = path.posix.normalize(ref).replace(/^(\.\/)+/, '');
  if (name === '..' || name.startsWith('../')) throw new MalformedRequestError(`${where} points outside the bundle: ${shown}.`);
  if (!present.has(name)) throw new MalformedRequestError(`${where} names ${shown}, which is not a file in the bundle.`);
  return name;
}

async function readJsonObject(file: string, where: string): Promise<Record<string, unknown>> {
  const { size } = await fs.stat(file);
  if (size > MAX_JSON_BYTES) throw new PayloadTooLargeError(`${where} is larger than ${MAX_JSON_BYTES} bytes.`);
  let value: unknown;
  try {
    value = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new MalformedRequestError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedRequestError(`${where} is not a JSON object.`);
  return value as Record<string, unknown>;
}

/**
 * A CWL input file's relative `location`/`path` is relative to that file;
 * the engine reads the merged inputs from `execution/wes_inputs.json`, so
 * each one is rewritten to resolve from `execution/`. Whether the result
 * stays inside the run is checked with the other input locations.
 */
function rewriteLocations(value: unknown, fromDir: string, execDir: string, where: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new MalformedRequestError(`${where} is nested too deeply.`);
  if (Array.isArray(value)) return value.map((v) => rewriteLocations(v, fromDir, execDir, where, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  const isFileLike = obj.class === 'File' || obj.class === 'Directory';
  return Object.fromEntries(
    Object.entries(obj).map(([key, v]) => {
      if (isFileLike && (key === 'location' || key === 'path') && typeof v === 'string' && isRelativeReference(v)) {
        return [key, toPosix(path.relative(execDir, path.resolve(fromDir, v))) || '.'];
      }
      return [key, rewriteLocations(v, fromDir, execDir, where, depth + 1)];
    }),
  );
}

function isRelativeReference(loc: string): boolean {
  return loc !== '' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(loc) && !path.isAbsolute(loc);
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}
