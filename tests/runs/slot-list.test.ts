import t from 'tap';
import { SlotList, walkSlots } from '../../src/runs/slot-list.js';

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

t.test('a SlotList reads in order however its slots arrive, and as they leave', async (t) => {
  const rnd = random(7);
  for (const n of [0, 1, 5, 63, 64, 65, 500]) {
    for (const shape of ['in order', 'reversed', 'shuffled', 'nearly in order']) {
      const slots = Array.from({ length: n }, (_, i) => i * 2 + 1);
      if (shape === 'reversed') slots.reverse();
      if (shape === 'shuffled') slots.sort(() => rnd() - 0.5);
      if (shape === 'nearly in order') for (let i = 1; i < slots.length; i += 7) [slots[i - 1], slots[i]] = [slots[i]!, slots[i - 1]!];
      const list = new SlotList();
      // Read now and then while slots arrive, as listings do between runs ending.
      slots.forEach((s, i) => {
        list.push(s);
        if (i % 50 === 49) list.sorted();
      });
      t.equal(list.length, n);
      const sorted = [...slots].sort((a, b) => a - b);
      t.same([...list.sorted()], sorted, `${n} slots ${shape}`);
      // Take out every third, then read again.
      const gone = new Set(sorted.filter((_, i) => i % 3 === 0));
      for (const s of gone) list.remove(s);
      t.equal(list.length, n - gone.size);
      t.same([...list.sorted()], sorted.filter((s) => !gone.has(s)), `${n} slots ${shape}, a third removed`);
    }
  }
  const list = new SlotList();
  list.push(3);
  list.push(1);
  list.clear();
  t.equal(list.length, 0);
  list.push(2);
  t.same([...list.sorted()], [2], 'cleared, then used again');
  const big = new SlotList();
  for (let i = 0; i < 10_000; i++) big.push(i);
  for (let i = 0; i < 9_990; i++) big.remove(i);
  t.same([...big.sorted()], [9990, 9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999], 'a list emptied down to a few keeps the right ones');
});

t.test('walkSlots visits several lists as one, either way, from any boundary', async (t) => {
  const rnd = random(42);
  for (let round = 0; round < 200; round++) {
    // Up to 5 disjoint lists of slots below 60, some empty.
    const count = 1 + Math.floor(rnd() * 5);
    const lists: number[][] = Array.from({ length: count }, () => []);
    for (let slot = 0; slot < 60; slot++) if (rnd() < 0.6) lists[Math.floor(rnd() * count)]!.push(slot);
    const all = lists.flat().sort((a, b) => a - b);
    const ascending = rnd() < 0.5;
    const from = Math.floor(rnd() * 62);
    const limit = 1 + Math.floor(rnd() * 70);
    const expected = (ascending ? all.filter((s) => s >= from) : all.filter((s) => s < from).reverse()).slice(0, limit);
    const seen: number[] = [];
    walkSlots(
      lists.map((l) => Int32Array.from(l)),
      ascending,
      from,
      (slot) => {
        seen.push(slot);
        return seen.length < limit;
      },
    );
    if (!t.same(seen, expected, `round ${round}`)) break;
  }
  let calls = 0;
  walkSlots([new Int32Array(0), []], false, 10, () => ++calls > 0);
  t.equal(calls, 0, 'empty lists: nothing visited');
});
