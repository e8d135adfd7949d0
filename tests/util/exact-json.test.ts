import t from 'tap';
import { parseExact, stringifyExact } from '../../src/util/exact-json.js';

t.test('numbers come back as they were written', async (t) => {
  const text = '{"big": 4200000000000000000000000000000000000000000, "neg": -12345678901234567890, "f": 1.10, "e": 1E5, "ok": 7, "pi": 3.14, "s": "4200000000000000000000000000000000000000000", "nested": [{"x": 9007199254740993}]}';
  const value = parseExact(text) as Record<string, unknown>;
  t.equal(value.ok, 7, 'numbers a double holds stay numbers');
  t.equal(value.pi, 3.14);
  t.equal(value.s, '4200000000000000000000000000000000000000000', 'strings stay strings');
  t.equal(stringifyExact(value), '{"big":4200000000000000000000000000000000000000000,"neg":-12345678901234567890,"f":1.10,"e":1E5,"ok":7,"pi":3.14,"s":"4200000000000000000000000000000000000000000","nested":[{"x":9007199254740993}]}');
  t.equal(JSON.parse(stringifyExact(value, 2)).ok, 7, 'indented output is JSON too');
});

t.test('strings that look like numbers, escapes and quotes are left alone', async (t) => {
  const text = String.raw`{"a": "say \"12345678901234567890\" \\", "b": ["-1.0e10", 12345678901234567890]}`;
  t.equal(stringifyExact(parseExact(text)), String.raw`{"a":"say \"12345678901234567890\" \\","b":["-1.0e10",12345678901234567890]}`);
});

t.test('a string that merely imitates the marker is not turned into a number', async (t) => {
  const text = JSON.stringify({ a: '\u0000deadbeef0000:123', b: 12345678901234567890 }).replace('12345678901234567000', '12345678901234567890');
  const back = JSON.parse(stringifyExact(parseExact(text))) as { a: unknown };
  t.equal(back.a, '\u0000deadbeef0000:123');
});

t.test('bad JSON throws as JSON.parse does', async (t) => {
  t.throws(() => parseExact('{"a": 1'), SyntaxError);
  t.throws(() => parseExact('{"a": 01}'), SyntaxError);
  t.throws(() => parseExact('{"a": -}'), SyntaxError);
});
