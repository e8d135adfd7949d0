/**
 * Bundling one document: every $ref into an external document becomes a local
 * `#/components/<section>/<name>` ref, with the target copied into the document's components.
 * Redocly does the walking and resolving; what is left here is making sure it did not have to
 * rename anything to do so, and a dereferenced view for the emitters.
 */
import { isDeepStrictEqual } from 'node:util';
import { bundle, bundleDocument } from '@redocly/openapi-core';
import { asObject, fail, isObject, type JsonObject } from './json.js';
import { loadSpec, SpecResolver } from './load.js';
import { failOnProblems, inMemoryBundle, redoclyConfig } from './redocly.js';

/** Component names per section, e.g. "schemas" -> {"ServiceInfo", …}. */
function componentNames(doc: JsonObject): Map<string, Set<string>> {
  const names = new Map<string, Set<string>>();
  const components = isObject(doc['components']) ? doc['components'] : {};
  for (const [section, entries] of Object.entries(components)) {
    names.set(section, new Set(isObject(entries) ? Object.keys(entries) : []));
  }
  return names;
}

/**
 * Every component the bundler added must be a component of the same name, unchanged, in one of
 * the external documents. When a name is taken by different content, Redocly quietly picks
 * another one ("schemas-Service"); that would change the API's type names, so it is an error.
 */
function checkAddedComponents(
  doc: JsonObject,
  before: Map<string, Set<string>>,
  resolver: SpecResolver,
  file: string,
): void {
  const components = asObject(doc['components'] ?? {}, `spec/${file} components`);
  for (const [section, entries] of Object.entries(components)) {
    for (const [name, value] of Object.entries(asObject(entries, `components.${section}`))) {
      if (before.get(section)?.has(name)) continue;
      const origin = [...resolver.loaded].find(([, external]) => {
        const externalComponents = isObject(external['components']) ? external['components'] : {};
        const externalSection = externalComponents[section];
        return isObject(externalSection) && isDeepStrictEqual(externalSection[name], value);
      });
      if (origin === undefined) {
        fail(
          `spec/${file}: bundling had to add components.${section}.${name}, which is not a component of that ` +
            'name in any referenced document. Either a referenced component collides with a different one ' +
            'of the same name in this document (rename one of them or make them identical), or a $ref ' +
            'points outside #/components/ of its document.',
        );
      }
    }
  }
}

/**
 * Loads and bundles `spec/<file>`: a self-contained document whose components include everything
 * its refs reach in EXTERNAL_DOCS. Dangling refs and refs to unknown documents are errors.
 */
export async function bundleSpec(file: string): Promise<JsonObject> {
  const document = await loadSpec(file);
  const before = componentNames(document.parsed as JsonObject);
  const resolver = new SpecResolver();
  const result = await bundle({ doc: document, config: await redoclyConfig(), externalRefResolver: resolver });
  failOnProblems(result.problems, `spec/${file} does not bundle`);
  const doc = asObject(result.bundle.parsed, `spec/${file}`);
  checkAddedComponents(doc, before, resolver, file);
  return doc;
}

/**
 * A copy of the bundled document with every $ref replaced by its target, for the emitters that
 * need to look inside parameters, bodies and responses. The document itself is left as it is.
 */
export async function dereference(doc: JsonObject): Promise<JsonObject> {
  const result = await bundleDocument({
    document: inMemoryBundle(structuredClone(doc)),
    config: (await redoclyConfig()).styleguide,
    externalRefResolver: new SpecResolver(),
    dereference: true,
  });
  failOnProblems(result.problems, 'generated/openapi.json does not dereference');
  return asObject(result.bundle.parsed, 'generated/openapi.json');
}
