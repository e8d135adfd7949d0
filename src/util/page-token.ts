import { MalformedRequestError } from './errors.js';

/**
 * Opaque page tokens: base64url of a small JSON cursor tagged with what it
 * pages over (a listing and its filters), so a token from one listing is
 * refused by another.
 */
export function encodePageToken(kind: string, cursor: number): string {
  return Buffer.from(JSON.stringify({ k: kind, c: cursor })).toString('base64url');
}

/** The cursor in a token; throws a 400 for anything this server did not make. */
export function decodePageToken(kind: string, token: string): number {
  const bad = (): never => {
    throw new MalformedRequestError(`Invalid page_token '${token.length > 64 ? token.slice(0, 64) + '…' : token}'.`);
  };
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return bad();
  }
  if (typeof value !== 'object' || value === null) return bad();
  const { k, c } = value as { k?: unknown; c?: unknown };
  if (typeof k !== 'string' || typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) return bad();
  if (k !== kind) {
    throw new MalformedRequestError(
      `This page_token belongs to another listing (another run's tasks, or other filters or sort order); start this one without a page_token.`,
    );
  }
  return c;
}

/**
 * The page size to use: the client's (a whole number of at least 1), capped
 * at the maximum, or the default when absent.
 */
export function pageSize(raw: unknown, defaultSize: number, maxSize: number): number {
  if (raw === undefined || raw === null || raw === '') return defaultSize;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new MalformedRequestError(`page_size must be a whole number of at least 1, got '${String(raw)}'.`);
  return Math.min(n, maxSize);
}
