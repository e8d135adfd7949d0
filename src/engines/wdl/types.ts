/**
 * WDL types as the outline parser writes them (`Array[File]+`, `File?`,
 * `Map[String, File]`): how a run's outputs of a type can be handed out, and
 * where a value of a type holds files.
 */
import { checkInputDepth, everyString } from '../input-walk.js';

/** How Ferry can hand out a value of a WDL type. */
export type WdlTypeShape =
  | { kind: 'file'; optional: boolean }
  | { kind: 'file-array'; optional: boolean; nonEmpty: boolean; optionalElements: boolean }
  /** A type holding files in a shape Ferry does not collect (Map, Pair, nested arrays…). */
  | { kind: 'other-files'; optional: boolean }
  /** No file in it (Int, String, Array[String]…) — or a struct, which this reader does not look into. */
  | { kind: 'value'; optional: boolean };

/** Classifies a normalised type from the outline parser. */
export function wdlTypeShape(type: string): WdlTypeShape {
  const optional = type.endsWith('?');
  const bare = optional ? type.slice(0, -1) : type;
  if (bare === 'File') return { kind: 'file', optional };
  const array = /^Array\[(File\??)\](\+?)$/.exec(bare);
  if (array) return { kind: 'file-array', optional, nonEmpty: array[2] === '+', optionalElements: array[1] === 'File?' };
  if (/\bFile\b/.test(bare)) return { kind: 'other-files', optional };
  return { kind: 'value', optional };
}

/** A WDL type as a tree: `Map[String, Array[File]]?` is a Map of String and an Array of File, optional. */
export interface WdlType {
  name: string;
  /** The bracketed parameters: an Array's element, a Map's key and value, a Pair's left and right. */
  params: WdlType[];
  optional: boolean;
  /** `+`: an Array that may not be empty. */
  nonEmpty: boolean;
}

/** Parses a normalised type from the outline parser; null when the text is not one. */
export function parseWdlType(text: string): WdlType | null {
  let pos = 0;
  const read = (): WdlType | null => {
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos))?.[0];
    if (!name) return null;
    pos += name.length;
    const type: WdlType = { name, params: [], optional: false, nonEmpty: false };
    if (text[pos] === '[') {
      do {
        pos++;
        while (text[pos] === ' ') pos++;
        const param = read();
        if (!param) return null;
        type.params.push(param);
      } while (text[pos] === ',');
      if (text[pos++] !== ']') return null;
    }
    type.nonEmpty = text[pos] === '+';
    if (type.nonEmpty) pos++;
    type.optional = text[pos] === '?';
    if (type.optional) pos++;
    return type;
  };
  const type = read();
  return type && pos === text.length ? type : null;
}

/** The types whose values hold no file. */
const PRIMITIVES = new Set(['String', 'Int', 'Float', 'Boolean']);

/** Whether a value of the type may hold a file; an Object or a struct may (its members are not known here). */
export function holdsFiles(type: WdlType): boolean {
  if (PRIMITIVES.has(type.name)) return false;
  if (type.name === 'Array' || type.name === 'Map' || type.name === 'Pair') return type.params.some(holdsFiles);
  return true;
}

/**
 * The strings of a JSON `value` that stand where `type` has a File: the value
 * itself for `File`, each element of an `Array`, the keys and values of a
 * `Map` (keys are strings in JSON), `left` and `right` of a `Pair`. In an
 * Object or a struct, whose members this reader does not know, every string
 * counts. A value not shaped like its type is not looked into: a WDL engine
 * refuses it when it converts the inputs, before it reads any file.
 */
export function fileStrings(type: WdlType, value: unknown, depth = 0, out: string[] = []): string[] {
  checkInputDepth(depth);
  if (value === null || value === undefined || !holdsFiles(type)) return out;
  const [first, second] = type.params;
  if (type.name === 'File') {
    if (typeof value === 'string') out.push(value);
  } else if (type.name === 'Array' && first) {
    if (Array.isArray(value)) for (const v of value) fileStrings(first, v, depth + 1, out);
  } else if (type.name === 'Map' && first && second) {
    if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        fileStrings(first, k, depth + 1, out);
        fileStrings(second, v, depth + 1, out);
      }
    }
  } else if (type.name === 'Pair' && first && second) {
    if (isObject(value)) {
      fileStrings(first, value.left, depth + 1, out);
      fileStrings(second, value.right, depth + 1, out);
    }
  } else {
    everyString(value, depth, out);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
