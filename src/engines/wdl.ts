/**
 * A small reader of WDL (draft-2 and 1.0) that finds what Ferry needs to
 * collect a run's outputs: the workflow's declared outputs, its calls, and
 * each task's declared outputs. It is not a full WDL parser: expressions are
 * kept as token lists, and only the sections that matter are read; the rest is
 * skipped bracket by bracket. It does follow WDL's lexical rules exactly where
 * skipping depends on them: `#` comments, strings with `~{}`/`${}`
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

/** `Type name = expression`, or a draft-2 `call.output` / `call.*` line (type null). */
export interface WdlDeclaration {
  /** Normalised type, e.g. `Array[File]+`, `File?`, `Map[String, File]`; null for draft-2 references. */
  type: string | null;
  name: string;
  /** The expression's tokens; empty for a declaration without one. */
  expression: WdlToken[];
  line: number;
}

export interface WdlCall {
  /** The task called (possibly `namespace.task`). */
  task: string;
  /** The name the workflow refers to it by: the alias, else the task's name. */
  alias: string;
  /** Inside a `scatter`: its outputs are arrays, one element a shard. */
  scattered: boolean;
  /** Inside an `if`: its outputs may be absent. */
  conditional: boolean;
}

export interface WdlTask {
  name: string;
  outputs: WdlDeclaration[];
}

export interface WdlWorkflow {
  name: string;
  /** The `output` section's declarations, or null when the workflow has none. */
  outputs: WdlDeclaration[] | null;
  calls: WdlCall[];
}

export interface WdlDocument {
  /** `draft-2` when the document has no `version` line. */
  version: string;
  workflow: WdlWorkflow | null;
  tasks: Map<string, WdlTask>;
}

/** The WDL is not something this reader understands; names the line. */
export class WdlSyntaxError extends Error {
  constructor(message: string, line: number) {
    super(`${message} (line ${line})`);
    this.name = 'WdlSyntaxError';
  }
}

/** Reads a WDL document's outline. Throws {@link WdlSyntaxError}. */
export function parseWdl(source: string): WdlDocument {
  return new OutlineParser(tokenizeWdl(source)).document();
}

// ---------------------------------------------------------------- lexing

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

// ---------------------------------------------------------------- parsing

/** Words that continue an expression rather than end it. */
const EXPRESSION_KEYWORDS = new Set(['if', 'then', 'else']);
const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);
const SKIPPED_SECTIONS = new Set(['input', 'meta', 'parameter_meta', 'runtime', 'requirements', 'hints']);

class OutlineParser {
  private pos = 0;

  constructor(private readonly tokens: WdlToken[]) {}

  document(): WdlDocument {
    const doc: WdlDocument = { version: 'draft-2', workflow: null, tasks: new Map() };
    while (this.peek()) {
      const t = this.next();
      if (t.kind !== 'ident') throw this.error(`unexpected '${t.text}'`, t);
      switch (t.text) {
        case 'version':
          doc.version = this.next().text;
          break;
        case 'import':
          this.expect('string');
          while (this.isWord('as') || this.isWord('alias')) {
            const word = this.next().text;
            this.expect('ident');
            if (word === 'alias') {
              this.expectWord('as');
              this.expect('ident');
            }
          }
          break;
        case 'struct':
          this.expect('ident');
          this.skipBalanced();
          break;
        case 'task': {
          const name = this.expect('ident').text;
          doc.tasks.set(name, { name, outputs: this.taskBody() });
          break;
        }
        case 'workflow': {
          if (doc.workflow) throw this.error('a second workflow', t);
          const name = this.expect('ident').text;
          const workflow: WdlWorkflow = { name, outputs: null, calls: [] };
          this.expectPunct('{');
          this.workflowBody(workflow, false, false);
          doc.workflow = workflow;
          break;
        }
        default:
          throw this.error(`unexpected '${t.text}'`, t);
      }
    }
    return doc;
  }

  private taskBody(): WdlDeclaration[] {
    let outputs: WdlDeclaration[] = [];
    this.expectPunct('{');
    while (!this.isPunct('}')) {
      const t = this.peekOrFail();
      if (t.kind === 'command') {
        this.pos++;
      } else if (this.isWord('output') && this.isPunct('{', 1)) {
        this.pos++;
        outputs = this.declarations();
      } else if (t.kind === 'ident' && SKIPPED_SECTIONS.has(t.text) && this.isPunct('{', 1)) {
        this.pos++;
        this.skipBalanced();
      } else {
        this.declaration();
      }
    }
    this.pos++;
    return outputs;
  }

  /** Reads a workflow (or scatter/if) body after its `{`, up to and including its `}`. */
  private workflowBody(wf: WdlWorkflow, scattered: boolean, conditional: boolean): void {
    while (!this.isPunct('}')) {
      const t = this.peekOrFail();
      if (this.isWord('call')) {
        this.pos++;
        let task = this.expect('ident').text;
        while (this.isPunct('.')) {
          this.pos++;
          task += '.' + this.expect('ident').text;
        }
        let alias = task.slice(task.lastIndexOf('.') + 1);
        if (this.isWord('as')) {
          this.pos++;
          alias = this.expect('ident').text;
        }
        while (this.isWord('after')) this.pos += 2;
        if (this.isPunct('{')) this.skipBalanced();
        wf.calls.push({ task, alias, scattered, conditional });
      } else if (this.isWord('scatter') && this.isPunct('(', 1)) {
        this.pos++;
        this.skipBalanced();
        this.expectPunct('{');
        this.workflowBody(wf, true, conditional);
      } else if (this.isWord('if') && this.isPunct('(', 1)) {
        this.pos++;
        this.skipBalanced();
        this.expectPunct('{');
        this.workflowBody(wf, scattered, true);
      } else if (this.isWord('output') && this.isPunct('{', 1)) {
        this.pos++;
        wf.outputs = this.declarations();
      } else if (t.kind === 'ident' && SKIPPED_SECTIONS.has(t.text) && this.isPunct('{', 1)) {
        this.pos++;
        this.skipBalanced();
      } else {
        this.declaration();
      }
    }
    this.pos++;
  }

  /** An output section from its `{` to its `}`. */
  private declarations(): WdlDeclaration[] {
    const out: WdlDeclaration[] = [];
    this.expectPunct('{');
    while (!this.isPunct('}')) {
      // draft-2's untyped `call.output` and `call.*`: a type never holds a dot.
      if (this.peekOrFail().kind === 'ident' && this.isPunct('.', 1)) {
        const call = this.next();
        this.pos++;
        const member = this.isPunct('*') ? this.next() : this.expect('ident');
        out.push({ type: null, name: `${call.text}.${member.text}`, expression: [call, { kind: 'punct', text: '.', line: call.line }, member], line: call.line });
        if (this.isPunct(',')) this.pos++;
        continue;
      }
      out.push(this.declaration());
    }
    this.pos++;
    return out;
  }

  private declaration(): WdlDeclaration {
    const first = this.peekOrFail();
    if (first.kind !== 'ident') throw this.error(`unexpected '${first.text}'`, first);
    const type = this.type();
    const name = this.expect('ident').text;
    let expression: WdlToken[] = [];
    if (this.isPunct('=')) {
      this.pos++;
      expression = this.expression();
    }
    return { type, name, expression, line: first.line };
  }

  private type(): string {
    let type = this.expect('ident').text;
    if (this.isPunct('[')) {
      this.pos++;
      const params = [this.type()];
      while (this.isPunct(',')) {
        this.pos++;
        params.push(this.type());
      }
      this.expectPunct(']');
      type += `[${params.join(', ')}]`;
    }
    if (this.isPunct('+')) {
      this.pos++;
      type += '+';
    }
    if (this.isPunct('?')) {
      this.pos++;
      type += '?';
    }
    return type;
  }

  /**
   * An expression's tokens. WDL has no separator between declarations, so an
   * expression ends where two operands meet with no operator between them (the
   * second starts the next declaration), or at its section's closing `}`.
   */
  private expression(): WdlToken[] {
    const out: WdlToken[] = [];
    let depth = 0;
    let afterOperand = false;
    for (;;) {
      const t = this.peek();
      if (!t) throw this.error('unexpected end of file in an expression', out.at(-1) ?? this.tokens.at(-1));
      if (depth === 0) {
        if (t.kind === 'punct' && CLOSE.has(t.text)) break;
        const startsOperand = (t.kind === 'ident' && !EXPRESSION_KEYWORDS.has(t.text)) || t.kind === 'string' || t.kind === 'number';
        if (afterOperand && startsOperand) break;
      }
      if (t.kind === 'punct' && OPEN.has(t.text)) depth++;
      if (t.kind === 'punct' && CLOSE.has(t.text)) depth--;
      if (t.kind === 'command') throw this.error('a command section inside an expression', t);
      out.push(t);
      this.pos++;
      afterOperand =
        (t.kind === 'ident' && !EXPRESSION_KEYWORDS.has(t.text)) ||
        t.kind === 'string' ||
        t.kind === 'number' ||
        (t.kind === 'punct' && CLOSE.has(t.text));
    }
    if (out.length === 0) throw this.error('missing expression', this.peek());
    return out;
  }

  /** Skips from an opening bracket to its match (strings and commands are single tokens). */
  private skipBalanced(): void {
    const open = this.next();
    if (open.kind !== 'punct' || !OPEN.has(open.text)) throw this.error(`expected '{', '(' or '[' but found '${open.text}'`, open);
    let depth = 1;
    while (depth > 0) {
      const t = this.next();
      if (t.kind !== 'punct') continue;
      if (OPEN.has(t.text)) depth++;
      else if (CLOSE.has(t.text)) depth--;
    }
  }

  private peek(offset = 0): WdlToken | undefined {
    return this.tokens[this.pos + offset];
  }

  private peekOrFail(): WdlToken {
    const t = this.peek();
    if (!t) throw this.error('unexpected end of file', this.tokens.at(-1));
    return t;
  }

  private next(): WdlToken {
    const t = this.peekOrFail();
    this.pos++;
    return t;
  }

  private isPunct(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'punct' && t.text === text;
  }

  private isWord(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'ident' && t.text === text;
  }

  private expect(kind: WdlTokenKind): WdlToken {
    const t = this.next();
    if (t.kind !== kind) throw this.error(`expected ${kind === 'ident' ? 'a name' : `a ${kind}`} but found '${t.text}'`, t);
    return t;
  }

  private expectWord(word: string): void {
    const t = this.next();
    if (t.kind !== 'ident' || t.text !== word) throw this.error(`expected '${word}' but found '${t.text}'`, t);
  }

  private expectPunct(text: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) throw this.error(`expected '${text}' but found '${t.text}'`, t);
  }

  private error(message: string, at: WdlToken | undefined): WdlSyntaxError {
    return new WdlSyntaxError(message, at?.line ?? 1);
  }
}

// ---------------------------------------------------------------- types

/** How Ferry can hand out a value of a WDL type. */
export type WdlTypeShape =
  | { kind: 'file'; optional: boolean }
  | { kind: 'file-array'; optional: boolean; nonEmpty: boolean; optionalElements: boolean }
  /** A type holding files in a shape Ferry does not collect (Map, Pair, nested arrays…). */
  | { kind: 'other-files'; optional: boolean }
  /** No file in it (Int, String, Array[String]…) — or a struct, which this reader does not look into. */
  | { kind: 'value'; optional: boolean };

/** Classifies a normalised type from {@link parseWdl}. */
export function wdlTypeShape(type: string): WdlTypeShape {
  const optional = type.endsWith('?');
  const bare = optional ? type.slice(0, -1) : type;
  if (bare === 'File') return { kind: 'file', optional };
  const array = /^Array\[(File\??)\](\+?)$/.exec(bare);
  if (array) return { kind: 'file-array', optional, nonEmpty: array[2] === '+', optionalElements: array[1] === 'File?' };
  if (/\bFile\b/.test(bare)) return { kind: 'other-files', optional };
  return { kind: 'value', optional };
}
