import t from 'tap';
import { lowerBound, SeqList, walkMerged } from '../../src/runs/seq-list.js';

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const item = (seq: number): { seq: number } => ({ seq });

t.test('lowerBound finds the first item at or above a number', async (t) => {
  const list = [1, 3, 3, 7, 20].map(item);
  t.same([0, 1, 2, 3, 4, 7, 8, 20, 21].map((n) => lowerBound(list, n)), [0, 0, 1, 1, 3, 3, 4, 4, 5]);
  t.equal(lowerBound([], 5), 0);
});

t.test('a SeqList reads in order however its items arrive', async (t) => {
  const rnd = random(7);
  for (const n of [0, 1, 5, 63, 64, 65, 500]) {
    for (const shape of ['in order', 'reversed', 'shuffled', 'nearly in order']) {
      const seqs = Array.from({ length: n }, (_, i) => i * 2 + 1);
      if (shape === 'reversed') seqs.reverse();
      if (shape === 'shuffled') seqs.sort(() => rnd() - 0.5);
      if (shape === 'nearly in order') for (let i = 1; i < seqs.length; i += 7) [seqs[i - 1], seqs[i]] = [seqs[i]!, seqs[i - 1]!];
      const list = new SeqList<{ seq: number }>();
      // Read now and then while items arrive, as listings do between runs ending.
      seqs.forEach((s, i) => {
        list.add(item(s));
        if (i % 50 === 49) list.sorted();
      });
      t.equal(list.size, n);
      t.same(list.sorted().map((x) => x.seq), [...seqs].sort((a, b) => a - b), `${n} items ${shape}`);
    }
  }
  const list = new SeqList<{ seq: number }>();
  list.add(item(3));
  list.add(item(1));
  list.clear();
  t.equal(list.size, 0);
  list.add(item(2));
  t.same(list.sorted().map((x) => x.seq), [2], 'cleared, then used again');
});

t.test('walkMerged visits several lists as one, either way, from any cursor', async (t) => {
  const rnd = random(42);
  for (let round = 0; round < 200; round++) {
    // Up to 5 disjoint lists of sequence numbers up to 60, some empty.
    const count = 1 + Math.floor(rnd() * 5);
    const lists: { seq: number }[][] = Array.from({ length: count }, () => []);
    for (let seq = 1; seq <= 60; seq++) if (rnd() < 0.6) lists[Math.floor(rnd() * count)]!.push(item(seq));
    const all = lists.flat().map((x) => x.seq).sort((a, b) => a - b);
    const ascending = rnd() < 0.5;
    const after = rnd() < 0.2 ? undefined : Math.floor(rnd() * 63);
    const limit = 1 + Math.floor(rnd() * 70);
    const expected = (ascending ? all.filter((s) => after === undefined || s > after) : all.filter((s) => after === undefined || s < after).reverse()).slice(0, limit);
    const seen: number[] = [];
    walkMerged(lists, ascending, after, (x) => {
      seen.push(x.seq);
      return seen.length < limit;
    });
    if (!t.same(seen, expected, `round ${round}`)) break;
  }
  let calls = 0;
  walkMerged([[], []], false, undefined, () => ++calls > 0);
  t.equal(calls, 0, 'empty lists: nothing visited');
});
