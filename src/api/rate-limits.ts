import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { WesError } from '../util/errors.js';

/** Milliseconds since the epoch; injectable so tests move time instead of waiting for it. */
export type Clock = () => number;

/** Most keys (users or addresses) each limiter remembers: past it, the least recently seen is forgotten. */
export const DEFAULT_MAX_KEYS = 10_000;

/** A 429 in the WES body, with the whole seconds to wait (at least one: `Retry-After: 0` invites a busy loop). */
export class TooManyRequestsError extends WesError {
  constructor(message: string, retryAfterMs: number) {
    super(429, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  }
}

/**
 * The key a client address is counted under: IPv4 as it is (an IPv4-mapped
 * IPv6 address as its IPv4), IPv6 by its /64, since one host or site holds a
 * whole /64 and could otherwise change address at every attempt.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail is two groups; only the first four groups matter here, so it is counted, not parsed.
  const rightGroups = right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = ip.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - rightGroups)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export interface SubmissionLimiterOptions {
  /** Submissions each key may make per window; 0: no limit. */
  perWindow: number;
  /** Default one minute. */
  windowMs?: number;
  maxKeys?: number;
  now?: Clock;
}

/**
 * At most `perWindow` submissions in any window per key (a user, or a
 * client address when there are no users). It is a token bucket written as
 * GCRA: one number per key, the time at which that key's bucket is full
 * again, so memory per key is constant whatever the limit, and the time
 * until the next slot frees is exact. A key whose bucket is full again is
 * forgotten; the table holds at most `maxKeys` keys, least recently seen
 * first out.
 */
export class SubmissionLimiter {
  private readonly windowMs: number;
  /** Time one slot takes to free. */
  private readonly intervalMs: number;
  private readonly now: Clock;
  private readonly full: LRUCache<string, number>;

  constructor(private readonly opts: SubmissionLimiterOptions) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.intervalMs = opts.perWindow > 0 ? this.windowMs / opts.perWindow : 0;
    this.now = opts.now ?? Date.now;
    // No TTL purging of its own: `take` reads the clock given, and drops what it finds refilled.
    this.full = new LRUCache({ max: opts.maxKeys ?? DEFAULT_MAX_KEYS });
  }

  /** Keys remembered now (tests check the bound). */
  get size(): number {
    return this.full.size;
  }

  /**
   * Takes a slot for `key`, or throws a 429 saying when the next one frees.
   * Returns the way to give the slot back, for a submission that was not
   * accepted after all (so only accepted submissions count, while ones in
   * flight hold their slot and cannot overrun the limit together).
   */
  take(key: string): () => void {
    if (this.opts.perWindow <= 0) return () => {};
    const now = this.now();
    const fullAt = Math.max(this.full.get(key) ?? now, now);
    const next = fullAt + this.intervalMs;
    // Float rounding of the interval must not refuse the Nth submission.
    if (next - now > this.windowMs + 1e-6) {
      throw new TooManyRequestsError(
        `Too many submissions: at most ${this.opts.perWindow} a minute${this.windowMs === 60_000 ? '' : ` (per ${this.windowMs} ms)`}. Try again later.`,
        next - this.windowMs - now,
      );
    }
    this.full.set(key, next);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const at = this.full.get(key);
      if (at === undefined) return;
      if (at - this.intervalMs <= this.now()) this.full.delete(key);
      else this.full.set(key, at - this.intervalMs);
    };
  }
}

export interface LoginThrottleOptions {
  /** Failures from one address before it must wait (default 5). */
  threshold?: number;
  /** The first wait; each further failure doubles it (default 1 s). */
  baseDelayMs?: number;
  /** The longest wait (default one minute). */
  maxDelayMs?: number;
  /** An address with no failure for this long starts afresh (default 15 minutes). */
  forgetAfterMs?: number;
  maxKeys?: number;
  now?: Clock;
}

interface FailureRecord {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

/**
 * Slows password guessing per client address: after `threshold` failed
 * logins, each further attempt from that address is refused unchecked until
 * a delay has passed, which doubles with every failure up to a cap. A login
 * that succeeds clears the address. Counting by address, not by user, means
 * no one elsewhere can lock a user out by guessing at their name.
 */
export class LoginThrottle {
  private readonly threshold: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly now: Clock;
  private readonly records: LRUCache<string, FailureRecord>;

  constructor(opts: LoginThrottleOptions = {}) {
    this.threshold = opts.threshold ?? 5;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.forgetAfterMs = opts.forgetAfterMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
    this.records = new LRUCache({ max: opts.maxKeys ?? DEFAULT_MAX_KEYS });
  }

  /** Addresses remembered now (tests check the bound). */
  get size(): number {
    return this.records.size;
  }

  /** Throws a 429 when `address` must still wait; call before checking its credentials. */
  check(address: string): void {
    const key = addressKey(address);
    const record = this.records.get(key);
    if (!record) return;
    const now = this.now();
    if (now - record.lastFailure >= this.forgetAfterMs) {
      this.records.delete(key);
      return;
    }
    if (now < record.blockedUntil) {
      throw new TooManyRequestsError('Too many failed logins from this address. Try again later.', record.blockedUntil - now);
    }
  }

  /** Counts a failed login; returns the wait it imposes (0 below the threshold). */
  failed(address: string): number {
    const key = addressKey(address);
    const now = this.now();
    const old = this.records.get(key);
    const failures = old && now - old.lastFailure < this.forgetAfterMs ? old.failures + 1 : 1;
    const over = failures - this.threshold;
    const delay = over < 0 ? 0 : Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(over, 30));
    this.records.set(key, { failures, lastFailure: now, blockedUntil: now + delay });
    return delay;
  }

  /** A login succeeded: the address starts afresh. */
  succeeded(address: string): void {
    this.records.delete(addressKey(address));
  }
}
