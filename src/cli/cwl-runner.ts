/**
 * `ferry cwl-runner [--outdir DIR] [--quiet] WORKFLOW [JOB]`: the cwl-runner
 * interface on a Ferry server, as CWL test harnesses call it (`cwltest --tool
 * ferry -- cwl-runner`): submits with everything attached, waits, downloads
 * the outputs into the outdir and prints the CWL output object naming the
 * local copies, on stdout; status goes to stderr. Exits as cwltool does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError, parseCommand, printJson, runLog, session, type CliIo, type Session } from './context.js';
import { downloadOutputs } from './outputs.js';
import { submissionOptions, submissionRequest } from './submit.js';
import { prepareSubmission, sendSubmission } from './submission.js';
import { waitForRun } from './wait.js';

/** cwltool's exit codes: the workflow failed, and it needs a feature the runner lacks. */
export const PERMANENT_FAIL = 1;
export const UNSUPPORTED_FEATURE = 33;

const usage = 'ferry cwl-runner [--outdir DIR] [--quiet] [--url URL] [--engine E] [--tag K=V]... WORKFLOW [JOB]';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The path, under the outputs folder, of an output's URL (`…/runs/{id}/outputs/{path}`), or null for any other location. */
export function outputPathOf(location: string, runId: string): string | null {
  let pathname: string;
  try {
    pathname = new URL(location).pathname;
  } catch {
    return null;
  }
  const marker = `/ga4gh/wes/v1/runs/${encodeURIComponent(runId)}/outputs/`;
  const at = pathname.indexOf(marker);
  if (at < 0) return null;
  const parts = pathname.slice(at + marker.length).split('/').map(decodeURIComponent);
  return parts.some((p) => p === '' || p === '.' || p === '..') ? null : parts.join('/');
}

/**
 * The output object with each File and Directory the server serves pointed
 * at its copy under `outdir` (`location` a file:// URL, `path` the path), the
 * rest (`basename`, `size`, `checksum`, `secondaryFiles`, `listing`…) kept.
 * Folders are made, so that an empty Directory output exists too.
 */
export async function localizeOutputs(outputs: unknown, runId: string, outdir: string): Promise<unknown> {
  const visit = async (node: unknown): Promise<unknown> => {
    if (Array.isArray(node)) return Promise.all(node.map(visit));
    if (!isObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = await visit(v);
    if ((node.class === 'File' || node.class === 'Directory') && typeof node.location === 'string') {
      const rel = outputPathOf(node.location, runId);
      if (rel !== null) {
        const local = path.join(outdir, ...rel.split('/'));
        if (node.class === 'Directory') await fs.mkdir(local, { recursive: true });
        out.location = pathToFileURL(local).href;
        out.path = local;
      }
    }
    return out;
  };
  return visit(outputs);
}

/** Whether the engine said the workflow needs something it does not support (cwltool's words). */
async function unsupported(s: Session, runId: string): Promise<boolean> {
  try {
    const res = await s.client.GET('/toil/wes/v1/logs/{run_id}/stderr', { params: { path: { run_id: runId } }, parseAs: 'text' });
    return /uses unsupported feature|UnsupportedRequirement/.test(String(res.data ?? ''));
  } catch {
    return false;
  }
}

export async function cwlRunnerCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...submissionOptions, outdir: { type: 'string' }, quiet: { type: 'boolean', default: false } });
  if (values.help) {
    io.stdout.write(`usage: ${usage}\n\nRuns WORKFLOW with JOB on the Ferry server (--url or FERRY_URL), waits, downloads the outputs into\n--outdir (default: the current folder) and prints the CWL output object naming the local files.\nExit codes as cwltool's: 0 success, 1 the workflow failed, ${UNSUPPORTED_FEATURE} an unsupported feature.\n`);
    return 0;
  }
  const [workflow, job, ...more] = positionals;
  if (workflow === undefined || more.length) throw new CliError(`${workflow === undefined ? 'missing WORKFLOW' : `unexpected '${more[0]}'`} (usage: ${usage})`);
  const s = session(values, io);
  const say = (line: string): void => {
    if (!values.quiet) io.stderr.write(`ferry: ${line}\n`);
  };
  const outdir = path.resolve(values.outdir ?? '.');
  const prepared = await prepareSubmission(s, submissionRequest(values, workflow, job));
  for (const warning of prepared.warnings) io.stderr.write(`ferry: warning: ${warning}\n`);
  const runId = await sendSubmission(s, prepared);
  say(`run ${runId} submitted to ${s.url} (${prepared.attachments.length} files attached)`);
  const state = await waitForRun(s, runId, values.quiet ? {} : { progress: io.stderr });
  if (state !== 'COMPLETE') {
    const code = state === 'EXECUTOR_ERROR' && (await unsupported(s, runId)) ? UNSUPPORTED_FEATURE : PERMANENT_FAIL;
    io.stderr.write(`ferry: run ${runId} ended ${state}${code === UNSUPPORTED_FEATURE ? ': the workflow uses a feature the engine does not support' : ''} (ferry logs --stderr ${runId})\n`);
    return code;
  }
  const log = await runLog(s, runId);
  const files = await downloadOutputs(s, runId, outdir);
  say(`${files.length} output files downloaded into ${outdir}`);
  const outputs = await localizeOutputs(log.outputs ?? {}, runId, outdir);
  printJson(s, outputs, 4);
  return 0;
}
