import t from 'tap';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../src/util/young-generation.ts')).href;

/**
 * In a fresh Node (this one's heap has grown already, loading the tests):
 * the new space's size before, after a burst inside withYoungGenerationHeld,
 * and after the same burst outside it. A burst: batches of small objects
 * that each survive a scavenge or two, as reading a big index does.
 */
function sizes(nodeArgs: string[] = []): { before: number; held: number; after: number } {
  const script = `
    import v8 from 'node:v8';
    import { withYoungGenerationHeld } from ${JSON.stringify(MODULE)};
    const mib = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    const burst = () => { let kept = 0; for (let r = 0; r < 25; r++) { const b = []; for (let i = 0; i < 100000; i++) b.push({ n: 'run-' + i }); kept += b.length; } return kept; };
    const before = mib();
    await withYoungGenerationHeld(async () => burst());
    const held = mib();
    burst();
    console.log(JSON.stringify({ before, held, after: mib() }));
  `;
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; held: number; after: number };
}

t.test('the young generation keeps its size through the burst, and grows again afterwards', async (t) => {
  const { before, held, after } = sizes();
  t.ok(held <= before * 2, `held: ${before} MiB before the burst, ${held} MiB after`);
  t.ok(after >= held * 4, `grows again once let go: ${held} → ${after} MiB`);
});

t.test('a growth factor chosen on Node\'s command line is left alone', async (t) => {
  const { before, held } = sizes(['--semi-space-growth-factor=2']);
  t.ok(held >= before * 4, `grows as chosen: ${before} → ${held} MiB`);
});

t.test('what fn throws comes back', async (t) => {
  const { withYoungGenerationHeld } = await import('../../src/util/young-generation.js');
  await t.rejects(withYoungGenerationHeld(async () => { throw new Error('boom'); }), /boom/);
});
