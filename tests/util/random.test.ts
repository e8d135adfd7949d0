import t from 'tap';
import { randomBase64url, randomHex } from '../../src/util/random.js';

/** The pooled random names: the right length and alphabet, and never the same twice, across refills of the pool. */
t.test('random hex: length, alphabet, no repeats across many refills of the pool', async (t) => {
  const seen = new Set<string>();
  // 16 bytes at a time: 256 to a pool of 4 KiB, so this spans about 80 refills, with odd sizes in between to cross pool ends mid-way.
  for (let i = 0; i < 20_000; i++) {
    const id = randomHex(16);
    if (!/^[0-9a-f]{32}$/.test(id)) t.fail(`not 32 hex digits: ${id}`);
    seen.add(id);
    const odd = randomHex(7);
    if (!/^[0-9a-f]{14}$/.test(odd)) t.fail(`not 14 hex digits: ${odd}`);
  }
  t.equal(seen.size, 20_000, 'every run-id-sized value differs');
});

t.test('random hex: bigger than the pool, and every byte value turns up', async (t) => {
  const big = randomHex(10_000);
  t.match(big, /^[0-9a-f]{20000}$/);
  const bytes = new Set<string>();
  for (let i = 0; i < big.length; i += 2) bytes.add(big.slice(i, i + 2));
  t.equal(bytes.size, 256, 'all 256 byte values in 10,000 bytes');
});

t.test('random base64url', async (t) => {
  const a = randomBase64url(9);
  t.match(a, /^[A-Za-z0-9_-]{12}$/);
  t.not(a, randomBase64url(9));
});
