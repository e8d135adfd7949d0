import t from 'tap';
import { RunIds } from '../../src/runs/run-ids.js';

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

t.test('RunIds finds what a Map finds, through adds and deletions', async (t) => {
  const rnd = random(5);
  // Ids alike but in their last digits (as numbered ones are), and random ones.
  const numbered = (i: number): string => `run-b0b0${i.toString(16).padStart(28, '0')}`;
  const randomId = (): string => `run-${Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('')}`;
  const ids = new RunIds();
  const model = new Map<string, number>();
  let slot = 0;
  for (let step = 0; step < 20_000; step++) {
    const r = rnd();
    if (r < 0.6 || model.size === 0) {
      const id = step % 2 ? numbered(step) : randomId();
      t.equal(ids.set(id, slot), true);
      model.set(id, slot++);
    } else {
      const keys = [...model.keys()];
      const id = keys[Math.floor(rnd() * keys.length)]!;
      ids.delete(id);
      model.delete(id);
    }
    if (step % 997 === 0 || step === 19_999) {
      for (const [id, s] of model) if (ids.get(id) !== s) return t.fail(`${id} should be in slot ${s}, found ${ids.get(id)}`);
      t.equal(ids.size, model.size, `step ${step}: as many`);
    }
  }
  ids.reserveTable(50_000);
  for (const [id, s] of model) if (ids.get(id) !== s) return t.fail(`after making room: ${id} should be in slot ${s}`);
  t.equal(ids.size, model.size, 'making room keeps every id');
  t.equal(ids.get(numbered(1_000_000)), undefined, 'an id never added is not found');
  t.equal(ids.has('run-xyz'), false, 'nor is something that is no run id');
  t.equal(ids.set('RUN-0000', slot), false, 'which is not taken in');
  const some = [...model][0]!;
  t.equal(ids.idOf(some[1]), some[0], 'an id comes back from its slot as it was');
});
