/**
 * Combining the bundled WES document and Ferry's own ferry.yaml into the one document Ferry
 * serves. This is the part no library does for us: WES's paths move under the base path Ferry
 * mounts them at, ferry.yaml's paths stay where they are, the parameters ferry.yaml adds to WES's
 * operations join them, and anything the two documents both define must agree rather than one
 * silently winning.
 */
import { isDeepStrictEqual } from 'node:util';
import { FERRY_FILE, GENERATED_NOTE, isHttpMethod, WES_BASE_PATH, WES_FILE } from './config.js';
import { asObject, fail, isObject, type Json, type JsonObject } from './json.js';

/**
 * ferry.yaml's top-level key for query parameters it adds to WES's own operations (operationId ->
 * parameters), since it may not define WES's paths again.
 */
const OPERATION_PARAMETERS_KEY = 'x-ferry-operation-parameters';
/** Top-level keys of ferry.yaml the merge knows what to do with. */
const FERRY_KEYS = new Set(['openapi', 'info', 'tags', 'paths', 'components', OPERATION_PARAMETERS_KEY]);
/** Top-level keys of WES the merge builds itself; any other is carried over verbatim. */
const MERGED_KEYS = new Set(['openapi', 'info', 'servers', 'tags', 'paths', 'components']);

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

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The keys of a path item that are operations. */
const OPERATION_KEYS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/**
 * Paths of both documents, WES's rebased under WES_BASE_PATH. ferry.yaml may add operations to a
 * WES path under its exact spelling (a method WES does not define there, e.g. DELETE on
 * `/runs/{run_id}`), and nothing else: a method both define, or a path-level key (parameters,
 * summary, servers…) that ferry.yaml sets on such a path, is an error, as is a path defined twice
 * within one document. Templated paths that differ only in their parameter names (`/runs/{id}`,
 * `/runs/{run_id}`) are the same path to OpenAPI (the router would only ever reach one of them),
 * so they count as defined twice too.
 */
function mergePaths(wes: JsonObject, ferry: JsonObject): JsonObject {
  const paths: JsonObject = {};
  const byShape = new Map<string, { full: string; file: string }>();
  for (const [doc, file, prefix] of [
    [wes, WES_FILE, WES_BASE_PATH],
    [ferry, FERRY_FILE, ''],
  ] as const) {
    for (const [p, item] of Object.entries(asObject(doc['paths'] ?? {}, `spec/${file} paths`))) {
      if (!p.startsWith('/')) fail(`spec/${file}: path "${p}" must start with "/"`);
      const full = prefix + (prefix && p === '/' ? '' : p);
      const shape = full.replace(/\{[^}]*\}/g, '{}');
      const existing = byShape.get(shape);
      if (existing === undefined) {
        byShape.set(shape, { full, file });
        paths[full] = item;
        continue;
      }
      if (existing.full !== full || existing.file === file) {
        fail(`path "${full}" from spec/${file} is already defined${existing.full === full ? '' : ` as "${existing.full}"`}`);
      }
      paths[full] = addOperations(asObject(paths[full], `spec/${existing.file} path "${full}"`), asObject(item, `spec/${file} path "${p}"`), full, file);
    }
  }
  return paths;
}

/** `base` with the operations of `extra` (from `file`) added; any overlap or path-level key is an error. */
function addOperations(base: JsonObject, extra: JsonObject, full: string, file: string): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (!OPERATION_KEYS.has(key)) fail(`path "${full}" is already defined; spec/${file} may only add operations to it, not "${key}"`);
    if (Object.hasOwn(base, key)) fail(`path "${full}" from spec/${file} is already defined with a ${key.toUpperCase()} operation`);
    merged[key] = value;
  }
  return merged;
}

/**
 * Components of both documents, WES's first. The same name in both is fine only with the same
 * content (ferry.yaml keeps its own copy of ErrorResponse this way): both documents' refs point
 * at the one merged component, so a difference would change one of them without a word.
 */
function mergeComponents(wes: JsonObject, ferry: JsonObject): JsonObject {
  const components: JsonObject = {};
  for (const [doc, file] of [
    [wes, WES_FILE],
    [ferry, FERRY_FILE],
  ] as const) {
    for (const [section, entries] of Object.entries(asObject(doc['components'] ?? {}, `spec/${file} components`))) {
      const merged = asObject((components[section] ??= {}), section);
      for (const [name, value] of Object.entries(asObject(entries, `spec/${file} components.${section}`))) {
        if (Object.hasOwn(merged, name) && !isDeepStrictEqual(merged[name], value)) {
          fail(
            `components.${section}.${name} is defined differently in spec/${WES_FILE} (or a document it ` +
              `references) and spec/${file}; rename one of them or make them identical`,
          );
        }
        merged[name] ??= value;
      }
    }
  }
  return components;
}

/** WES's tags, then ferry.yaml's new ones. */
function mergeTags(wes: JsonObject, ferry: JsonObject): Json[] {
  const tags: Json[] = [];
  const names = new Set<string>();
  for (const [doc, file] of [
    [wes, WES_FILE],
    [ferry, FERRY_FILE],
  ] as const) {
    const docTags = doc['tags'] ?? [];
    if (!Array.isArray(docTags)) fail(`spec/${file}: tags must be an array`);
    for (const tag of docTags) {
      const name = asObject(tag, `spec/${file} tag`)['name'];
      if (typeof name !== 'string') fail(`spec/${file}: tag without a name`);
      if (names.has(name)) continue;
      names.add(name);
      tags.push(tag);
    }
  }
  return tags;
}

/** A parameter's identity in OpenAPI: its name and location. */
function parameterId(param: JsonObject): string {
  return `${String(param['in'])} parameter "${String(param['name'])}"`;
}

/**
 * Appends ferry.yaml's extra parameters (under OPERATION_PARAMETERS_KEY) to the operations of WES
 * it names, in place. Each is inline or a ref to one of ferry.yaml's own `components.parameters`;
 * an unknown operation, a dangling ref, or a parameter the operation already has (by name and
 * location, its path's included) is an error: an extension adds to WES, never changes it.
 */
function addOperationParameters(wes: JsonObject, ferry: JsonObject): void {
  const where = `spec/${FERRY_FILE} ${OPERATION_PARAMETERS_KEY}`;
  const extra = asObject(ferry[OPERATION_PARAMETERS_KEY] ?? {}, where);
  /** A parameter, or the one of `doc`'s components.parameters its $ref names. */
  const resolve = (doc: JsonObject, file: string, raw: Json, label: string): JsonObject => {
    const param = asObject(raw, label);
    const ref = param['$ref'];
    if (ref === undefined) return param;
    const components = isObject(doc['components']) && isObject(doc['components']['parameters']) ? doc['components']['parameters'] : {};
    const name = typeof ref === 'string' ? /^#\/components\/parameters\/([^/]+)$/.exec(ref)?.[1] : undefined;
    const target = name === undefined ? undefined : components[name];
    if (!isObject(target)) fail(`${label}: $ref ${JSON.stringify(ref)} is not one of spec/${file}'s components.parameters`);
    return target;
  };
  const operations = Object.values(asObject(wes['paths'] ?? {}, `spec/${WES_FILE} paths`)).flatMap((item) =>
    Object.entries(asObject(item, `spec/${WES_FILE} path`))
      .filter(([method, op]) => isHttpMethod(method) && isObject(op))
      .map(([, op]) => ({ pathItem: item as JsonObject, op: op as JsonObject })),
  );
  for (const [operationId, params] of Object.entries(extra)) {
    const label = `${where}.${operationId}`;
    if (!Array.isArray(params)) fail(`${label}: expected an array of parameters`);
    const target = operations.find(({ op }) => op['operationId'] === operationId);
    if (target === undefined) fail(`${label}: spec/${WES_FILE} has no operation "${operationId}"`);
    const { pathItem, op } = target;
    const own = Array.isArray(op['parameters']) ? op['parameters'] : [];
    const inherited = Array.isArray(pathItem['parameters']) ? pathItem['parameters'] : [];
    const taken = new Set([...inherited, ...own].map((raw) => parameterId(resolve(wes, WES_FILE, raw, `${operationId} parameter`))));
    params.forEach((raw, i) => {
      const param = resolve(ferry, FERRY_FILE, raw, `${label}[${i}]`);
      if (typeof param['name'] !== 'string' || typeof param['in'] !== 'string') fail(`${label}[${i}]: a parameter needs a name and "in"`);
      const id = parameterId(param);
      if (taken.has(id)) fail(`${label}: ${operationId} already has the ${id}`);
      taken.add(id);
      own.push(raw);
    });
    op['parameters'] = own;
  }
}

/**
 * Merges the bundled WES document and the bundled ferry.yaml into the document Ferry serves.
 * Both inputs must already be self-contained (see bundle.ts); neither is modified.
 */
export function mergeSpecs(wesBundled: JsonObject, ferryBundled: JsonObject): JsonObject {
  const wes = structuredClone(wesBundled);
  const ferry = structuredClone(ferryBundled);

  const serversBase = wesBasePathFromServers(wes);
  if (serversBase !== WES_BASE_PATH) {
    fail(
      `spec/${WES_FILE} now describes its base path as ${JSON.stringify(serversBase)}, but the generator ` +
        `mounts WES at ${WES_BASE_PATH}. Update WES_BASE_PATH in scripts/generate/config.ts (and the root ` +
        'redirect in spec/ferry.yaml) deliberately.',
    );
  }
  for (const key of Object.keys(ferry)) {
    if (!FERRY_KEYS.has(key)) fail(`spec/${FERRY_FILE}: top-level "${key}" is not supported by the generator`);
  }

  const openapiVersion = [wes['openapi'], ferry['openapi']].map(String).sort(compareVersions).at(-1) as string;
  const wesInfo = asObject(wes['info'], `spec/${WES_FILE} info`);
  const ferryInfo = asObject(ferry['info'], `spec/${FERRY_FILE} info`);
  const info: JsonObject = {
    ...wesInfo,
    'x-ferry-note':
      `Bundled by Ferry: the GA4GH ${String(wesInfo['title'])} ${String(wesInfo['version'])} paths are mounted under ` +
      `${WES_BASE_PATH}; the other paths come from "${String(ferryInfo['title'])}" ` +
      `${String(ferryInfo['version'])} (spec/${FERRY_FILE}).`,
  };

  // Other top-level WES keys (x-tagGroups, externalDocs, security, ...) verbatim.
  const otherTopLevel = Object.fromEntries(Object.entries(wes).filter(([key]) => !MERGED_KEYS.has(key)));

  addOperationParameters(wes, ferry);
  return {
    'x-generated': GENERATED_NOTE,
    openapi: openapiVersion,
    info,
    servers: [{ url: '/' }],
    tags: mergeTags(wes, ferry),
    ...otherTopLevel,
    paths: mergePaths(wes, ferry),
    components: mergeComponents(wes, ferry),
  };
}
