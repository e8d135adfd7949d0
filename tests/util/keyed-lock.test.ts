import t from 'tap';
import { KeyedLock } from '../../src/util/keyed-lock.js';

t.test('same key runs one at a time, in arrival order; other keys run alongside', async (t) => {
  const lock = new KeyedLock();
  const events: string[] = [];
  let inside = 0;
  let most = 0;
  const job = (key: string, name: string, ms: number) =>
    lock.run(key, async () => {
      inside++;
      most = Math.max(most, inside);
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      inside--;
      return name;
    });
  const results = await Promise.all([job('a', 'a1', 30), job('a', 'a2', 5), job('a', 'a3', 1), job('b', 'b1', 10)]);
  t.same(results, ['a1', 'a2', 'a3', 'b1']);
  const a = events.filter((e) => e.includes(' a'));
  t.same(a, ['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
  t.equal(most, 2, 'a and b overlapped');
});

t.test('a failing holder releases the lock', async (t) => {
  const lock = new KeyedLock();
  await t.rejects(lock.run('k', async () => { throw new Error('boom'); }), /boom/);
  t.equal(await lock.run('k', async () => 'next'), 'next');
});
