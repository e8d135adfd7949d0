import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderOption, type Engine, type EngineCommand, type EngineOutcome, type EngineTaskLog, type RunContext } from '../engine.js';
import type { OptionPolicy } from '../option-policy.js';
import { parseWdl, type WdlDocument } from '../wdl/parser.js';
import { callReference, expandReferences } from '../wdl/references.js';
import { literalText, type WdlToken } from '../wdl/tokenizer.js';
import { wdlTypeShape } from '../wdl/types.js';
import { toilPaths } from './paths.js';
import { toilPolicy } from './policy.js';
import { ToilEngine } from './toil-engine.js';
import { toilWdlInputLocations } from './toil-wdl-inputs.js';

/** What `toil-wdl-runner` 5.9 runs: no `version` line (draft-2) or `version 1.0`. */
export const TOIL_WDL_VERSIONS = ['draft-2', '1.0'] as const;

/** The script the runner compiles into its output folder (left there when the run fails). */
const COMPILED_SCRIPT = 'toilwdl_compiled.py';

const IGNORED = "Toil 5.9's WDL runner runs the workflow it compiles with Toil's default options and would ignore it";

/**
 * `toil-wdl-runner` itself parses only `--jobStore`, `-o/--outdir`,
 * `--dev_mode`, `--docker_user` and `--destBucket`; it passes every other
 * argument to the Python script it compiles, and that script never reads its
 * arguments (it calls `Job.Runner.getDefaultOptions(jobStore)`). So no Toil
 * option has any effect: refuse them all, saying why, rather than accept
 * options that would silently do nothing.
 */
export const toilWdlPolicy: OptionPolicy = {
  allowed: {},
  owned: toilPolicy.owned,
  refused: {
    ...Object.fromEntries(Object.keys(toilPolicy.allowed).map((flag) => [flag, IGNORED])),
    ...toilPolicy.refused,
    '--dev_mode': 'it only compiles the workflow, without running it',
    '--docker_user': 'no container engine runs here',
  },
};

/**
 * Toil 5.9's legacy WDL compiler, `toil-wdl-runner` (`workflow_engine: toil`
 * for WDL). It prints no outputs and may exit 0 although a task failed, so
 * the outputs are rebuilt here from the workflow's declared outputs and the
 * files the runner exported, and a missing one fails the run.
 */
export class ToilWdlEngine extends ToilEngine implements Engine {
  readonly id = 'toil-wdl';
  readonly workflowType = 'WDL';
  readonly workflowTypeVersions = TOIL_WDL_VERSIONS;
  protected readonly policy = toilWdlPolicy;

  constructor(private readonly executable = 'toil-wdl-runner') {
    super();
  }

  /** The File positions of the inputs the runner reads (see {@link toilWdlInputLocations}). */
  inputLocations(params: Record<string, unknown>, workflowPath: string): Promise<string[]> {
    return toilWdlInputLocations(params, workflowPath);
  }

  /**
   * `toil-wdl-runner [options] --jobStore=JS --outdir=OUT workflow.wdl inputs.json`.
   * `--workDir`, `--writeMessages` and `--clean` would be forwarded to the
   * compiled script and ignored, so they are not passed: the compiled script
   * always cleans its job store, Toil's scratch is kept in the run through
   * TOIL_WORKDIR / TOIL_COORDINATION_DIR / TMPDIR, and the message log is
   * found where Toil puts it by default (see {@link adoptMessageLog}). Ours
   * come after `ctx.options` so they win.
   */
  buildCommand(ctx: RunContext): EngineCommand {
    return {
      argv: [
        this.executable,
        ...ctx.options.map(renderOption),
        `--jobStore=${toilPaths(ctx).jobStore}`,
        `--outdir=${ctx.outputsDir}`,
        ctx.workflowPath,
        ctx.inputsPath,
      ],
      env: { TMPDIR: ctx.tmpDir, TOIL_WORKDIR: ctx.tmpDir, TOIL_COORDINATION_DIR: ctx.tmpDir },
      jobStore: toilPaths(ctx).jobStore,
    };
  }

  /**
   * Keeps the message log (it lives in the scratch folder, which goes next)
   * and, when the runner failed, names the declared output that is missing.
   */
  async afterExit(ctx: RunContext, exitCode: number): Promise<string | undefined> {
    await adoptMessageLog(ctx);
    if (exitCode === 0) return undefined;
    try {
      return (await this.collectOutputs(ctx)).failure;
    } catch {
      return undefined;
    }
  }

  async collectOutputs(ctx: RunContext): Promise<EngineOutcome> {
    await adoptMessageLog(ctx);
    const doc = parseWdl(await fs.readFile(ctx.workflowPath, 'utf8'));
    return collectToilWdlOutputs(doc, ctx.outputsDir);
  }

  async taskLogs(ctx: RunContext): Promise<EngineTaskLog[]> {
    await adoptMessageLog(ctx);
    const jobs = await this.toilJobs(ctx);
    // The compiled script runs WDL task T as a job named `TCls`; its other
    // jobs (`Job`, `EncapsulatedJob`, `initialize_jobs`) are its own plumbing
    // and are left out. Ids stay those of the full list, so they never shift.
    return jobs.filter((job) => job.name.endsWith('Cls')).map((job) => ({ ...job, name: job.name.slice(0, -3) }));
  }
}

/**
 * Toil 5.9's compiled WDL script ignores `--writeMessages`, so its leader
 * writes the message log to a `tempfile.mkstemp()` file in TMPDIR (the run's
 * scratch folder, removed when the run ends). Finds that file by its name
 * and first bytes and hard-links it to the run's message log: the leader keeps
 * appending to the same file, and the link survives the scratch folder.
 * Returns whether the run's message log now exists.
 */
export async function adoptMessageLog(ctx: Pick<RunContext, 'tmpDir' | 'runDir'>): Promise<boolean> {
  const bus = toilPaths(ctx).bus;
  if (await fs.access(bus).then(() => true, () => false)) return true;
  let names: string[];
  try {
    names = await fs.readdir(ctx.tmpDir);
  } catch {
    return false;
  }
  for (const name of names) {
    // Python's mkstemp: `tmp` and eight characters of [a-z0-9_].
    if (!/^tmp[a-z0-9_]{8}$/.test(name)) continue;
    const file = path.join(ctx.tmpDir, name);
    if (!(await startsWith(file, 'toil.bus.'))) continue;
    try {
      await fs.link(file, bus);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false;
    }
    return true;
  }
  return false;
}

async function startsWith(file: string, prefix: string): Promise<boolean> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    if (!(await handle.stat()).isFile()) return false;
    const buf = Buffer.alloc(prefix.length);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return bytesRead === buf.length && buf.toString('latin1') === prefix;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

// ------------------------------------------------------------------ outputs

/** Where a task output's file(s) land in the runner's output folder. */
type FileNames =
  | { kind: 'exact'; names: string[] }
  | { kind: 'pattern'; pattern: RegExp; source: string }
  | { kind: 'unknown' };

export interface WdlFileOutput {
  location: string;
  basename: string;
  size: number;
  class: 'File';
}

/**
 * Builds a run's outputs from what `toil-wdl-runner` 5.9 left in `outputsDir`.
 *
 * How that runner names things (read from its source, checked by running
 * it): it never evaluates the workflow's `output` section; instead every
 * File-typed output of every task is exported into the one output folder
 * under its basename (`File out = "dir/x.txt"` → `x.txt`, `stdout()` →
 * `stdout`), later files overwriting earlier ones of the same name. So a
 * workflow output `T x = call.out` is found through the task output `out` of
 * `call`'s task: a literal file name is looked up exactly, a name with
 * placeholders or a `glob()` is matched as a pattern. Outputs of other shapes
 * cannot be told from the folder and fail the run with a message saying why;
 * non-file outputs (Int, String…) are recorded nowhere by the runner and are
 * left out. A workflow without an `output` section gets every exported file,
 * by name (what Toil's own WES server reports).
 */
export async function collectToilWdlOutputs(doc: WdlDocument, outputsDir: string): Promise<EngineOutcome> {
  const workflow = doc.workflow;
  if (!workflow) return { outputs: {}, failure: 'The WDL document has no workflow.' };
  const files = await listFiles(outputsDir);
  if (workflow.outputs === null) {
    const outputs: Record<string, WdlFileOutput> = {};
    for (const [name, size] of files) outputs[name] = fileOutput(outputsDir, name, size);
    return { outputs };
  }

  const calls = new Map(workflow.calls.map((c) => [c.alias, c]));
  // Which task outputs write each exact file name: two writers of one name
  // leave only one file, and the folder cannot say whose.
  const writers = new Map<string, Set<string>>();
  for (const call of workflow.calls) {
    for (const out of doc.tasks.get(call.task)?.outputs ?? []) {
      const names = out.type !== null && wdlTypeShape(out.type).kind !== 'value' ? fileNames(out.expression) : null;
      if (names?.kind !== 'exact') continue;
      for (const name of names.names) {
        const set = writers.get(name) ?? new Set<string>();
        set.add(`${call.alias}.${out.name}`);
        writers.set(name, set);
      }
    }
  }

  const outputs: Record<string, unknown> = {};
  const missing: string[] = [];
  const problems: string[] = [];
  for (const decl of expandReferences(workflow.outputs, calls, doc.tasks)) {
    const label = `${workflow.name}.${decl.name}`;
    const ref = callReference(decl.expression, calls, doc.tasks);
    const type = decl.type ?? ref?.output.type ?? null;
    if (type === null) {
      problems.push(`WDL output '${label}' names no output of a call.`);
      continue;
    }
    const shape = wdlTypeShape(type);
    if (shape.kind === 'value') continue;
    if (shape.kind === 'other-files') {
      problems.push(`WDL output '${label}' has type ${type}; Ferry collects only File and Array[File] outputs from Toil 5.9's WDL runner.`);
      continue;
    }
    if (!ref) {
      problems.push(`WDL output '${label}' is not a call's output (call.output); Toil 5.9's WDL runner does not evaluate other workflow output expressions.`);
      continue;
    }
    const { call, output } = ref;
    const optional = shape.optional || call.conditional;
    const names = fileNames(output.expression);
    let found: string[] | null;
    if (names.kind === 'unknown') {
      problems.push(`WDL output '${label}': the file name of '${call.task}.${output.name}' is not a string, stdout(), stderr() or glob(), so it cannot be found among the runner's outputs.`);
      continue;
    } else if (names.kind === 'exact') {
      const shared = names.names.filter((n) => (writers.get(n)?.size ?? 0) > 1);
      if (shared.length > 0 || (call.scattered && names.names.length > 0)) {
        const who = shared.length > 0 ? [...writers.get(shared[0]!)!].join(', ') : `every shard of the scattered call '${call.alias}'`;
        problems.push(`WDL output '${label}' cannot be told apart: Toil 5.9's WDL runner writes all tasks' files into one folder by name, and '${shared[0] ?? names.names[0]}' is written by ${who}.`);
        continue;
      }
      const present = names.names.filter((n) => files.has(n));
      if (shape.kind === 'file-array' && shape.optionalElements && present.length < names.names.length) {
        // Array[File?]: an element that was not produced is null.
        outputs[decl.name] = names.names.map((n) => (files.has(n) ? fileOutput(outputsDir, n, files.get(n)!) : null));
        continue;
      }
      found = present.length === names.names.length ? present : null;
    } else {
      const claimed = new Set(writers.keys());
      found = [...files.keys()].filter((n) => names.pattern.test(n) && !claimed.has(n)).sort();
    }

    if (shape.kind === 'file') {
      if (found !== null && found.length > 1) {
        problems.push(`WDL output '${label}' cannot be told apart: ${found.length} files match ${names.kind === 'pattern' ? names.source : 'it'} (${found.slice(0, 3).join(', ')}).`);
        continue;
      }
      const name = found?.[0];
      if (name !== undefined) outputs[decl.name] = fileOutput(outputsDir, name, files.get(name)!);
      else if (optional) outputs[decl.name] = null;
      else missing.push(label);
    } else {
      if (found !== null && (found.length > 0 || !shape.nonEmpty)) outputs[decl.name] = found.map((n) => fileOutput(outputsDir, n, files.get(n)!));
      else if (optional) outputs[decl.name] = null;
      else missing.push(label);
    }
  }

  const failures = [...missing.map((label) => `WDL output '${label}' was not produced.`), ...problems];
  if (failures.length > 0) return { outputs: {}, failure: failures.join(' ') };
  return { outputs };
}

/** The names a task output's file(s) get in the output folder, from its expression. */
export function fileNames(expression: WdlToken[]): FileNames {
  const [first, second, third, fourth] = expression;
  if (expression.length === 1 && first?.kind === 'string') return stringNames(first);
  if (expression.length === 3 && first?.kind === 'ident' && second?.text === '(' && third?.text === ')') {
    if (first.text === 'stdout' || first.text === 'stderr') return { kind: 'exact', names: [first.text] };
  }
  if (expression.length === 4 && first?.text === 'glob' && second?.text === '(' && third?.kind === 'string' && fourth?.text === ')') {
    const literal = literalText(third);
    if (literal === null) return { kind: 'unknown' };
    return { kind: 'pattern', pattern: globPattern(basename(literal)), source: `glob(${third.text})` };
  }
  if (first?.text === '[' && expression.at(-1)?.text === ']') {
    const items = expression.slice(1, -1).filter((t) => t.text !== ',');
    const commas = expression.length - 2 - items.length;
    const names = items.map((t) => (t.kind === 'string' ? literalText(t) : null));
    if (names.every((n): n is string => n !== null) && commas >= items.length - 1 && commas <= items.length) {
      return { kind: 'exact', names: names.map(basename) };
    }
  }
  return { kind: 'unknown' };
}

function stringNames(token: WdlToken): FileNames {
  const literal = literalText(token);
  if (literal !== null) return { kind: 'exact', names: [basename(literal)] };
  // A name built from placeholders: its basename is a pattern, each placeholder any text.
  const HOLE = '\u0000';
  const template = (token.parts ?? []).map((p) => ('text' in p ? p.text : HOLE)).join('');
  const base = template.slice(template.lastIndexOf('/') + 1);
  const pattern = base
    .split(HOLE)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return { kind: 'pattern', pattern: new RegExp(`^${pattern}$`, 's'), source: token.text };
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Python's fnmatch, as Toil's glob() uses it on file names. */
function globPattern(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && glob.indexOf(']', i + 2) !== -1) {
      const end = glob.indexOf(']', i + 2);
      let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      else if (body.startsWith('^')) body = '\\' + body;
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Regular files directly in the folder, by name, with their sizes (the compiled script left out). */
async function listFiles(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isFile() || e.name === COMPILED_SCRIPT) continue;
    const stat = await fs.stat(path.join(dir, e.name)).catch(() => null);
    if (stat?.isFile()) out.set(e.name, stat.size);
  }
  return out;
}

function fileOutput(dir: string, name: string, size: number): WdlFileOutput {
  return { location: pathToFileURL(path.join(dir, name)).href, basename: name, size, class: 'File' };
}
