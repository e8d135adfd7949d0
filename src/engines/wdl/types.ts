/** WDL types as the outline parser writes them (`Array[File]+`, `File?`, `Map[String, File]`). */

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
