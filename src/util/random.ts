import { randomFillSync } from 'node:crypto';

/**
 * Random bytes from the system's cryptographic generator, drawn from a pool
 * refilled 4 KiB at a time: a call into the generator costs several
 * microseconds whatever it returns, and a submission wants half a dozen
 * random names (its run id, its staging folder, the temp names of its
 * records). The bytes are the generator's own, each handed out once, as
 * `crypto.randomUUID` does with its own pool.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

function take(bytes: number): [Buffer, number, number] {
  if (bytes > POOL_BYTES) return [randomFillSync(Buffer.alloc(bytes)), 0, bytes];
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const from = used;
  used += bytes;
  return [pool, from, used];
}

/** `bytes` random bytes as lower-case hex (twice as many characters). */
export function randomHex(bytes: number): string {
  const [buf, from, to] = take(bytes);
  return buf.toString('hex', from, to);
}

/** `bytes` random bytes as base64url. */
export function randomBase64url(bytes: number): string {
  const [buf, from, to] = take(bytes);
  return buf.toString('base64url', from, to);
}
