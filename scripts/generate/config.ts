/**
 * Where the generator reads and writes, and the few decisions about combining the documents that
 * must be changed deliberately (the WES base path, the local copies of referenced URLs).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SPEC_DIR = path.join(ROOT, 'spec');
export const OUT_DIR = path.join(ROOT, 'generated');

export const WES_FILE = 'workflow_execution_service.openapi.yaml';
export const FERRY_FILE = 'ferry.yaml';

/** Where the WES paths live on our server. Checked against the defaults of WES's `servers`. */
export const WES_BASE_PATH = '/ga4gh/wes/v1';

/**
 * External documents that upstream specs reference by URL, and the verbatim local copy in spec/
 * used instead. Any other $ref outside a document is an error: the build must not depend on the
 * network, and an unreviewed document must not slip into the API.
 */
export const EXTERNAL_DOCS: Readonly<Record<string, string>> = {
  'https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/service-info.yaml':
    'service-info.yaml',
};

export const GENERATED_NOTE = 'DO NOT EDIT — made by scripts/generate.ts from spec/';
export const TS_HEADER = [
  '// DO NOT EDIT — made by scripts/generate.ts from spec/ (run `npm run generate`).',
  '// Edit spec/ferry.yaml or replace the upstream spec files instead; see spec/README.md.',
].join('\n');

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Whether an OpenAPI path item key names an operation (rather than `parameters`, `summary`, …). */
export function isHttpMethod(key: string): key is (typeof HTTP_METHODS)[number] {
  return (HTTP_METHODS as readonly string[]).includes(key);
}
