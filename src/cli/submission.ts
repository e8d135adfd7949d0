/**
 * A submission made from local files: the workflow, what it references, the
 * inputs and the files they name, all attached under their one common folder
 * with their layout kept, and the inputs' locations rewritten to the
 * attachments' names. Shared by `ferry submit` and `ferry cwl-runner`.
 */
import { openAsBlob } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { answer, CliError, type Session } from './context.js';
import { exactNumber, parseExact, stringifyExact } from '../util/exact-json.js';
import { cwlDependencies, cwlInputFiles, cwlVersionOf, secondaryPatterns } from './cwl-deps.js';
import { attachmentName, commonRoot, LocalFiles } from './local-files.js';
import { wdlDependencies, wdlInputFiles, wdlVersionOf } from './wdl-deps.js';

export interface SubmissionRequest {
  /** The workflow: a local file (`packed.cwl#main` names a process inside it), or an http(s) URL. */
  workflow: string;
  /** A JSON or YAML inputs file. */
  inputs?: string | undefined;
  /** More files or folders to attach. */
  attach?: string[] | undefined;
  type?: string | undefined;
  typeVersion?: string | undefined;
  engine?: string | undefined;
  tags?: Record<string, string> | undefined;
  engineParameters?: Record<string, string | null> | undefined;
}

/** What is sent: the form's fields, and each attachment's name and local file. */
export interface PreparedSubmission {
  fields: {
    workflow_url: string;
    workflow_type: string;
    workflow_type_version: string;
    workflow_params: Record<string, unknown>;
    workflow_engine?: string;
    tags?: Record<string, string>;
    workflow_engine_parameters?: Record<string, string | null>;
  };
  attachments: { name: string; file: string }[];
  warnings: string[];
}

const TYPES: Record<string, string> = { '.cwl': 'CWL', '.wdl': 'WDL', '.py': 'PY' };

/** The workflow's type: the one asked for, else from its name (`.cwl`, `.wdl`, `.py`), else from a local file's first lines. */
async function typeOf(workflow: string, local: boolean, asked: string | undefined): Promise<string> {
  if (asked) return asked.toUpperCase();
  const type = TYPES[path.extname(local ? workflow : workflow.replace(/[?#].*$/s, '')).toLowerCase()];
  if (type) return type;
  const head = local ? await fs.readFile(workflow, 'utf8').then((text) => text.slice(0, 65536), () => '') : '';
  if (/(^|[{,])\s*"?cwlVersion"?\s*:/m.test(head)) return 'CWL';
  if (/^\s*(version\s+[\w.-]+|workflow\s+\w+\s*\{|task\s+\w+\s*\{)\s*$/m.test(head)) return 'WDL';
  throw new CliError(`cannot tell the workflow's type of '${workflow}': name it .cwl, .wdl or .py, or pass --type CWL|WDL|PY`);
}

/** Builds a submission from local files, finding what the workflow and the inputs need. */
export async function prepareSubmission(s: Session, request: SubmissionRequest): Promise<PreparedSubmission> {
  const remote = /^https?:\/\//i.test(request.workflow);
  // `packed.cwl#main` names a process inside packed.cwl, unless a file has that very name.
  const whole = !remote && (await fs.stat(request.workflow).catch(() => null)) !== null;
  const hash = remote || whole ? -1 : request.workflow.indexOf('#');
  const fragment = hash >= 0 ? request.workflow.slice(hash + 1) : undefined;
  const workflowFile = remote ? undefined : path.resolve(hash >= 0 ? request.workflow.slice(0, hash) : request.workflow);
  const type = await typeOf(workflowFile ?? request.workflow, workflowFile !== undefined, request.type);
  const files = new LocalFiles();

  // The workflow and what it references.
  let version = request.typeVersion;
  let doc: unknown;
  let workflowPath: string | undefined;
  if (workflowFile) {
    const main = await files.add(workflowFile, 'the workflow');
    if (main.kind !== 'file') throw new CliError(`the workflow ${workflowFile} is a folder`);
    workflowPath = main.path;
    if (type === 'CWL') doc = await cwlDependencies(main.path, files);
    else if (type === 'WDL') version ??= wdlVersionOf(await wdlDependencies(main.path, files));
  } else if (version === undefined && type !== 'PY') {
    const text = await fetchText(request.workflow);
    version = type === 'CWL' ? cwlVersionOf(parseRemote(text, request.workflow)) : wdlVersionOf(text);
  }
  if (type === 'CWL') version ??= cwlVersionOf(doc) ?? 'v1.0';
  version ??= type === 'PY' ? await pythonVersion(s) : 'draft-2';

  // The inputs and the files they name.
  const params = request.inputs ? await readInputs(request.inputs) : {};
  const baseDir = request.inputs ? path.dirname(path.resolve(request.inputs)) : process.cwd();
  const rewrites: { set: (name: string) => void; file: string }[] = [];
  if (type === 'WDL') {
    for (const found of await wdlInputFiles(params, baseDir, files)) rewrites.push({ file: found.file, set: (name) => ((found.holder as Record<string | number, unknown>)[found.key] = name) });
  } else {
    for (const found of await cwlInputFiles(params, baseDir, files, doc === undefined ? undefined : secondaryPatterns(doc, params, fragment))) {
      rewrites.push({
        file: found.file,
        set: (name) => {
          // A location is a URI: `A:Gln2Cys` is `A%3AGln2Cys`, else it would read as a scheme.
          found.object.location = name.split('/').map(encodeURIComponent).join('/');
          delete found.object.path;
        },
      });
    }
  }
  for (const extra of request.attach ?? []) await files.add(path.resolve(extra), `--attach ${extra}`);

  const root = commonRoot(files.files);
  for (const r of rewrites) r.set(attachmentName(root, r.file));
  const attachments = [...files.files].sort().map((file) => ({ name: attachmentName(root, file), file }));
  const workflowUrl = workflowPath ? attachmentName(root, workflowPath) + (fragment !== undefined ? `#${fragment}` : '') : request.workflow;
  return {
    fields: {
      workflow_url: workflowUrl,
      workflow_type: type,
      workflow_type_version: version,
      workflow_params: params,
      ...(request.engine ? { workflow_engine: request.engine } : {}),
      ...(request.tags && Object.keys(request.tags).length ? { tags: request.tags } : {}),
      ...(request.engineParameters && Object.keys(request.engineParameters).length ? { workflow_engine_parameters: request.engineParameters } : {}),
    },
    attachments,
    warnings: files.warnings,
  };
}

/** An inputs file: a JSON or YAML object. */
async function readInputs(file: string): Promise<Record<string, unknown>> {
  await fs.access(file).catch(() => {
    throw new CliError(`the inputs file ${file} does not exist`);
  });
  const text = await fs.readFile(path.resolve(file), 'utf8');
  let params: unknown;
  try {
    // JSON, or YAML: numbers kept as written (a double would change 4200000000000000000000000000000000000000000).
    params = parseExact(text);
  } catch {
    try {
      params = parse(text, (_key, value) => (typeof value === 'bigint' ? exactNumber(String(value)) : value), { intAsBigInt: true, uniqueKeys: false, maxAliasCount: -1 });
    } catch (err) {
      throw new CliError(`${file}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (params === null || params === undefined) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw new CliError(`the inputs file ${file} is not an object`);
  return params as Record<string, unknown>;
}

async function fetchText(url: string): Promise<string> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (err) {
    throw new CliError(`cannot read the workflow at ${url} to learn its version (or pass --type-version): ${(err as Error).message}`);
  }
}

function parseRemote(text: string, url: string): unknown {
  try {
    return parse(text);
  } catch {
    throw new CliError(`the workflow at ${url} is not YAML or JSON`);
  }
}

/** The version a Toil Python workflow is submitted with: the first the server lists. */
async function pythonVersion(s: Session): Promise<string> {
  const info = await answer(s, s.client.GET('/ga4gh/wes/v1/service-info'));
  const version = info.workflow_type_versions.PY?.workflow_type_version?.[0];
  if (!version) throw new CliError('the server runs no Python workflows (service-info lists no PY version)');
  return version;
}

/** Sends a prepared submission; returns the run id. */
export async function sendSubmission(s: Session, prepared: PreparedSubmission): Promise<string> {
  const form = new FormData();
  for (const [name, value] of Object.entries(prepared.fields)) form.set(name, typeof value === 'string' ? value : stringifyExact(value));
  for (const a of prepared.attachments) form.append('workflow_attachment', await openAsBlob(a.file), a.name);
  const posted = await answer(s, s.client.POST('/ga4gh/wes/v1/runs', { body: form as never, bodySerializer: (b) => b as FormData }));
  if (!posted.run_id) throw new CliError('the server accepted the run but named no run id');
  return posted.run_id;
}
