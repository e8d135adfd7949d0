/**
 * The local files a CWL workflow needs, found without an engine: its
 * documents are read as YAML and followed through `run:`, `$import`,
 * `$include`, `$mixin` and `$schemas`, and File and Directory literals (a
 * default, an InitialWorkDir entry) with local locations are taken too. And
 * the files an inputs object names, secondary files included, with their
 * locations rewritten once their attachment names are known.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { CliError } from './context.js';
import { resolveReference, type LocalFiles, type Reference } from './local-files.js';

/** A YAML or JSON document, or an error naming the file. */
export async function readYaml(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return parse(text, { uniqueKeys: false, maxAliasCount: -1 });
  } catch (err) {
    throw new CliError(`${file}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isExpression = (s: string): boolean => s.includes('$(') || s.includes('${');

/** Where a File or Directory object points: its `location` (a URI), else its `path` (a path, `#` and all). */
function fileObjectTarget(node: Record<string, unknown>, baseDir: string): { written: string; target: Reference } | undefined {
  if (typeof node.location === 'string') return { written: node.location, target: resolveReference(node.location, baseDir) };
  if (typeof node.path === 'string') return { written: node.path, target: { local: path.resolve(baseDir, node.path) } };
  return undefined;
}

/**
 * Follows a CWL document and everything it references, adding each local
 * file to `files`; returns the main document. A reference that must exist
 * and does not is an error; one by absolute path is left as it is (the server
 * reads it only where it may), with a warning.
 */
export async function cwlDependencies(mainFile: string, files: LocalFiles): Promise<unknown> {
  const seen = new Set<string>();
  const follow = async (file: string, doc: unknown): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const base = path.dirname(file);
    const shown = path.relative(process.cwd(), file) || file;

    /** A reference: attach it, and read it too when it is a document. */
    const reference = async (ref: string, key: string, readIt: boolean): Promise<void> => {
      const target = resolveReference(ref, base);
      if ('remote' in target) return;
      if (path.isAbsolute(ref) || ref.startsWith('file:')) {
        files.warnings.push(`${shown} names ${ref} (${key}) by an absolute path: not attached, the server must be able to read it there`);
        return;
      }
      const found = await files.add(target.local, `${shown} names ${ref} (${key})`);
      if (readIt && found.kind === 'file') await follow(found.path, await readYaml(found.path));
    };

    const walk = async (node: unknown): Promise<void> => {
      if (Array.isArray(node)) {
        for (const item of node) await walk(item);
        return;
      }
      if (!isObject(node)) return;
      for (const key of ['$import', '$mixin'] as const) {
        if (typeof node[key] === 'string') await reference(node[key], key, true);
      }
      if (typeof node.$include === 'string') await reference(node.$include, '$include', false);
      // A step's `run` (a step has `in` and `out`; elsewhere `run` may be an input's name).
      if (typeof node.run === 'string' && ('in' in node || 'out' in node)) await reference(node.run, 'run', true);
      if (Array.isArray(node.$schemas)) {
        for (const s of node.$schemas) if (typeof s === 'string') await reference(s, '$schemas', false);
      }
      if ((node.class === 'File' || node.class === 'Directory') && !('$import' in node)) {
        const found = fileObjectTarget(node, base);
        const loc = found?.written;
        if (found && loc !== undefined && !isExpression(loc)) {
          const target = found.target;
          if ('local' in target && !path.isAbsolute(loc) && !loc.startsWith('file:')) {
            await files.add(target.local, `${shown} names ${loc} (a ${node.class})`).catch((err: Error) => files.warnings.push(`${err.message}: not attached`));
          }
        }
      }
      for (const [key, value] of Object.entries(node)) {
        if (key !== '$include' && typeof value === 'object') await walk(value);
      }
    };
    await walk(doc);
  };
  const main = await readYaml(mainFile);
  await follow(mainFile, main);
  return main;
}

/** The `cwlVersion` of a CWL document (packed ones carry it at the top). */
export function cwlVersionOf(doc: unknown): string | undefined {
  return isObject(doc) && typeof doc.cwlVersion === 'string' ? doc.cwlVersion : undefined;
}

/** The process a run starts: the document itself, or in a `$graph` the one the fragment (or `main`) names. */
function mainProcess(doc: unknown, fragment: string | undefined): Record<string, unknown> | undefined {
  if (!isObject(doc)) return undefined;
  if (!Array.isArray(doc.$graph)) return doc;
  const want = fragment ?? 'main';
  return doc.$graph.find((p): p is Record<string, unknown> => isObject(p) && typeof p.id === 'string' && p.id.replace(/^#/, '') === want);
}

type Pattern = { pattern: string; required: boolean };

/** A parameter's `secondaryFiles`, plain patterns only (expressions are the engine's). */
function patternsOf(secondaryFiles: unknown): Pattern[] {
  if (secondaryFiles === undefined) return [];
  const list = Array.isArray(secondaryFiles) ? secondaryFiles : [secondaryFiles];
  return list
    .map((p) => (typeof p === 'string' ? { pattern: p, required: true } : isObject(p) && typeof p.pattern === 'string' ? { pattern: p.pattern, required: p.required !== false } : null))
    .filter((p): p is Pattern => p !== null && !isExpression(p.pattern));
}

/** Named parameters, from a map (`id: {…}` or `id: type`) or a list (`- id: …` / `- name: …`), by their last id part. */
function namedParameters(params: unknown): [string, Record<string, unknown>][] {
  const name = (id: unknown): string => String(id ?? '').replace(/^#?(.*\/)?/, '');
  if (Array.isArray(params)) return params.filter(isObject).map((p) => [name(p.id ?? p.name), p]);
  if (isObject(params)) return Object.entries(params).map(([id, p]) => [name(id), isObject(p) ? p : { type: p }]);
  return [];
}

/**
 * The secondary-file patterns that apply to each File of an inputs object:
 * those of the main process's inputs, and of record fields inside them, read
 * along the types (arrays, records, unions). Types named in a
 * SchemaDefRequirement are not followed.
 */
export function secondaryPatterns(doc: unknown, params: Record<string, unknown>, fragment?: string): Map<object, Pattern[]> {
  const out = new Map<object, Pattern[]>();
  const assign = (type: unknown, value: unknown, patterns: Pattern[]): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(type)) {
      for (const member of type) assign(member, value, patterns);
      return;
    }
    if (isObject(value) && value.class === 'File') {
      if (patterns.length) out.set(value, [...(out.get(value) ?? []), ...patterns.filter((p) => !out.get(value)?.some((q) => q.pattern === p.pattern))]);
      return;
    }
    if (Array.isArray(value)) {
      const items = isObject(type) && type.type === 'array' ? type.items : typeof type === 'string' ? type.replace(/\[\]\??$/, '') : undefined;
      for (const item of value) assign(items, item, patterns);
      return;
    }
    if (isObject(value) && isObject(type) && type.type === 'record') {
      for (const [field, spec] of namedParameters(type.fields)) assign(spec.type, value[field], [...patterns, ...patternsOf(spec.secondaryFiles)]);
    }
  };
  for (const [id, input] of namedParameters(mainProcess(doc, fragment)?.inputs)) assign(input.type, params[id], patternsOf(input.secondaryFiles));
  return out;
}

/** A secondary file's name for a primary's basename: `.idx` appends, each leading `^` strips one extension; a trailing `?` is optional. */
export function secondaryName(basename: string, pattern: string): string {
  let name = basename;
  let rest = pattern.replace(/\?$/, '');
  while (rest.startsWith('^')) {
    const dot = name.lastIndexOf('.');
    if (dot > 0) name = name.slice(0, dot);
    rest = rest.slice(1);
  }
  return name + rest;
}

/** A File or Directory of the inputs that names a local path: its object, to rewrite once its attachment name is known. */
export interface LocalInput {
  object: Record<string, unknown>;
  file: string;
}

/**
 * The local files and folders a CWL inputs object names (`location` or
 * `path`, relative to `baseDir`, absolute or `file://`), secondary files and
 * listings included, and for inputs the main process gives secondary-file
 * patterns, the secondary files beside each of their files. Adds each to
 * `files` and returns the objects whose locations to rewrite.
 */
export async function cwlInputFiles(params: Record<string, unknown>, baseDir: string, files: LocalFiles, patterns = new Map<object, Pattern[]>()): Promise<LocalInput[]> {
  const found: LocalInput[] = [];
  const walk = async (node: unknown, input: string): Promise<void> => {
    if (Array.isArray(node)) {
      for (const item of node) await walk(item, input);
      return;
    }
    if (!isObject(node)) return;
    if (node.class === 'File' || node.class === 'Directory') {
      const target = fileObjectTarget(node, baseDir)?.target;
      if (target && 'local' in target) {
        const added = await files.add(target.local, `input '${input}'`);
        found.push({ object: node, file: added.path });
        if (node.class === 'File') await secondaries(added.path, patterns.get(node) ?? [], input);
      }
    }
    for (const value of Object.values(node)) if (typeof value === 'object') await walk(value, input);
  };
  const secondaries = async (primary: string, list: Pattern[], input: string): Promise<void> => {
    for (const { pattern, required } of list) {
      const file = path.join(path.dirname(primary), secondaryName(path.basename(primary), pattern));
      const ok = await fs.stat(file).then(
        () => true,
        () => false,
      );
      if (ok) await files.add(file, `input '${input}' (secondary file ${pattern})`);
      else if (required && !pattern.endsWith('?')) files.warnings.push(`input '${input}': secondary file ${file} (${pattern}) not found`);
    }
  };
  for (const [key, value] of Object.entries(params)) await walk(value, key);
  return found;
}
