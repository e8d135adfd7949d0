import t from 'tap';
import { WesError } from '../../src/util/errors.js';
import { decodePageToken, encodePageToken } from '../../src/util/page-token.js';

function refused(t: Tap, token: string, kind: string, label: string): string {
  try {
    decodePageToken(kind, token);
    t.fail(`${label}: accepted`);
    return '';
  } catch (err) {
    t.ok(err instanceof WesError, `${label}: a WesError`);
    t.equal((err as WesError).statusCode, 400, `${label}: 400`);
    return (err as Error).message;
  }
}
type Tap = Pick<typeof t, 'ok' | 'equal' | 'fail'>;

t.test('page tokens are opaque and carry their cursor', async (t) => {
  const token = encodePageToken('runs', 3);
  t.match(token, /^[A-Za-z0-9_-]+$/, 'URL-safe');
  t.notMatch(token, /^\d+$/, 'not a bare number');
  t.equal(decodePageToken('runs', token), 3);
  t.equal(decodePageToken('runs:abc', encodePageToken('runs:abc', 0)), 0);
});

t.test('anything this server did not make is refused', async (t) => {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const bad: Record<string, string> = {
    garbage: 'not-a-token',
    'invalid characters': 'abc$%^',
    'plain number': '3',
    'base64 of non-JSON': Buffer.from('hello').toString('base64url'),
    'JSON null': b64(null),
    'JSON array': b64([1]),
    'negative cursor': b64({ k: 'runs', c: -1 }),
    'fractional cursor': b64({ k: 'runs', c: 1.5 }),
    'string cursor': b64({ k: 'runs', c: '2' }),
    'huge cursor': b64({ k: 'runs', c: 1e300 }),
    'missing kind': b64({ c: 2 }),
    'very long': 'A'.repeat(5000),
    'padded base64': `${b64({ k: 'runs', c: 22 })}=`,
  };
  for (const [label, value] of Object.entries(bad)) t.match(refused(t, value, 'runs', label), /^Invalid page_token/, `${label}: said so`);
});

t.test("another listing's token is refused, saying so", async (t) => {
  const others: Record<string, string> = {
    "a run's task listing": encodePageToken('tasks:run-0123456789abcdef0123456789abcdef', 2),
    'task token': encodePageToken('tasks', 2),
    'a filtered run listing': encodePageToken('runs:0123456789abcdef', 2),
  };
  for (const [label, value] of Object.entries(others)) t.match(refused(t, value, 'runs', label), /belongs to another listing/, label);
  t.match(refused(t, encodePageToken('runs', 2), 'runs:0123456789abcdef', 'the plain listing'), /belongs to another listing/);
});
