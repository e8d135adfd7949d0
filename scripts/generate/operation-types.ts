/**
 * What generated/operations.ts says about each operation: the TypeScript type of its input
 * (path, query and header parameters, body) and of its successful results. The types point into
 * generated/schema.ts (`operations['X']…`) wherever openapi-typescript already has them right, and
 * are written here only where it cannot know better: file parts, non-JSON bodies, headers a
 * handler must set.
 */
import { isHttpMethod } from './config.js';
import { asObject, fail, isObject, type JsonObject } from './json.js';

/** Names operations.ts defines itself, which no `<operationId>Input`/`Result` may take. */
const RESERVED_NAMES = new Set(['UploadedFile', 'OperationId', 'OperationHandlers', 'StreamBody']);

/** The type parameter that stands for however the HTTP layer hands over multipart file parts. */
export const FILES_PARAM = 'Files';
/** The type parameter of OperationHandlers for who a request speaks for. */
export const CALLER_PARAM = 'Caller';

/** One operation, with the type expressions of its input and results. */
export interface OperationModel {
  id: string;
  method: string;
  path: string;
  summary: string | undefined;
  hasBody: boolean;
  /** Names of the multipart parts that carry files; their type is FILES_PARAM. */
  fileParts: string[];
  params: string;
  query: string;
  headers: string;
  body: string;
  /** Members of the result union, one per 2xx or 3xx response. */
  results: string[];
}

/** Quotes a string as a TypeScript string literal. */
export function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function propKey(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : quote(name);
}

function isJsonMediaType(mediaType: string): boolean {
  const base = mediaType.split(';')[0]!.trim().toLowerCase();
  return base === 'application/json' || /^application\/[\w.+-]+\+json$/.test(base);
}

/** Parameters (path-level ones overridden by operation-level ones): one type per location. */
function parameterTypes(id: string, opType: string, pathItem: JsonObject, op: JsonObject): Pick<OperationModel, 'params' | 'query' | 'headers'> {
  const locations = new Set<string>();
  for (const source of [pathItem['parameters'], op['parameters']]) {
    if (source === undefined) continue;
    if (!Array.isArray(source)) fail(`${id}: parameters must be an array`);
    for (const raw of source) locations.add(String(asObject(raw, `${id} parameter`)['in']));
  }
  for (const loc of locations) {
    if (!['path', 'query', 'header'].includes(loc)) fail(`${id}: "${loc}" parameters are not supported by the emitter`);
  }
  const paramType = (loc: string): string =>
    locations.has(loc) ? `NonNullable<${opType}['parameters'][${quote(loc)}]>` : 'Record<string, never>';
  return { params: paramType('path'), query: paramType('query'), headers: paramType('header') };
}

/**
 * The body type. openapi-typescript renders `format: binary` parts as `string`; they are files
 * that the HTTP layer receives, so they become FILES_PARAM instead.
 */
function bodyType(id: string, opType: string, op: JsonObject): { body: string; fileParts: string[] } {
  if (op['requestBody'] === undefined) return { body: 'undefined', fileParts: [] };
  const content = asObject(asObject(op['requestBody'], `${id} requestBody`)['content'], `${id} requestBody.content`);
  const members: string[] = [];
  const allFileParts = new Set<string>();
  for (const [mediaType, rawMedia] of Object.entries(content)) {
    const base = `NonNullable<${opType}['requestBody']>['content'][${quote(mediaType)}]`;
    const lower = mediaType.toLowerCase();
    if (lower.startsWith('multipart/form-data')) {
      const media = asObject(rawMedia, `${id} ${mediaType}`);
      const schema = media['schema'] === undefined ? {} : asObject(media['schema'], `${id} ${mediaType} schema`);
      const properties = isObject(schema['properties']) ? schema['properties'] : {};
      const required = new Set(Array.isArray(schema['required']) ? schema['required'].map(String) : []);
      const fileParts = Object.entries(properties)
        .filter(([name, rawProp]) => {
          const prop = asObject(rawProp, `${id} ${mediaType} ${name}`);
          const items = prop['type'] === 'array' && isObject(prop['items']) ? prop['items'] : undefined;
          return prop['format'] === 'binary' || items?.['format'] === 'binary';
        })
        .map(([name]) => name);
      if (fileParts.length === 0) {
        members.push(base);
      } else {
        fileParts.forEach((n) => allFileParts.add(n));
        const fields = fileParts.map((n) => `${propKey(n)}${required.has(n) ? '' : '?'}: ${FILES_PARAM}`).join('; ');
        members.push(`Omit<${base}, ${fileParts.map(quote).join(' | ')}> & { ${fields} }`);
      }
    } else if (isJsonMediaType(mediaType) || lower.startsWith('application/x-www-form-urlencoded')) {
      members.push(base);
    } else if (lower.startsWith('text/')) {
      members.push('string');
    } else {
      members.push('Buffer');
    }
  }
  return { body: [...new Set(members)].join(' | ') || 'undefined', fileParts: [...allFileParts] };
}

/** One union member per 2xx or 3xx response; errors are thrown, so 4xx and 5xx are not results. */
function resultTypes(id: string, opType: string, op: JsonObject): string[] {
  const results: string[] = [];
  for (const [code, rawResponse] of Object.entries(asObject(op['responses'], `${id} responses`))) {
    if (/^[1-5]XX$/i.test(code)) fail(`${id}: response range "${code}" is not supported by the emitter`);
    if (!/^[23]\d\d$/.test(code)) continue;
    const response = asObject(rawResponse, `${id} response ${code}`);
    const requiredHeaders: string[] = [];
    for (const [name, rawHeader] of Object.entries(isObject(response['headers']) ? response['headers'] : {})) {
      const header = asObject(rawHeader, `${id} ${code} header ${name}`);
      const lower = name.toLowerCase();
      // A redirect without Location is no redirect, whether or not the spec says "required".
      if (header['required'] === true || (code.startsWith('3') && lower === 'location')) requiredHeaders.push(lower);
    }
    const headers =
      requiredHeaders.length > 0
        ? `headers: { ${requiredHeaders.map((h) => `${propKey(h)}: string`).join('; ')} } & Record<string, string>`
        : 'headers?: Record<string, string>';
    const mediaTypes = Object.keys(isObject(response['content']) ? response['content'] : {});
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
  if (results.length === 0) fail(`${id}: no 2xx or 3xx response to return`);
  return results;
}

/**
 * The operations of a dereferenced document (no $ref left, see bundle.ts `dereference`), in
 * document order, each with the types operations.ts declares for it.
 */
export function operationModels(derefDoc: JsonObject): OperationModel[] {
  const ops: OperationModel[] = [];
  for (const [p, rawItem] of Object.entries(asObject(derefDoc['paths'], 'paths'))) {
    const pathItem = asObject(rawItem, `paths.${p}`);
    for (const [method, rawOp] of Object.entries(pathItem)) {
      if (!isHttpMethod(method)) continue;
      const op = asObject(rawOp, `${method} ${p}`);
      const id = op['operationId'];
      if (typeof id !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(id)) {
        fail(`operationId ${JSON.stringify(id)} is not a valid TypeScript identifier`);
      }
      if (RESERVED_NAMES.has(id) || RESERVED_NAMES.has(`${id}Input`) || RESERVED_NAMES.has(`${id}Result`)) {
        fail(`operationId "${id}" clashes with a name operations.ts defines itself`);
      }
      const opType = `operations[${quote(id)}]`;
      ops.push({
        id,
        method,
        path: p,
        summary: typeof op['summary'] === 'string' ? op['summary'] : undefined,
        hasBody: op['requestBody'] !== undefined,
        ...parameterTypes(id, opType, pathItem, op),
        ...bodyType(id, opType, op),
        results: resultTypes(id, opType, op),
      });
    }
  }
  return ops;
}
