/**
 * `ferry outputs RUN [--download DIR]`: a run's output files, and their
 * download with the folder structure kept, each file checked against the
 * checksum the listing gives.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { components } from '../client/client.js';
import { allPages, answer, CliError, connectionError, httpError, onePositional, parseCommand, printJson, runLog, session, type CliIo, type Session } from './context.js';

export type OutputFile = components['schemas']['RunOutputFile'];

/** Every file of a run's outputs, all pages. */
export async function listOutputs(s: Session, runId: string): Promise<OutputFile[]> {
  return allPages(async (token) => {
    const query = { page_size: 1000, ...(token ? { page_token: token } : {}) };
    const page = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}/outputs', { params: { path: { run_id: runId }, query } }));
    return { items: page.outputs, next_page_token: page.next_page_token };
  });
}

/** A listed path as local path parts; one that could leave the download folder is refused. */
function safeParts(p: string): string[] {
  const parts = p.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..' || part.includes('\0'))) throw new CliError(`the server lists an output named '${p}', which is not a safe relative path`);
  return parts;
}

/** Each part encoded on its own: the output's path keeps its `/`s. */
const outputPath = (pathname: string, params: Record<string, unknown>): string =>
  pathname
    .replace('{run_id}', encodeURIComponent(String(params.run_id)))
    .replace('{path}', String(params.path).split('/').map(encodeURIComponent).join('/'));

/**
 * Downloads one output file to `dir` (at its listed path) through a temporary
 * name, checking its size and, when listed, its sha1 checksum; a mismatch
 * leaves nothing and is an error.
 */
export async function downloadOutput(s: Session, runId: string, file: OutputFile, dir: string): Promise<string> {
  const dest = path.join(dir, ...safeParts(file.path));
  await fs.mkdir(path.dirname(dest), { recursive: true });
  let res;
  try {
    res = await s.client.GET('/ga4gh/wes/v1/runs/{run_id}/outputs/{path}', { params: { path: { run_id: runId, path: file.path } }, parseAs: 'stream', pathSerializer: outputPath });
  } catch (err) {
    throw connectionError(s, err);
  }
  if (!res.response.ok) throw httpError(res.response, res.error);
  const sha1 = createHash('sha1');
  let size = 0;
  const tmp = `${dest}.ferry-${randomBytes(4).toString('hex')}`;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha1.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    // No body at all is an empty file.
    await pipeline(res.response.body ? Readable.fromWeb(res.response.body as never) : Readable.from([]), count, createWriteStream(tmp));
    const got = `sha1$${sha1.digest('hex')}`;
    if (size !== file.size) throw new CliError(`${file.path}: got ${size} bytes, the listing says ${file.size}`);
    if (file.checksum?.startsWith('sha1$') && file.checksum !== got) throw new CliError(`${file.path}: checksum ${got} is not the listed ${file.checksum}`);
    await fs.rename(tmp, dest);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err instanceof CliError ? err : connectionError(s, err);
  }
  return dest;
}

/** Downloads every file of a run's outputs into `dir`, a few at a time; returns each file with where it went. */
export async function downloadOutputs(s: Session, runId: string, dir: string, progress?: (file: OutputFile, local: string) => void): Promise<{ file: OutputFile; local: string }[]> {
  const files = await listOutputs(s, runId);
  await fs.mkdir(dir, { recursive: true });
  const done: { file: OutputFile; local: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      const local = await downloadOutput(s, runId, file, dir);
      done.push({ file, local });
      progress?.(file, local);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, files.length) }, worker));
  return done.sort((a, b) => a.file.path.localeCompare(b.file.path));
}

const usage = 'ferry outputs RUN [--download DIR] [--json]';

export async function outputsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { download: { type: 'string' } });
  if (values.help) {
    io.stdout.write(`usage: ${usage}\n\nWithout --download: the run's output files (path, size, checksum); with --json, the run's\noutputs object and that listing. --download DIR saves every file under DIR, folders kept,\nchecking each against its listed size and checksum.\n`);
    return 0;
  }
  const runId = onePositional(positionals, 'RUN', usage);
  const s = session(values, io);
  if (values.download !== undefined) {
    const dir = path.resolve(values.download);
    const done = await downloadOutputs(s, runId, dir, s.json ? undefined : (_file, local) => io.stdout.write(`${path.relative(process.cwd(), local) || local}\n`));
    if (s.json) printJson(s, done.map(({ file, local }) => ({ path: file.path, size: file.size, ...(file.checksum ? { checksum: file.checksum } : {}), local })));
    return 0;
  }
  const files = await listOutputs(s, runId);
  if (s.json) {
    printJson(s, { outputs: (await runLog(s, runId)).outputs ?? {}, files });
  } else if (!files.length) io.stdout.write('no output files\n');
  else {
    const width = Math.max(...files.map((f) => String(f.size).length));
    io.stdout.write(files.map((f) => `${String(f.size).padStart(width)}  ${f.checksum ?? '-'}  ${f.path}`).join('\n') + '\n');
  }
  return 0;
}
