/**
 * WDL's lexical rules (draft-2 and 1.0), followed exactly where the outline
 * parser's skipping depends on them: `#` comments, strings with `~{}`/`${}`
 * placeholders (which may hold strings and braces), and command sections
 * (`<<< >>>` ends at `>>>`; `{ }` ends at the first `}` outside a placeholder,
 * as WDL's grammar says).
 */

export type WdlTokenKind = 'ident' | 'number' | 'string' | 'punct' | 'command';

/** A piece of a string literal: literal text, or a placeholder's source. */
export type WdlStringPart = { text: string } | { placeholder: string };

export interface WdlToken {
  kind: WdlTokenKind;
  /** Source text (for strings: the literal with its quotes). */
  text: string;
  line: number;
  /** Strings only: the pieces between placeholders, escapes decoded. */
  parts?: WdlStringPart[];
}

/** The WDL is not something this reader understands; names the line. */
export class WdlSyntaxError extends Error {
  constructor(message: string, line: number) {
    super(`${message} (line ${line})`);
    this.name = 'WdlSyntaxError';
  }
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const NUMBER = /^(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/;
const TWO_CHAR = new Set(['==', '!=', '<=', '>=', '&&', '||']);

/** Splits WDL source into tokens; comments and whitespace are dropped. */
export function tokenizeWdl(src: string): WdlToken[] {
  const tokens: WdlToken[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  const advanceTo = (end: number): void => {
    for (let k = i; k < end; k++) if (src[k] === '\n') line++;
    i = end;
  };
  while (i < n) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
    } else if (c === '#') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const { end, parts } = readString(src, i, line);
      tokens.push({ kind: 'string', text: src.slice(i, end), line, parts });
      advanceTo(end);
    } else if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < n && IDENT_PART.test(src[end]!)) end++;
      const word = src.slice(i, end);
      const startLine = line;
      advanceTo(end);
      if (word === 'command') {
        let k = i;
        while (k < n && /\s/.test(src[k]!)) k++;
        if (src[k] === '{' || src.startsWith('<<<', k)) {
          advanceTo(k);
          const close = readCommand(src, i, line);
          tokens.push({ kind: 'command', text: src.slice(i, close), line: startLine });
          advanceTo(close);
          continue;
        }
      }
      tokens.push({ kind: 'ident', text: word, line: startLine });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = NUMBER.exec(src.slice(i, i + 64))!;
      tokens.push({ kind: 'number', text: m[0], line });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 2);
      const text = TWO_CHAR.has(two) ? two : c;
      tokens.push({ kind: 'punct', text, line });
      i += text.length;
    }
  }
  return tokens;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '~': '~', $: '$' };

/** A string literal starting at `start` (its quote): where it ends, and its pieces. */
function readString(src: string, start: number, line: number): { end: number; parts: WdlStringPart[] } {
  const quote = src[start]!;
  const parts: WdlStringPart[] = [];
  let text = '';
  let i = start + 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length) {
      const e = src[i + 1]!;
      text += ESCAPES[e] ?? `\\${e}`;
      i += 2;
    } else if (c === quote) {
      if (text || parts.length === 0) parts.push({ text });
      return { end: i + 1, parts };
    } else if ((c === '~' || c === '$') && src[i + 1] === '{') {
      if (text) parts.push({ text });
      text = '';
      const close = skipPlaceholder(src, i + 2, line);
      parts.push({ placeholder: src.slice(i + 2, close - 1).trim() });
      i = close;
    } else if (c === '\n') {
      break;
    } else {
      text += c;
      i++;
    }
  }
  throw new WdlSyntaxError('unterminated string', line);
}

/** From just inside `~{`/`${`: the index after the placeholder's closing `}`. */
function skipPlaceholder(src: string, start: number, line: number): number {
  let depth = 1;
  let i = start;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '"' || c === "'") {
      i = readString(src, i, line).end;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
    i++;
  }
  throw new WdlSyntaxError('unterminated placeholder', line);
}

/** From a command section's opening `{` or `<<<`: the index after its end. */
function readCommand(src: string, start: number, line: number): number {
  const heredoc = src.startsWith('<<<', start);
  let i = start + (heredoc ? 3 : 1);
  while (i < src.length) {
    if (heredoc && src.startsWith('>>>', i)) return i + 3;
    const c = src[i]!;
    if (!heredoc && c === '}') return i + 1;
    // In `<<< >>>` only `~{}` is a placeholder (`${}` is the shell's own).
    if (src[i + 1] === '{' && (c === '~' || (c === '$' && !heredoc))) {
      i = skipPlaceholder(src, i + 2, line);
      continue;
    }
    i++;
  }
  throw new WdlSyntaxError('unterminated command section', line);
}

/** The text of a string token without placeholders; null if it has any. */
export function literalText(token: WdlToken): string | null {
  const parts = token.parts ?? [];
  return parts.every((p) => 'text' in p) ? parts.map((p) => ('text' in p ? p.text : '')).join('') : null;
}
