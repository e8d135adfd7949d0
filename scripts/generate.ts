/**
 * Builds everything in generated/ from the OpenAPI documents in spec/.
 *
 *   npx tsx scripts/generate.ts           write generated/*
 *   npx tsx scripts/generate.ts --check   regenerate in memory; exit 1 if generated/ is stale
 *
 * Outputs:
 *   generated/openapi.json   one self-contained OpenAPI 3.0.x document: the upstream WES 1.1 paths
 *                            rebased under /ga4gh/wes/v1, Ferry's own routes from spec/ferry.yaml,
 *                            and the service-info schemas inlined as local components.
 *   generated/schema.ts      openapi-typescript types for that document.
 *   generated/operations.ts  operation ids, routes, per-operation input/result types and the
 *                            OperationHandlers interface the server implements.
 *
 * The script fails loudly (exit 1) on anything it cannot bundle faithfully: unknown external
 * $refs, dangling local $refs, colliding operationIds, paths or component names, or a bundle
 * that openapi-backend rejects as OpenAPI 3.0.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import openapiTS, { astToString } from 'openapi-typescript';
import { OpenAPIBackend } from 'openapi-backend';

// ---------------------------------------------------------------------------------------------
// Configuration

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SPEC_DIR = path.join(ROOT, 'spec');
const OUT_DIR = path.join(ROOT, 'generated');

const WES_FILE = 'workflow_execution_service.openapi.yaml';
const FERRY_FILE = 'ferry.yaml';

/** Where the WES paths live on our server. Checked against the defaults of WES's `servers`. */
const WES_BASE_PATH = '/ga4gh/wes/v1';

/**
 * External documents that upstream specs reference by URL, and the verbatim local copy we use
 * instead. Any other non-local $ref is an error.
 */
const EXTERNAL_DOCS: Record<string, string> = {
  'https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/service-info.yaml':
    'service-info.yaml',
};

const GENERATED_NOTE = 'DO NOT EDIT — made by scripts/generate.ts from spec/';
const TS_HEADER = [
  '// DO NOT EDIT — made by scripts/generate.ts from spec/ (run `npm run generate`).',
  '// Edit spec/ferry.yaml or replace the upstream spec files instead; see spec/README.md.',
].join('\n');

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

// ---------------------------------------------------------------------------------------------
// Small helpers

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

class GenerateError extends Error {}

function fail(message: string): never {
  throw new GenerateError(message);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown, what: string): JsonObject {
  if (!isObject(value)) fail(`${what}: expected an object`);
  return value;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Decodes a JSON pointer fragment ("/components/schemas/Foo") into its segments. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return pointer === '' ? [] : [''];
  if (!pointer.startsWith('/')) fail(`unsupported JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getPointer(doc: Json, pointer: string): Json | undefined {
  let node: Json | undefined = doc;
  for (const segment of pointerSegments(pointer)) {
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (isObject(node)) node = Object.hasOwn(node, segment) ? node[segment] : undefined;
    else return undefined;
  }
  return node;
}

async function loadYaml(file: string): Promise<JsonObject> {
  const text = await readFile(path.join(SPEC_DIR, file), 'utf8');
  // YAML 1.2 core schema: integer-looking response codes become numbers, which turn into
  // string keys in the resulting JS object, as JSON requires.
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    fail(`spec/${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const root = asObject(doc, `spec/${file}`);
  const version = root['openapi'];
  if (typeof version !== 'string' || !/^3\.0\.\d+$/.test(version)) {
    fail(`spec/${file}: expected an OpenAPI 3.0.x document, found openapi: ${JSON.stringify(version)}`);
  }
  return root;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Bundling

interface ComponentSink {
  /** section -> name -> value, in insertion order */
  sections: Map<string, Map<string, { value: Json; origin: string }>>;
}

function addComponent(sink: ComponentSink, section: string, name: string, value: Json, origin: string): void {
  let bucket = sink.sections.get(section);
  if (!bucket) {
    bucket = new Map();
    sink.sections.set(section, bucket);
  }
  const existing = bucket.get(name);
  if (existing) {
    if (!isDeepStrictEqual(existing.value, value)) {
      fail(
        `components.${section}.${name} is defined differently in ${existing.origin} and ${origin}; ` +
          'rename one of them or make them identical',
      );
    }
    return;
  }
  bucket.set(name, { value, origin });
}

/**
 * Copies `node`, rewriting every $ref:
 * - local refs of a main document (WES, ferry.yaml) are kept as they are; their targets are
 *   merged into the bundle's components separately;
 * - refs into a known external document (by URL), and local refs inside such a document, must
 *   point at `#/components/<section>/<name>`; the target is copied into the bundle's components
 *   (recursively) and the ref becomes local;
 * - anything else is an error.
 */
function rewriteRefs(
  node: Json,
  ctx: { origin: string; externalDoc?: { url: string; doc: JsonObject } },
  externals: Map<string, JsonObject>,
  sink: ComponentSink,
  where: string,
): Json {
  if (Array.isArray(node)) return node.map((v, i) => rewriteRefs(v, ctx, externals, sink, `${where}/${i}`));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      out[key] = rewriteRef(value, ctx, externals, sink, where);
    } else {
      out[key] = rewriteRefs(value, ctx, externals, sink, `${where}/${key}`);
    }
  }
  return out;
}

function rewriteRef(
  ref: string,
  ctx: { origin: string; externalDoc?: { url: string; doc: JsonObject } },
  externals: Map<string, JsonObject>,
  sink: ComponentSink,
  where: string,
): string {
  const hash = ref.indexOf('#');
  const url = hash === -1 ? ref : ref.slice(0, hash);
  const pointer = hash === -1 ? '' : ref.slice(hash + 1);

  let target: { url: string; doc: JsonObject };
  if (url === '') {
    if (!ctx.externalDoc) return ref; // local ref in a main document: kept verbatim
    target = ctx.externalDoc;
  } else {
    const doc = externals.get(url);
    if (!doc) {
      fail(
        `${ctx.origin} ${where}: $ref "${ref}" points outside the bundle and no local copy is ` +
          'configured in EXTERNAL_DOCS (scripts/generate.ts)',
      );
    }
    target = { url, doc };
  }

  const segments = pointerSegments(pointer);
  const [components, section, name] = segments;
  if (segments.length !== 3 || components !== 'components' || section === undefined || name === undefined) {
    fail(`${ctx.origin} ${where}: can only inline refs of the form <doc>#/components/<section>/<name>, got "${ref}"`);
  }
  const value = getPointer(target.doc, pointer);
  if (value === undefined) fail(`${ctx.origin} ${where}: $ref "${ref}" does not resolve`);

  const localRef = `#/components/${section}/${name}`;
  let bucket = sink.sections.get(section);
  if (!bucket) {
    bucket = new Map();
    sink.sections.set(section, bucket);
  }
  const existing = bucket.get(name);
  if (!existing) {
    // Reserve the slot before recursing: keeps the source's order and stops reference cycles.
    const entry = { value: null as Json, origin: target.url };
    bucket.set(name, entry);
    entry.value = rewriteRefs(value, { origin: target.url, externalDoc: target }, externals, sink, localRef);
  } else if (existing.origin !== target.url) {
    // Same name pulled in from two external documents: fine only if identical.
    const rewritten = rewriteRefs(value, { origin: target.url, externalDoc: target }, externals, sink, localRef);
    addComponent(sink, section, name, rewritten, target.url);
  }
  return localRef;
}

function isHttpMethod(key: string): key is (typeof HTTP_METHODS)[number] {
  return (HTTP_METHODS as readonly string[]).includes(key);
}

/** Works out the path part of WES's `servers[0].url` with variable defaults substituted. */
function wesBasePathFromServers(wes: JsonObject): string | undefined {
  const servers = wes['servers'];
  if (!Array.isArray(servers) || !isObject(servers[0])) return undefined;
  const server = servers[0];
  const url = server['url'];
  if (typeof url !== 'string') return undefined;
  const variables = isObject(server['variables']) ? server['variables'] : {};
  const expanded = url.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const variable = variables[name];
    const def = isObject(variable) ? variable['default'] : undefined;
    return typeof def === 'string' ? def : `{${name}}`;
  });
  try {
    return new URL(expanded).pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

async function bundle(): Promise<JsonObject> {
  const wes = await loadYaml(WES_FILE);
  const ferry = await loadYaml(FERRY_FILE);
  const externals = new Map<string, JsonObject>();
  for (const [url, file] of Object.entries(EXTERNAL_DOCS)) externals.set(url, await loadYaml(file));

  const serversBase = wesBasePathFromServers(wes);
  if (serversBase !== WES_BASE_PATH) {
    fail(
      `spec/${WES_FILE} now describes its base path as ${JSON.stringify(serversBase)}, but the generator ` +
        `mounts WES at ${WES_BASE_PATH}. Update WES_BASE_PATH in scripts/generate.ts (and the root ` +
        'redirect in spec/ferry.yaml) deliberately.',
    );
  }

  const allowedFerryKeys = new Set(['openapi', 'info', 'tags', 'paths', 'components']);
  for (const key of Object.keys(ferry)) {
    if (!allowedFerryKeys.has(key)) fail(`spec/${FERRY_FILE}: top-level "${key}" is not supported by the generator`);
  }

  const sink: ComponentSink = { sections: new Map() };
  const paths: JsonObject = {};
  const addPaths = (doc: JsonObject, file: string, prefix: string): void => {
    const docPaths = asObject(doc['paths'] ?? {}, `spec/${file} paths`);
    for (const [p, item] of Object.entries(docPaths)) {
      if (!p.startsWith('/')) fail(`spec/${file}: path "${p}" must start with "/"`);
      const full = prefix + (prefix && p === '/' ? '' : p);
      if (Object.hasOwn(paths, full)) fail(`path "${full}" from spec/${file} is already defined`);
      paths[full] = rewriteRefs(item, { origin: `spec/${file}` }, externals, sink, `#/paths/${p}`);
    }
  };
  addPaths(wes, WES_FILE, WES_BASE_PATH);
  addPaths(ferry, FERRY_FILE, '');

  // Other top-level WES keys (x-tagGroups, externalDocs, security, ...) verbatim.
  const handled = new Set(['openapi', 'info', 'servers', 'tags', 'paths', 'components']);
  const otherTopLevel: JsonObject = {};
  for (const [key, value] of Object.entries(wes)) {
    if (!handled.has(key)) {
      otherTopLevel[key] = rewriteRefs(value, { origin: `spec/${WES_FILE}` }, externals, sink, `#/${key}`);
    }
  }

  // Components of the main documents, WES first; then whatever the external refs pulled in.
  const mainComponents = new Map<string, Map<string, { value: Json; origin: string }>>();
  const mainSink: ComponentSink = { sections: mainComponents };
  for (const [doc, file] of [
    [wes, WES_FILE],
    [ferry, FERRY_FILE],
  ] as const) {
    const components = asObject(doc['components'] ?? {}, `spec/${file} components`);
    for (const [section, entries] of Object.entries(components)) {
      for (const [name, value] of Object.entries(asObject(entries, `spec/${file} components.${section}`))) {
        const rewritten = rewriteRefs(
          value,
          { origin: `spec/${file}` },
          externals,
          sink,
          `#/components/${section}/${name}`,
        );
        addComponent(mainSink, section, name, rewritten, `spec/${file}`);
      }
    }
  }
  for (const [section, entries] of sink.sections) {
    for (const [name, { value, origin }] of entries) addComponent(mainSink, section, name, value, origin);
  }
  const components: JsonObject = {};
  for (const [section, entries] of mainComponents) {
    const out: JsonObject = {};
    for (const [name, { value }] of entries) out[name] = value;
    components[section] = out;
  }

  // Tags: WES's, then ferry's new ones.
  const tags: Json[] = [];
  const tagNames = new Set<string>();
  for (const [doc, file] of [
    [wes, WES_FILE],
    [ferry, FERRY_FILE],
  ] as const) {
    const docTags = doc['tags'] ?? [];
    if (!Array.isArray(docTags)) fail(`spec/${file}: tags must be an array`);
    for (const tag of docTags) {
      const name = asObject(tag, `spec/${file} tag`)['name'];
      if (typeof name !== 'string') fail(`spec/${file}: tag without a name`);
      if (tagNames.has(name)) continue;
      tagNames.add(name);
      tags.push(clone(tag));
    }
  }

  const openapiVersion = [wes['openapi'], ferry['openapi']]
    .map(String)
    .sort(compareVersions)
    .at(-1) as string;

  const wesInfo = asObject(wes['info'], `spec/${WES_FILE} info`);
  const ferryInfo = asObject(ferry['info'], `spec/${FERRY_FILE} info`);
  const info: JsonObject = {
    ...clone(wesInfo),
    'x-ferry-note':
      `Bundled by Ferry: the GA4GH ${String(wesInfo['title'])} ${String(wesInfo['version'])} paths are mounted under ` +
      `${WES_BASE_PATH}; the other paths come from "${String(ferryInfo['title'])}" ` +
      `${String(ferryInfo['version'])} (spec/${FERRY_FILE}).`,
  };

  const result: JsonObject = {
    'x-generated': GENERATED_NOTE,
    openapi: openapiVersion,
    info,
    servers: [{ url: '/' }],
    tags,
    ...otherTopLevel,
  };
  result['paths'] = paths;
  result['components'] = components;

  checkBundle(result);
  return result;
}

/** Every $ref is local and resolves; operationIds exist and are unique. */
function checkBundle(doc: JsonObject): void {
  const walk = (node: Json, where: string): void => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${where}/${i}`));
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        if (!value.startsWith('#/')) fail(`bundle ${where}: non-local $ref "${value}" remains`);
        if (getPointer(doc, value.slice(1)) === undefined) fail(`bundle ${where}: $ref "${value}" does not resolve`);
      } else {
        walk(value, `${where}/${key}`);
      }
    }
  };
  walk(doc, '#');

  const seen = new Map<string, string>();
  for (const [p, item] of Object.entries(asObject(doc['paths'], 'paths'))) {
    for (const [method, op] of Object.entries(asObject(item, `paths.${p}`))) {
      if (!isHttpMethod(method)) continue;
      const id = asObject(op, `${method} ${p}`)['operationId'];
      if (typeof id !== 'string' || id === '') fail(`${method.toUpperCase()} ${p} has no operationId`);
      const previous = seen.get(id);
      if (previous) fail(`operationId "${id}" is used by both ${previous} and ${method.toUpperCase()} ${p}`);
      seen.set(id, `${method.toUpperCase()} ${p}`);
    }
  }
}

/**
 * openapi-backend only understands OpenAPI 3.0; make sure it accepts the bundle. With strict and
 * not quick, init() validates the document against the OpenAPI 3.0 schema and dereferences it.
 * (validate: false only skips compiling request/response validators, which would just print
 * ajv's "unknown format" warnings here.)
 */
async function validateWithOpenapiBackend(doc: JsonObject): Promise<void> {
  const api = new OpenAPIBackend({
    definition: clone(doc) as never,
    strict: true,
    quick: false,
    validate: false,
  });
  try {
    await api.init();
  } catch (err) {
    fail(`openapi-backend rejects the bundled document: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// generated/schema.ts

async function emitSchemaTs(doc: JsonObject): Promise<string> {
  const ast = await openapiTS(clone(doc) as never, { silent: true });
  return `${TS_HEADER}\n// Types produced by openapi-typescript from generated/openapi.json.\n\n${astToString(ast).trimEnd()}\n`;
}

// ---------------------------------------------------------------------------------------------
// generated/operations.ts

const RESERVED_NAMES = new Set([
  'UploadedFile',
  'OperationId',
  'OperationHandlers',
  'OperationInputs',
  'OperationResults',
  'StreamBody',
]);

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function propKey(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : quote(name);
}

function commentText(s: string): string {
  return s.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim();
}

function isJsonMediaType(mediaType: string): boolean {
  const base = mediaType.split(';')[0]!.trim().toLowerCase();
  return base === 'application/json' || /^application\/[\w.+-]+\+json$/.test(base);
}

interface OperationInfo {
  id: string;
  method: string;
  path: string;
  summary: string | undefined;
  op: JsonObject;
  pathItem: JsonObject;
}

function collectOperations(doc: JsonObject): OperationInfo[] {
  const ops: OperationInfo[] = [];
  for (const [p, rawItem] of Object.entries(asObject(doc['paths'], 'paths'))) {
    const pathItem = asObject(rawItem, `paths.${p}`);
    for (const [method, rawOp] of Object.entries(pathItem)) {
      if (!isHttpMethod(method)) continue;
      const op = asObject(rawOp, `${method} ${p}`);
      const id = op['operationId'] as string;
      if (!/^[A-Za-z_$][\w$]*$/.test(id)) fail(`operationId "${id}" is not a valid TypeScript identifier`);
      if (RESERVED_NAMES.has(id) || RESERVED_NAMES.has(`${id}Input`) || RESERVED_NAMES.has(`${id}Result`)) {
        fail(`operationId "${id}" clashes with a name operations.ts defines itself`);
      }
      const summary = typeof op['summary'] === 'string' ? op['summary'] : undefined;
      ops.push({ id, method, path: p, summary, op, pathItem });
    }
  }
  return ops;
}

function emitOperationsTs(doc: JsonObject): string {
  const deref = (node: Json | undefined, what: string): JsonObject => {
    let current = node;
    for (let depth = 0; isObject(current) && typeof current['$ref'] === 'string'; depth++) {
      if (depth > 20) fail(`${what}: $ref chain too long`);
      current = getPointer(doc, current['$ref'].slice(1));
    }
    return asObject(current, what);
  };

  const ops = collectOperations(doc);
  const lines: string[] = [];
  const emit = (...l: string[]): void => void lines.push(...l);

  emit(
    TS_HEADER,
    '//',
    '// Per-operation input/result types and the OperationHandlers interface, derived from',
    '// generated/openapi.json. A class that `implements OperationHandlers` stops compiling when a',
    '// spec bump adds, removes or reshapes an operation.',
    '',
    "import type { operations } from './schema.js';",
    '',
    '/** A multipart file part, already streamed to a staging folder on disk. */',
    'export interface UploadedFile {',
    '  /** File name as sent by the client (Content-Disposition filename); may contain subdirectories. */',
    '  filename: string;',
    '  /** Where the part was written on disk. */',
    '  path: string;',
    '  /** Size in bytes. */',
    '  size: number;',
    '}',
    '',
    '/** Body of a non-JSON response: sent as is (a stream is piped). */',
    'export type StreamBody = string | Buffer | NodeJS.ReadableStream;',
    '',
    '/** All operationIds, in document order. */',
    'export const operationIds = [',
    ...ops.map((o) => `  ${quote(o.id)},`),
    '] as const;',
    '',
    'export type OperationId = (typeof operationIds)[number];',
    '',
    '/** HTTP method (lower case, as in OpenAPI) and full path template of every operation. */',
    'export const operationRoutes: Record<OperationId, { method: string; path: string }> = {',
    ...ops.map((o) => `  ${o.id}: { method: ${quote(o.method)}, path: ${quote(o.path)} },`),
    '};',
  );

  for (const o of ops) {
    const opType = `operations[${quote(o.id)}]`;
    const title = `${o.method.toUpperCase()} ${o.path}${o.summary && o.summary !== o.id ? ` — ${o.summary}` : ''}`;

    // --- parameters (path-level ones overridden by operation-level ones) ---
    const params = new Map<string, JsonObject>();
    for (const source of [o.pathItem['parameters'], o.op['parameters']]) {
      if (source === undefined) continue;
      if (!Array.isArray(source)) fail(`${o.id}: parameters must be an array`);
      for (const raw of source) {
        const param = deref(raw, `${o.id} parameter`);
        params.set(`${String(param['in'])}:${String(param['name'])}`, param);
      }
    }
    const locations = new Set([...params.values()].map((p) => String(p['in'])));
    for (const loc of locations) {
      if (!['path', 'query', 'header'].includes(loc)) fail(`${o.id}: "${loc}" parameters are not supported by the emitter`);
    }
    const paramType = (loc: string): string =>
      locations.has(loc) ? `NonNullable<${opType}['parameters'][${quote(loc)}]>` : 'Record<string, never>';

    // --- request body ---
    let bodyType = 'undefined';
    if (o.op['requestBody'] !== undefined) {
      const requestBody = deref(o.op['requestBody'], `${o.id} requestBody`);
      const content = asObject(requestBody['content'], `${o.id} requestBody.content`);
      const members: string[] = [];
      for (const [mediaType, rawMedia] of Object.entries(content)) {
        const base = `NonNullable<${opType}['requestBody']>['content'][${quote(mediaType)}]`;
        const lower = mediaType.toLowerCase();
        if (lower.startsWith('multipart/form-data')) {
          const media = asObject(rawMedia, `${o.id} ${mediaType}`);
          const schema = media['schema'] === undefined ? {} : deref(media['schema'], `${o.id} ${mediaType} schema`);
          const properties = isObject(schema['properties']) ? schema['properties'] : {};
          const required = new Set(Array.isArray(schema['required']) ? schema['required'].map(String) : []);
          const fileProps: string[] = [];
          for (const [name, rawProp] of Object.entries(properties)) {
            const prop = deref(rawProp, `${o.id} ${mediaType} ${name}`);
            const items = prop['type'] === 'array' && prop['items'] !== undefined ? deref(prop['items'], `${o.id} ${name} items`) : undefined;
            if (prop['format'] === 'binary' || items?.['format'] === 'binary') fileProps.push(name);
          }
          if (fileProps.length === 0) {
            members.push(base);
          } else {
            const fields = fileProps.map((n) => `${propKey(n)}${required.has(n) ? '' : '?'}: UploadedFile[]`).join('; ');
            members.push(`Omit<${base}, ${fileProps.map(quote).join(' | ')}> & { ${fields} }`);
          }
        } else if (isJsonMediaType(mediaType) || lower.startsWith('application/x-www-form-urlencoded')) {
          members.push(base);
        } else if (lower.startsWith('text/')) {
          members.push('string');
        } else {
          members.push('Buffer');
        }
      }
      bodyType = [...new Set(members)].join(' | ') || 'undefined';
    }

    emit(
      '',
      `/** Input of ${o.id}: ${commentText(title)}${
        o.op['requestBody'] !== undefined ? ' (the HTTP layer always passes a body object, possibly empty)' : ''
      }. */`,
      `export interface ${o.id}Input {`,
      `  params: ${paramType('path')};`,
      `  query: ${paramType('query')};`,
      `  headers: ${paramType('header')};`,
      `  body: ${bodyType};`,
      '}',
    );

    // --- results: 2xx and 3xx responses ---
    const responses = asObject(o.op['responses'], `${o.id} responses`);
    const results: string[] = [];
    for (const [code, rawResponse] of Object.entries(responses)) {
      if (/^[1-5]XX$/i.test(code)) fail(`${o.id}: response range "${code}" is not supported by the emitter`);
      if (!/^[23]\d\d$/.test(code)) continue;
      const response = deref(rawResponse, `${o.id} response ${code}`);
      const requiredHeaders: string[] = [];
      for (const [name, rawHeader] of Object.entries(isObject(response['headers']) ? response['headers'] : {})) {
        const header = deref(rawHeader, `${o.id} ${code} header ${name}`);
        const lower = name.toLowerCase();
        if (header['required'] === true || (code.startsWith('3') && lower === 'location')) requiredHeaders.push(lower);
      }
      const headers =
        requiredHeaders.length > 0
          ? `headers: { ${requiredHeaders.map((h) => `${propKey(h)}: string`).join('; ')} } & Record<string, string>`
          : 'headers?: Record<string, string>';
      const content = isObject(response['content']) ? response['content'] : {};
      const mediaTypes = Object.keys(content);
      let body: string;
      if (mediaTypes.length === 0) {
        body = 'body?: undefined';
      } else {
        const members = mediaTypes.map((mt) =>
          isJsonMediaType(mt) ? `${opType}['responses'][${code}]['content'][${quote(mt)}]` : 'StreamBody',
        );
        body = `body: ${[...new Set(members)].join(' | ')}`;
      }
      results.push(`{ status: ${code}; ${headers}; ${body} }`);
    }
    if (results.length === 0) fail(`${o.id}: no 2xx or 3xx response to return`);
    emit(
      '',
      `/** Successful outcomes of ${commentText(o.id)}; errors are thrown, not returned. */`,
      `export type ${o.id}Result =`,
      ...results.map((r, i) => `  | ${r}${i === results.length - 1 ? ';' : ''}`),
    );
  }

  emit(
    '',
    '/** Input type of each operation. */',
    'export interface OperationInputs {',
    ...ops.map((o) => `  ${o.id}: ${o.id}Input;`),
    '}',
    '',
    '/** Result type of each operation. */',
    'export interface OperationResults {',
    ...ops.map((o) => `  ${o.id}: ${o.id}Result;`),
    '}',
    '',
    '/** One method per operation of generated/openapi.json. */',
    'export interface OperationHandlers {',
    ...ops.map((o) => `  ${o.id}(input: ${o.id}Input): Promise<${o.id}Result>;`),
    '}',
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Main

async function generate(): Promise<Map<string, string>> {
  const doc = await bundle();
  await validateWithOpenapiBackend(doc);
  const files = new Map<string, string>();
  files.set('openapi.json', `${JSON.stringify(doc, null, 2)}\n`);
  files.set('schema.ts', await emitSchemaTs(doc));
  files.set('operations.ts', emitOperationsTs(doc));
  return files;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`usage: tsx scripts/generate.ts [--check]  (unknown argument: ${unknown.join(' ')})`);
    return 2;
  }
  const check = args.includes('--check');
  const files = await generate();

  const stale: string[] = [];
  let wrote = false;
  for (const [name, content] of files) {
    const file = path.join(OUT_DIR, name);
    const current = await readIfExists(file);
    const upToDate = current !== undefined && current.replace(/\r\n/g, '\n') === content;
    if (upToDate) continue;
    const rel = path.relative(ROOT, file);
    if (check) {
      stale.push(`  ${rel}${current === undefined ? ' (missing)' : ' (differs)'}`);
    } else {
      await mkdir(OUT_DIR, { recursive: true });
      await writeFile(file, content);
      wrote = true;
      console.log(`wrote ${rel}`);
    }
  }
  if (check) {
    if (stale.length > 0) {
      console.error(
        ['generated/ is out of date with spec/ and scripts/generate.ts:', ...stale, 'Run `npm run generate` and commit the result.'].join('\n'),
      );
      return 1;
    }
    console.log('generated/ is up to date.');
  } else if (!wrote) {
    console.log('generated/ was already up to date.');
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof GenerateError) {
      console.error(`generate: ${err.message}`);
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  },
);
