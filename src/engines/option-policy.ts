import { MalformedRequestError } from '../util/errors.js';
import { parseOption, type EngineOption } from './engine.js';

/** How a user-settable option takes its value. */
export type OptionShape =
  /** a bare switch: `--flag` */
  | 'switch'
  /** any value not naming a path: `--flag=value` */
  | 'value'
  /** a whole number */
  | 'int'
  /** a size or number such as `2G` or `1.5` */
  | 'amount'
  /** one of these words */
  | readonly string[];

export interface OptionPolicy {
  /** Options a user may pass and how they take values. */
  allowed: Readonly<Record<string, OptionShape>>;
  /**
   * Options Ferry sets itself for every run (where outputs, the job store and
   * scratch space go, what the log it reads looks like), with the reason: a
   * user's value is dropped, whatever it is, and Ferry's own stands. Clients
   * such as cwltest send `--outdir` on every run, and Toil's server drops it
   * the same way.
   */
  owned: Readonly<Record<string, string>>;
  /** Options the engine knows that users may not pass, with the reason. */
  refused: Readonly<Record<string, string>>;
}

const INT = /^\d{1,9}$/;
const AMOUNT = /^\d+(\.\d+)?([KMGTPE]i?)?B?$/i;

/**
 * Checks one user option against an engine's policy: null when it passes as
 * given; the reason when Ferry owns the option and drops the user's (see
 * {@link OptionPolicy.owned}). Throws a 400 with a message naming the option
 * when it is refused, unknown or ill-formed.
 */
export function checkOption(engine: string, policy: OptionPolicy, option: EngineOption): string | null {
  const { flag, value } = option;
  const refused = policy.refused[flag];
  if (refused !== undefined) {
    throw new MalformedRequestError(`workflow_engine_parameters: '${flag}' cannot be set for ${engine}: ${refused}.`);
  }
  const owned = policy.owned[flag];
  if (owned !== undefined) return owned;
  const shape = policy.allowed[flag];
  if (shape === undefined) {
    throw new MalformedRequestError(`workflow_engine_parameters: '${flag}' is not an option ${engine} accepts here.`);
  }
  const bad = (why: string): never => {
    throw new MalformedRequestError(`workflow_engine_parameters: '${flag}' ${why}.`);
  };
  if (shape === 'switch') {
    if (value !== null && value !== '') bad('takes no value');
    return null;
  }
  if (value === null || value === '') bad('needs a value');
  const v = value as string;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) bad('has a control character in its value');
  if (shape === 'int' && !INT.test(v)) bad(`needs a whole number, got '${v}'`);
  if (shape === 'amount' && !AMOUNT.test(v)) bad(`needs a number or size such as 2G, got '${v}'`);
  if (Array.isArray(shape) && !shape.includes(v)) bad(`must be one of ${shape.join(', ')}, got '${v}'`);
  if (shape === 'value' && (v.includes('/') || v.startsWith('~') || v.includes('..'))) bad('may not name a path');
  return null;
}

/**
 * The server's default options (`--opt [engine:]--flag[=value]`) that apply
 * to an engine, in order: those without an engine name apply to all.
 */
export function serverOptionsFor(configured: readonly string[], engineName: string): EngineOption[] {
  const out: EngineOption[] = [];
  for (const raw of configured) {
    const m = /^([a-z0-9-]+):(--?.*)$/.exec(raw);
    if (m && m[1] !== engineName) continue;
    out.push(parseOption(m ? m[2]! : raw));
  }
  return out;
}
