import t from 'tap';
import { addressKey, LoginThrottle, SubmissionLimiter, TooManyRequestsError } from '../../src/api/rate-limits.js';

/**
 * The limiters on their own, on a clock the test moves: the exact waits
 * they announce, slots given back, doubling delays, and tables that stay
 * within their bound however many keys come by. Through the app: limits.test.ts.
 */

const clock = (start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } => {
  let now = start;
  return { now: () => now, advance: (ms) => (now += ms) };
};

/** The Retry-After a call throws with, or null when it does not throw. */
function retryAfter(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!(err instanceof TooManyRequestsError) || err.statusCode !== 429) throw err;
    return err.headers['retry-after'] ?? '';
  }
}

t.test('submissions: N a window, then the exact wait for the next slot', async (t) => {
  const c = clock();
  const limiter = new SubmissionLimiter({ perWindow: 3, now: c.now });
  for (let i = 0; i < 3; i++) t.equal(retryAfter(() => limiter.take('ann')), null, `submission ${i + 1}`);
  t.equal(retryAfter(() => limiter.take('ann')), '20', 'one slot frees every 60/3 s');
  t.equal(retryAfter(() => limiter.take('bob')), null, 'another key is not affected');
  c.advance(19_500);
  t.equal(retryAfter(() => limiter.take('ann')), '1', 'whole seconds, rounded up, never 0');
  c.advance(500);
  t.equal(retryAfter(() => limiter.take('ann')), null, 'a slot freed');
  t.equal(retryAfter(() => limiter.take('ann')), '20');
  c.advance(60_000);
  for (let i = 0; i < 3; i++) t.equal(retryAfter(() => limiter.take('ann')), null, `after the window, submission ${i + 1}`);
  t.equal(retryAfter(() => limiter.take('ann')), '20');
});

t.test('submissions: a slot given back is free again, once', async (t) => {
  const c = clock();
  const limiter = new SubmissionLimiter({ perWindow: 2, now: c.now });
  limiter.take('ann');
  const release = limiter.take('ann');
  t.not(retryAfter(() => limiter.take('ann')), null, 'full');
  release();
  release();
  t.equal(retryAfter(() => limiter.take('ann')), null, 'the slot given back');
  t.not(retryAfter(() => limiter.take('ann')), null, 'given back once only');
  // Given back after the bucket refilled: nothing left to give back, and no more than the limit.
  const late = new SubmissionLimiter({ perWindow: 1, now: c.now });
  const r = late.take('bob');
  c.advance(120_000);
  r();
  t.equal(late.size, 0, 'a refilled key is forgotten');
  t.equal(retryAfter(() => late.take('bob')), null);
  t.not(retryAfter(() => late.take('bob')), null);
});

t.test('submissions: 0 is no limit', async (t) => {
  const limiter = new SubmissionLimiter({ perWindow: 0 });
  for (let i = 0; i < 1000; i++) limiter.take('ann');
  t.equal(limiter.size, 0, 'nothing is even remembered');
});

t.test('submissions: many keys stay within the bound', async (t) => {
  const c = clock();
  const limiter = new SubmissionLimiter({ perWindow: 5, maxKeys: 1000, now: c.now });
  for (let i = 0; i < 50_000; i++) limiter.take(`address:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  t.ok(limiter.size <= 1000, `${limiter.size} keys`);
  t.equal(new SubmissionLimiter({ perWindow: 5 }).size, 0);
});

t.test('logins: held back after the threshold, doubling to the cap, cleared by success', async (t) => {
  const c = clock();
  const logins = new LoginThrottle({ now: c.now });
  for (let i = 1; i <= 4; i++) t.equal(logins.failed('10.0.0.1'), 0, `failure ${i} costs nothing yet`);
  t.equal(retryAfter(() => logins.check('10.0.0.1')), null);
  t.equal(logins.failed('10.0.0.1'), 1000, 'the fifth: one second');
  t.equal(retryAfter(() => logins.check('10.0.0.1')), '1');
  t.equal(retryAfter(() => logins.check('10.0.0.2')), null, 'another address is not held back');
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    c.advance(60_000);
    t.equal(retryAfter(() => logins.check('10.0.0.1')), null, 'the wait is over');
    waits.push(logins.failed('10.0.0.1'));
  }
  t.same(waits, [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000], 'doubling, capped at a minute');
  t.equal(retryAfter(() => logins.check('10.0.0.1')), '60');
  c.advance(60_000);
  logins.succeeded('10.0.0.1');
  t.equal(logins.failed('10.0.0.1'), 0, 'a success starts the address afresh');
});

t.test('logins: an address quiet long enough starts afresh', async (t) => {
  const c = clock();
  const logins = new LoginThrottle({ now: c.now, forgetAfterMs: 10 * 60_000 });
  for (let i = 0; i < 5; i++) logins.failed('10.0.0.1');
  c.advance(10 * 60_000);
  t.equal(retryAfter(() => logins.check('10.0.0.1')), null);
  t.equal(logins.size, 0, 'forgotten when looked at');
  t.equal(logins.failed('10.0.0.1'), 0, 'counting from one again');
  for (let i = 0; i < 3; i++) logins.failed('10.0.0.9');
  c.advance(10 * 60_000);
  t.equal(logins.failed('10.0.0.9'), 0, 'old failures do not add up with new ones');
});

t.test('logins: many addresses stay within the bound', async (t) => {
  const logins = new LoginThrottle({ maxKeys: 500 });
  for (let i = 0; i < 20_000; i++) logins.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  t.ok(logins.size <= 500, `${logins.size} addresses`);
});

t.test('logins: counted by IPv4 address, or by IPv6 /64', async (t) => {
  const logins = new LoginThrottle({ threshold: 1 });
  logins.failed('2001:db8:1:2::1');
  t.not(retryAfter(() => logins.check('2001:db8:1:2:ffff::9')), null, 'the same /64');
  t.equal(retryAfter(() => logins.check('2001:db8:1:3::1')), null, 'another /64');
  logins.failed('::ffff:192.0.2.7');
  t.not(retryAfter(() => logins.check('192.0.2.7')), null, 'an IPv4-mapped address is its IPv4');
  t.equal(retryAfter(() => logins.check('192.0.2.8')), null);
});

t.test('address keys', async (t) => {
  t.equal(addressKey('192.0.2.1'), '192.0.2.1');
  t.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(addressKey('2001:0db8:0001:0002:0003:0004:0005:0006'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
  t.equal(addressKey('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
  t.equal(addressKey('2001:db8:1:2:3::192.0.2.1'), '2001:db8:1:2::/64');
  t.equal(addressKey('not an address'), 'not an address', 'whatever else the socket says, as it is');
});
