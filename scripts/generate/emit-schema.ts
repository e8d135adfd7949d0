/** generated/schema.ts: the openapi-typescript types of the bundled document. */
import openapiTS, { astToString } from 'openapi-typescript';
import { TS_HEADER } from './config.js';
import type { JsonObject } from './json.js';

/** Renders generated/schema.ts for the bundled document. */
export async function emitSchemaTs(doc: JsonObject): Promise<string> {
  const ast = await openapiTS(structuredClone(doc) as never, { silent: true });
  return `${TS_HEADER}\n// Types produced by openapi-typescript from generated/openapi.json.\n\n${astToString(ast).trimEnd()}\n`;
}
