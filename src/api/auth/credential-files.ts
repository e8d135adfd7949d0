/**
 * The two credential files, parsed. Errors name the file and the line but
 * never echo a line's content: it may hold a hash, or a token pasted where
 * its digest belongs.
 */

/** One htpasswd user: the bcrypt hash and its cost. */
export interface HtpasswdEntry {
  hash: string;
  cost: number;
}

/** One bearer token: who it speaks for and the sha256 of the token (32 bytes). */
export interface TokenEntry {
  user: string;
  digest: Buffer;
}

/** `$2a$`, `$2b$` or `$2y$`, a two-digit cost, then 22 characters of salt and 31 of hash. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * The highest cost accepted: Apache's `htpasswd -C` stops at 17, and the
 * dummy hash unknown users are checked against is made at the file's cost,
 * so an absurd one would stall start-up.
 */
export const MAX_BCRYPT_COST = 17;

/** The lines of a file with their 1-based numbers, skipping blank lines and `#` comments (as Apache's mod_authn_file does). */
function* contentLines(text: string): Generator<{ line: string; n: number }> {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    yield { line, n: i + 1 };
  }
}

/** What a non-bcrypt htpasswd hash is, to say so in the error. */
function describeHash(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'an MD5 ($apr1$) entry';
  if (hash.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) entry';
  if (/^\$[56]\$/.test(hash)) return 'a SHA-crypt ($5$/$6$) entry';
  if (hash.startsWith('$2')) return 'a malformed bcrypt entry';
  return 'a crypt or plain-text entry';
}

/**
 * Parses an Apache htpasswd file of bcrypt entries (`user:$2y$…`, as
 * `htpasswd -B` writes them). Any other format, a line that is not
 * `USER:HASH`, or a user listed twice is refused with the file and line.
 */
export function parseHtpasswd(text: string, file: string): Map<string, HtpasswdEntry> {
  const users = new Map<string, HtpasswdEntry>();
  const firstLine = new Map<string, number>();
  for (const { line, n } of contentLines(text)) {
    const colon = line.indexOf(':');
    const user = colon > 0 ? line.slice(0, colon) : '';
    if (user === '') throw new Error(`${file} line ${n}: expected USER:HASH`);
    const hash = line.slice(colon + 1).trim();
    const m = BCRYPT.exec(hash);
    if (!m) {
      throw new Error(`${file} line ${n}: user "${user}" has ${describeHash(hash)}; only bcrypt entries (htpasswd -B) are accepted`);
    }
    const cost = Number(m[1]);
    if (cost < 4 || cost > MAX_BCRYPT_COST) {
      throw new Error(`${file} line ${n}: user "${user}" has bcrypt cost ${cost}; only costs 4 to ${MAX_BCRYPT_COST} are accepted`);
    }
    const before = firstLine.get(user);
    if (before !== undefined) throw new Error(`${file} line ${n}: user "${user}" is listed again (first on line ${before})`);
    firstLine.set(user, n);
    users.set(user, { hash, cost });
  }
  return users;
}

/**
 * Parses a bearer tokens file: one `USER SHA256HEX` a line (hex in either
 * case), `#` comments and blank lines. A token listed twice is refused, as
 * it could not say whom it speaks for.
 */
export function parseTokens(text: string, file: string): TokenEntry[] {
  const tokens: TokenEntry[] = [];
  const firstLine = new Map<string, number>();
  for (const { line, n } of contentLines(text)) {
    const m = /^\s*(\S+)\s+([0-9A-Fa-f]{64})\s*$/.exec(line);
    if (!m) throw new Error(`${file} line ${n}: expected USER and the sha256 of the token in hex (64 digits)`);
    const user = m[1]!;
    const hex = m[2]!.toLowerCase();
    const before = firstLine.get(hex);
    if (before !== undefined) throw new Error(`${file} line ${n}: the same token digest is listed again (first on line ${before})`);
    firstLine.set(hex, n);
    tokens.push({ user, digest: Buffer.from(hex, 'hex') });
  }
  return tokens;
}
