/**
 * generated/operations.ts: the operationIds, a typed input and result per operation, and the
 * OperationHandlers interface the server implements, so that a spec change which adds, removes or
 * reshapes an operation is a compile error where it matters.
 */
import { TS_HEADER } from './config.js';
import { CALLER_PARAM, FILES_PARAM, operationModels, quote, type OperationModel } from './operation-types.js';
import type { JsonObject } from './json.js';

function commentText(s: string): string {
  return s.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim();
}

const PREAMBLE = [
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
];

/** Why the file parts are a type parameter, said once on each type that has one. */
function filesDoc(parts: string): string[] {
  return [
    ` * \`${FILES_PARAM}\` is the type of the file parts (${parts}). The HTTP layer decides how`,
    ' * received files are handed over (Ferry passes its staging folder); the default is the list',
    ' * of files as uploaded.',
  ];
}

function inputType(o: OperationModel): string[] {
  const title = `${o.method.toUpperCase()} ${o.path}${o.summary && o.summary !== o.id ? ` — ${o.summary}` : ''}`;
  const summary = `Input of ${o.id}: ${commentText(title)}${
    o.hasBody ? ' (the HTTP layer always passes a body object, possibly empty)' : ''
  }.`;
  const members = [
    `  params: ${o.params};`,
    `  query: ${o.query};`,
    `  headers: ${o.headers};`,
    `  body: ${o.body};`,
    '}',
  ];
  if (o.fileParts.length === 0) return ['', `/** ${summary} */`, `export interface ${o.id}Input {`, ...members];
  return [
    '',
    '/**',
    ` * ${summary}`,
    ' *',
    ...filesDoc(o.fileParts.map((n) => `\`${n}\``).join(', ')),
    ' */',
    `export interface ${o.id}Input<${FILES_PARAM} = UploadedFile[]> {`,
    ...members,
  ];
}

function resultType(o: OperationModel): string[] {
  return [
    '',
    `/** Successful outcomes of ${commentText(o.id)}; errors are thrown, not returned. */`,
    `export type ${o.id}Result =`,
    ...o.results.map((r, i) => `  | ${r}${i === o.results.length - 1 ? ';' : ''}`),
  ];
}

function handlersInterface(ops: OperationModel[]): string[] {
  const withFiles = ops.filter((o) => o.fileParts.length > 0).map((o) => o.id);
  return [
    '',
    '/**',
    ' * One method per operation of generated/openapi.json.',
    ' *',
    ...filesDoc(withFiles.length > 0 ? `in ${withFiles.join(', ')}` : 'no operation has any yet'),
    ' *',
    ` * \`${CALLER_PARAM}\` is who the request speaks for, as the HTTP layer established it (Ferry passes`,
    ' * the authenticated principal, or null where no authentication is configured); every method',
    ' * gets it, so no operation can be served without knowing whose request it is.',
    ' */',
    `export interface OperationHandlers<${FILES_PARAM} = UploadedFile[], ${CALLER_PARAM} = undefined> {`,
    ...ops.map((o) => {
      const input = o.fileParts.length > 0 ? `${o.id}Input<${FILES_PARAM}>` : `${o.id}Input`;
      return `  ${o.id}(input: ${input}, caller: ${CALLER_PARAM}): Promise<${o.id}Result>;`;
    }),
    '}',
  ];
}

/** Renders generated/operations.ts from the dereferenced bundle (see bundle.ts `dereference`). */
export function emitOperationsTs(derefDoc: JsonObject): string {
  const ops = operationModels(derefDoc);
  const lines = [
    ...PREAMBLE,
    '',
    '/** All operationIds, in document order. */',
    'export const operationIds = [',
    ...ops.map((o) => `  ${quote(o.id)},`),
    '] as const;',
    '',
    'export type OperationId = (typeof operationIds)[number];',
    ...ops.flatMap((o) => [...inputType(o), ...resultType(o)]),
    ...handlersInterface(ops),
  ];
  return `${lines.join('\n')}\n`;
}
