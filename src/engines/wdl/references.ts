/**
 * How a workflow's output section refers to its calls' outputs: draft-2's
 * `call.*`, and `call.output`.
 */
import type { WdlCall, WdlDeclaration, WdlTask } from './parser.js';
import type { WdlToken } from './tokenizer.js';

/** Expands draft-2's `call.*` into one reference per output of the call's task. */
export function expandReferences(decls: WdlDeclaration[], calls: Map<string, WdlCall>, tasks: Map<string, WdlTask>): WdlDeclaration[] {
  return decls.flatMap((decl) => {
    const [call, , member] = decl.expression;
    if (decl.type !== null || member?.text !== '*' || !call) return [decl];
    const task = tasks.get(calls.get(call.text)?.task ?? '');
    return (task?.outputs ?? []).map((out) => ({
      type: null,
      name: `${call.text}.${out.name}`,
      expression: [call, { kind: 'punct' as const, text: '.', line: call.line }, { kind: 'ident' as const, text: out.name, line: call.line }],
      line: decl.line,
    }));
  });
}

/** `call.output` → the call and its task's output declaration; null for any other expression. */
export function callReference(expression: WdlToken[], calls: Map<string, WdlCall>, tasks: Map<string, WdlTask>): { call: WdlCall; output: WdlDeclaration } | null {
  if (expression.length !== 3) return null;
  const [head, dot, member] = expression as [WdlToken, WdlToken, WdlToken];
  if (head.kind !== 'ident' || dot.text !== '.' || member.kind !== 'ident') return null;
  const call = calls.get(head.text);
  const output = call && tasks.get(call.task)?.outputs.find((o) => o.name === member.text);
  return call && output ? { call, output } : null;
}
