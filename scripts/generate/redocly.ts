/**
 * The shared setup for @redocly/openapi-core, which does the generator's $ref work: one config
 * with exactly the rules we ask for, and one way to turn its problems into a failure.
 */
import * as path from 'node:path';
import {
  createConfig,
  getLineColLocation,
  Source,
  type Config,
  type Document,
  type LocationObject,
  type NormalizedProblem,
} from '@redocly/openapi-core';
import { EXTERNAL_DOCS, ROOT } from './config.js';
import { fail, type JsonObject } from './json.js';

/**
 * A Redocly config with only the given lint rules. An empty config would mean Redocly's
 * "recommended" ruleset, whose style opinions are not the upstream spec's to follow.
 */
export function redoclyConfig(rules: Record<string, 'error'> = {}): Promise<Config> {
  return createConfig({ rules, decorators: {}, preprocessors: {} });
}

/** What Redocly calls the merged document, which exists only in memory while it is checked. */
const BUNDLE_REF = path.join(ROOT, 'generated', 'openapi.json');

/** Wraps the merged, in-memory document for Redocly. */
export function inMemoryBundle(doc: JsonObject): Document {
  return { source: new Source(BUNDLE_REF, JSON.stringify(doc, null, 2)), parsed: doc };
}

/** "spec/x.yaml:167 #/paths/… ($ref: '#/…')": the line quoted shows the offending text itself. */
function describeLocation(location: LocationObject): string {
  const { absoluteRef } = location.source;
  const pointer = 'pointer' in location && location.pointer !== undefined ? ` ${location.pointer}` : '';
  // Line numbers of the merged document would point into a file not written yet.
  if (absoluteRef === BUNDLE_REF) return `the bundle's${pointer}`;
  const copy = EXTERNAL_DOCS[absoluteRef];
  const file =
    copy !== undefined
      ? `spec/${copy}`
      : path.isAbsolute(absoluteRef)
        ? path.relative(ROOT, absoluteRef)
        : absoluteRef;
  const { line } = getLineColLocation(location).start;
  const text = location.source.getLines()[line - 1]?.trim();
  return `${file}:${line}${pointer}${text ? ` (${text})` : ''}`;
}

/**
 * Stops the generator if Redocly reported anything. Warnings count too: the only ones bundling
 * can raise (a component renamed to avoid a clash) mean the output is not what the spec says.
 */
export function failOnProblems(problems: readonly NormalizedProblem[], what: string): void {
  if (problems.length === 0) return;
  const lines = problems.map((problem) => {
    const where = problem.location.map(describeLocation).join('; ');
    return `  ${problem.message}${where ? ` at ${where}` : ''}`;
  });
  fail([`${what}:`, ...lines].join('\n'));
}
