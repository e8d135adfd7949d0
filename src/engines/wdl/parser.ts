/**
 * A small reader of WDL (draft-2 and 1.0) that finds what Ferry needs: the
 * workflow's declared inputs and outputs, its calls, and each task's
 * declarations. It is not a full WDL parser: expressions are kept as token
 * lists, and only the sections that matter are read; the rest is skipped
 * bracket by bracket (the tokenizer makes strings and command sections single
 * tokens, so braces inside them never count).
 */
import { tokenizeWdl, WdlSyntaxError, type WdlToken, type WdlTokenKind } from './tokenizer.js';

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
  /** Every declaration but the outputs: the `input` section's and the body's (draft-2 has no `input` section). */
  declarations: WdlDeclaration[];
  outputs: WdlDeclaration[];
}

export interface WdlWorkflow {
  name: string;
  /**
   * Every declaration but the outputs: the `input` section's, the body's and
   * those inside `scatter` and `if` blocks, in source order.
   */
  declarations: WdlDeclaration[];
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

/** Reads a WDL document's outline. Throws {@link WdlSyntaxError}. */
export function parseWdl(source: string): WdlDocument {
  return new OutlineParser(tokenizeWdl(source)).document();
}

/** Words that continue an expression rather than end it. */
const EXPRESSION_KEYWORDS = new Set(['if', 'then', 'else']);
const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);
const SKIPPED_SECTIONS = new Set(['meta', 'parameter_meta', 'runtime', 'requirements', 'hints']);

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
          doc.tasks.set(name, { name, ...this.taskBody() });
          break;
        }
        case 'workflow': {
          if (doc.workflow) throw this.error('a second workflow', t);
          const name = this.expect('ident').text;
          const workflow: WdlWorkflow = { name, declarations: [], outputs: null, calls: [] };
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

  private taskBody(): Pick<WdlTask, 'declarations' | 'outputs'> {
    const declarations: WdlDeclaration[] = [];
    let outputs: WdlDeclaration[] = [];
    this.expectPunct('{');
    while (!this.isPunct('}')) {
      const t = this.peekOrFail();
      if (t.kind === 'command') {
        this.pos++;
      } else if (this.isWord('output') && this.isPunct('{', 1)) {
        this.pos++;
        outputs = this.declarations();
      } else if (this.isWord('input') && this.isPunct('{', 1)) {
        this.pos++;
        declarations.push(...this.inputSection());
      } else if (t.kind === 'ident' && SKIPPED_SECTIONS.has(t.text) && this.isPunct('{', 1)) {
        this.pos++;
        this.skipBalanced();
      } else {
        declarations.push(this.declaration());
      }
    }
    this.pos++;
    return { declarations, outputs };
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
      } else if (this.isWord('input') && this.isPunct('{', 1)) {
        this.pos++;
        wf.declarations.push(...this.inputSection());
      } else if (t.kind === 'ident' && SKIPPED_SECTIONS.has(t.text) && this.isPunct('{', 1)) {
        this.pos++;
        this.skipBalanced();
      } else {
        wf.declarations.push(this.declaration());
      }
    }
    this.pos++;
  }

  /** A 1.0 `input` section from its `{` to its `}`: declarations, bound or not. */
  private inputSection(): WdlDeclaration[] {
    const out: WdlDeclaration[] = [];
    this.expectPunct('{');
    while (!this.isPunct('}')) out.push(this.declaration());
    this.pos++;
    return out;
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
   * second starts the next declaration or section), or at its section's closing `}`.
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
        // After an operand, `if` starts the next statement (an `if` block), and a
        // command section (one token) the task's next section.
        const startsOperand =
          (t.kind === 'ident' && (t.text === 'if' || !EXPRESSION_KEYWORDS.has(t.text))) || t.kind === 'string' || t.kind === 'number' || t.kind === 'command';
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

