/**
 * Path safety: the one place that decides whether a path stays inside a
 * folder and whether a relative name sent by a client (an attachment's file
 * name, a zip entry's name) may be written below a run's folder.
 */
import path from 'node:path';
import { MalformedRequestError } from './errors.js';

/** Longest relative name accepted, in UTF-8 bytes (Linux's PATH_MAX). */
const MAX_NAME_BYTES = 4096;
/** Longest part of a name, in UTF-8 bytes (Linux's NAME_MAX). */
const MAX_PART_BYTES = 255;

/**
 * Whether `p` is `root` itself or lies below it (both absolute and already
 * resolved; the check is lexical, links are not followed). A name that merely
 * starts with two dots, such as `..data`, is below `root`, not a climb out of
 * it. Callers for whom `root` itself does not count compare for equality.
 */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return !path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`);
}

/** How {@link checkRelativeName} reads a name and words its refusals. */
export interface RelativeNameRules {
  /** What the name is, opening every refusal: `${subject} "name" is empty.` */
  subject: string;
  /**
   * Empty parts (`a//b`, `a/`): `collapse` drops them (`a/b`, `a`); `refuse`
   * turns the name down.
   */
  emptyParts: 'collapse' | 'refuse';
  /** One trailing `/` marks a folder (zip entries) and is dropped from the result. */
  trailingSlash?: boolean;
  /**
   * C1 control characters (U+0080–U+009F) are refused like C0 ones, and shown
   * escaped in messages (some terminals act on them).
   */
  c1Controls?: boolean;
  /** A leading drive letter (`C:`) makes the name absolute, as a Windows-made zip may hold. */
  driveLetters?: boolean;
  /** A further rule, asked last with the name as given: why it is refused (`is unsafe (…)`), or null. */
  alsoRefuse?: (name: string) => string | null;
}

/**
 * Checks a relative name that came from a client before anything is written
 * under it, and returns it in canonical form (`/`-separated, no empty parts,
 * no trailing slash). Refused with a 400 (MalformedRequestError): control
 * characters, backslashes, absolute names, names over 4096 bytes or with a
 * part over 255 bytes, `.` and `..` parts, and an empty name. Beyond
 * dropping empty parts where the rules say so, nothing is cleaned to make a
 * name acceptable: a name that is not plainly a path below the folder is
 * refused, so the client learns why rather than finding its file elsewhere.
 *
 * @throws MalformedRequestError naming the rule the name breaks.
 */
export function checkRelativeName(name: string, rules: RelativeNameRules): string {
  let shown = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name);
  if (rules.c1Controls) shown = shown.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const refuse = (why: string): never => {
    throw new MalformedRequestError(`${rules.subject} ${shown} ${why}.`);
  };
  // eslint-disable-next-line no-control-regex
  if ((rules.c1Controls ? /[\u0000-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f]/).test(name)) refuse('holds a control character');
  if (name.includes('\\')) refuse('holds a backslash');
  if (name.startsWith('/') || (rules.driveLetters && /^[A-Za-z]:/.test(name))) refuse('is an absolute path');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) refuse('is too long');
  const body = rules.trailingSlash && name.endsWith('/') ? name.slice(0, -1) : name;
  if (body === '') refuse('is empty');
  let parts = body.split('/');
  if (rules.emptyParts === 'collapse') parts = parts.filter((s) => s !== '');
  for (const s of parts) {
    if (s === '') refuse('has an empty part');
    if (s === '.' || s === '..') refuse(`may not contain '${s}'`);
    if (Buffer.byteLength(s) > MAX_PART_BYTES) refuse(`has a part longer than ${MAX_PART_BYTES} bytes`);
  }
  const why = rules.alsoRefuse?.(name) ?? null;
  if (why !== null) refuse(why);
  return parts.join('/');
}
