/**
 * Reading the OpenAPI documents: the two in spec/ that Ferry combines, and the external documents
 * their $refs reach, which come from the local copies listed in EXTERNAL_DOCS and never from the
 * network.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { BaseResolver, ResolveError, Source, type Document } from '@redocly/openapi-core';
import { parse as parseYaml } from 'yaml';
import { EXTERNAL_DOCS, SPEC_DIR } from './config.js';
import { asObject, fail, type JsonObject } from './json.js';

/**
 * Parses one OpenAPI 3.0.x document.
 *
 * The `yaml` package rather than the bundler's own parser reads every file, so that duplicate keys
 * are an error and all documents follow the same YAML 1.2 core schema (integer-looking response
 * codes become numbers, which turn into string keys in the resulting object, as JSON requires).
 */
export function parseSpec(text: string, label: string): JsonObject {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    fail(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const root = asObject(doc, label);
  const version = root['openapi'];
  if (typeof version !== 'string' || !/^3\.0\.\d+$/.test(version)) {
    fail(`${label}: expected an OpenAPI 3.0.x document, found openapi: ${JSON.stringify(version)}`);
  }
  return root;
}

/** Reads `spec/<file>` as a bundler document (its source keeps the real path for relative refs). */
export async function loadSpec(file: string): Promise<Document> {
  const absolute = path.join(SPEC_DIR, file);
  const text = await readFile(absolute, 'utf8');
  return { source: new Source(absolute, text), parsed: parseSpec(text, `spec/${file}`) };
}

/**
 * The bundler's resolver, restricted to the documents in EXTERNAL_DOCS. It keeps each document's
 * URL as its name, so refs inside it resolve against that URL, and remembers what it loaded so
 * that the bundle step can tell which components came from where.
 */
export class SpecResolver extends BaseResolver {
  /** External documents loaded so far, by URL. */
  readonly loaded = new Map<string, JsonObject>();

  override async loadExternalRef(absoluteRef: string): Promise<Source> {
    const file = EXTERNAL_DOCS[absoluteRef];
    if (file === undefined) {
      throw new ResolveError(
        new Error(
          `"${absoluteRef}" points outside the bundle and no local copy is configured in ` +
            'EXTERNAL_DOCS (scripts/generate/config.ts)',
        ),
      );
    }
    return new Source(absoluteRef, await readFile(path.join(SPEC_DIR, file), 'utf8'));
  }

  override parseDocument(source: Source): Document {
    const file = EXTERNAL_DOCS[source.absoluteRef] ?? source.absoluteRef;
    const parsed = parseSpec(source.body, `spec/${file} (for ${source.absoluteRef})`);
    this.loaded.set(source.absoluteRef, parsed);
    return { source, parsed };
  }
}
