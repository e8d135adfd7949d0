/**
 * Checks of the merged document before anything is written from it: it must be self-contained,
 * every ref must resolve, every operation must have its own operationId, and openapi-backend —
 * which serves it — must accept it as OpenAPI 3.0.
 */
import { lintDocument } from '@redocly/openapi-core';
import { fail, isObject, type Json, type JsonObject } from './json.js';
import { SpecResolver } from './load.js';
import { failOnProblems, inMemoryBundle, redoclyConfig } from './redocly.js';

/**
 * No $ref may leave the document. Redocly only follows refs where OpenAPI allows them, so this
 * looks everywhere (extensions included): openapi-backend's dereferencing would otherwise fetch a
 * leftover URL from the network at server start.
 */
function checkSelfContained(node: Json, where: string): void {
  if (Array.isArray(node)) return node.forEach((v, i) => checkSelfContained(v, `${where}/${i}`));
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) {
      fail(`bundle ${where}: non-local $ref "${value}" remains`);
    }
    checkSelfContained(value, `${where}/${key}`);
  }
}

/**
 * openapi-backend only understands OpenAPI 3.0; make sure it accepts the bundle. With strict and
 * not quick, init() validates the document against the OpenAPI 3.0 schema and dereferences it.
 * (validate: false only skips compiling request/response validators, which would just print
 * ajv's "unknown format" warnings here.)
 */
async function checkWithOpenapiBackend(doc: JsonObject): Promise<void> {
  // Imported only for a bundle that passed every other check (see emit-schema.ts).
  const { OpenAPIBackend } = await import('openapi-backend');
  const api = new OpenAPIBackend({
    definition: structuredClone(doc) as never,
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

/** Fails unless the merged document is fit to be written to generated/ and served. */
export async function checkBundle(doc: JsonObject): Promise<void> {
  checkSelfContained(doc, '#');
  const config = await redoclyConfig({
    'no-unresolved-refs': 'error',
    'operation-operationId': 'error',
    'operation-operationId-unique': 'error',
  });
  const problems = await lintDocument({
    document: inMemoryBundle(structuredClone(doc)),
    config: config.styleguide,
    externalRefResolver: new SpecResolver(),
  });
  failOnProblems(problems, 'the bundled document is not usable');
  await checkWithOpenapiBackend(doc);
}
