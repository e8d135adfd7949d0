/**
 * JSON whose numbers come back as they were written. `JSON.parse` turns every
 * number into a double, so `4200000000000000000000000000000000000000000`
 * comes back `4.2e+42` and `1.10` comes back `1.1`. Workflow outputs are the
 * engine's to word: a number whose text would change on a round trip is kept
 * as its text, inside a marker string private to this process, and written
 * back as that very number. Everything else stays plain JSON values.
 */
import { randomBytes } from 'node:crypto';

/** The marker: NUL, a nonce of this process, a colon; then the number's text. Never written to disk or to a client. */
const MARK = `\u0000${randomBytes(6).toString('hex')}:`;
/** How the marker looks once JSON.stringify has escaped it inside a string. */
const MARK_ESCAPED = JSON.stringify(MARK).slice(1, -1);
const MARKED = new RegExp(`"${MARK_ESCAPED.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)"`, 'g');

/** Whether a number written as `text` would be written the same after a round trip through a double. */
function survives(text: string): boolean {
  return String(Number(text)) === text;
}

/**
 * Parses JSON, keeping each number that a double would change as a marked
 * string (see {@link stringifyExact}); throws SyntaxError as JSON.parse does.
 */
export function parseExact(text: string): unknown {
  let out = '';
  let from = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escapes.
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n && /[0-9eE.+-]/.test(text[i]!)) i++;
      const token = text.slice(start, i);
      if (!survives(token) && /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(token)) {
        out += text.slice(from, start) + JSON.stringify(MARK + token);
        from = i;
      }
      continue;
    }
    i++;
  }
  return JSON.parse(from === 0 ? text : out + text.slice(from));
}

/** A number written as `text` (digits, a fraction, an exponent): a number when a double keeps it, else kept as {@link parseExact} keeps it. */
export function exactNumber(text: string): unknown {
  return survives(text) ? Number(text) : MARK + text;
}

/** JSON.stringify, writing each number kept by {@link parseExact} as the number it was. */
export function stringifyExact(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space);
  return text.includes(MARK_ESCAPED) ? text.replace(MARKED, '$1') : text;
}
