/**
 * Builds everything in generated/ from the OpenAPI documents in spec/.
 *
 *   npx tsx scripts/generate.ts           write generated/*
 *   npx tsx scripts/generate.ts --check   regenerate in memory; exit 1 if generated/ is stale
 *
 * Outputs:
 *   generated/openapi.json   one self-contained OpenAPI 3.0.x document: the upstream WES 1.1 paths
 *                            rebased under /ga4gh/wes/v1, Ferry's own routes and the query parameters
 *                            it adds to WES operations from spec/ferry.yaml,
 *                            and the service-info schemas copied in as local components.
 *   generated/schema.ts      openapi-typescript types for that document.
 *   generated/operations.ts  operation ids, per-operation input/result types and the
 *                            OperationHandlers interface the server implements.
 *
 * The steps live in scripts/generate/: load.ts (reading spec/ and the local copies of referenced
 * URLs), bundle.ts ($refs made local, by @redocly/openapi-core), merge.ts (ferry.yaml joined to
 * WES), check.ts, emit-schema.ts, emit-operations.ts; index.ts runs them in order.
 *
 * The script fails loudly (exit 1) on anything it cannot bundle faithfully: unknown external
 * $refs, dangling local $refs, colliding operationIds, paths or component names, or a bundle
 * that openapi-backend rejects as OpenAPI 3.0.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { generate, GenerateError, OUT_DIR, ROOT } from './generate/index.js';

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
        ['generated/ is out of date with spec/ and scripts/generate/:', ...stale, 'Run `npm run generate` and commit the result.'].join('\n'),
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
