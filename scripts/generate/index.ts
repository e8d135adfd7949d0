/**
 * The generator's pipeline, from spec/ to the contents of generated/: bundle each document,
 * merge them, check the result, emit.
 */
import { bundleSpec, dereference } from './bundle.js';
import { checkBundle } from './check.js';
import { FERRY_FILE, WES_FILE } from './config.js';
import { emitOperationsTs } from './emit-operations.js';
import { emitSchemaTs } from './emit-schema.js';
import { mergeSpecs } from './merge.js';

export { GenerateError } from './json.js';
export { OUT_DIR, ROOT } from './config.js';

/** Builds every file of generated/ in memory: file name -> content. */
export async function generate(): Promise<Map<string, string>> {
  const doc = mergeSpecs(await bundleSpec(WES_FILE), await bundleSpec(FERRY_FILE));
  await checkBundle(doc);
  const files = new Map<string, string>();
  files.set('openapi.json', `${JSON.stringify(doc, null, 2)}\n`);
  files.set('schema.ts', await emitSchemaTs(doc));
  files.set('operations.ts', emitOperationsTs(await dereference(doc)));
  return files;
}
