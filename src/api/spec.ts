import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Document } from 'openapi-backend';

/** The project root: the nearest folder above this module with a package.json. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the project root');
    dir = up;
  }
  return dir;
}

let cached: Document | null = null;

/** The bundled, self-contained OpenAPI document made by `npm run generate`. */
export function loadSpec(): Document {
  cached ??= JSON.parse(readFileSync(path.join(projectRoot(), 'generated', 'openapi.json'), 'utf8')) as Document;
  return structuredClone(cached);
}

/** Ferry's own version, from package.json. */
export function ferryVersion(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
