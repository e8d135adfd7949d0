/** generated/schema.ts: the openapi-typescript types of the bundled document. */
import { TS_HEADER } from './config.js';
import type { JsonObject } from './json.js';

/** Renders generated/schema.ts for the bundled document. */
export async function emitSchemaTs(doc: JsonObject): Promise<string> {
  // Imported only now: it is the generator's slowest import (~2 s), and a spec that fails a
  // check never gets this far.
  const { default: openapiTS, astToString } = await import('openapi-typescript');
  const ast = await openapiTS(structuredClone(doc) as never, { silent: true });
  return `${TS_HEADER}\n// Types produced by openapi-typescript from generated/openapi.json.\n\n${astToString(ast).trimEnd()}\n`;
}
