import t from 'tap';

import { wesTime } from '../../src/util/time.js';

t.test('formats UTC without milliseconds', async (t) => {
  t.equal(wesTime(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))), '2024-01-02T03:04:05Z');
  t.equal(wesTime(new Date(0)), '1970-01-01T00:00:00Z');
});

t.test('truncates instead of rounding', async (t) => {
  t.equal(wesTime(new Date(Date.UTC(2023, 11, 31, 23, 59, 59, 999))), '2023-12-31T23:59:59Z');
});

t.test('ignores the local time zone', async (t) => {
  const d = new Date('2024-06-01T12:00:00+05:30');
  t.equal(wesTime(d), '2024-06-01T06:30:00Z');
});

t.test('matches the WES shape', async (t) => {
  t.match(wesTime(new Date()), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
});

t.test('rejects an invalid date', async (t) => {
  t.throws(() => wesTime(new Date(Number.NaN)), RangeError);
});
