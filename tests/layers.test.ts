import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * The shape of the house, checked on every run: src/ is in layers that
 * import only downward (api → backend → tasks → engines → runs → util,
 * config beside util), files import each other in no circle, and no file
 * grows past 400 lines.
 */

const srcDir = fileURLToPath(new URL('../src/', import.meta.url));

/** Rank of each layer: a file may import only from its own layer or lower ones. */
const LAYERS: Record<string, number> = { util: 0, config: 0, client: 0, 'threadpool.ts': 0, runs: 1, engines: 2, tasks: 3, backend: 4, api: 5 };
/** The files at the top that assemble and start the server may import anything. */
const TOP = 6;

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out.sort();
}

function layerOf(file: string): { name: string; rank: number } {
  const first = path.relative(srcDir, file).split(path.sep)[0]!;
  const rank = LAYERS[first];
  return rank === undefined ? { name: first, rank: TOP } : { name: first, rank };
}

/** The src/ files a file imports (relative specifiers, `.js` written for `.ts`). */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?(?:from\s*)?'(\.{1,2}\/[^']+)'/g)) {
    const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (target.startsWith(srcDir)) out.push(target);
  }
  return out;
}

const files = await sourceFiles(srcDir);
const texts = new Map(await Promise.all(files.map(async (f) => [f, await fs.readFile(f, 'utf8')] as const)));
const graph = new Map(files.map((f) => [f, importsOf(f, texts.get(f)!)]));

t.test('the import graph is read', async (t) => {
  t.ok(files.length > 40, `${files.length} source files`);
  const edges = [...graph.values()].reduce((n, targets) => n + targets.length, 0);
  t.ok(edges > 100, `${edges} imports between them`);
  for (const [file, targets] of graph) {
    for (const target of targets) t.ok(texts.has(target), `${path.relative(srcDir, file)} imports a file that exists: ${path.relative(srcDir, target)}`);
  }
});

t.test('layers import only downward', async (t) => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to.rank > from.rank) upward.push(`${path.relative(srcDir, file)} (${from.name}) → ${path.relative(srcDir, target)} (${to.name})`);
    }
  }
  t.same(upward, [], 'no import runs from a lower layer to a higher one');
});

t.test('no file imports itself through others', async (t) => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...trail.slice(trail.indexOf(target)), target].map((f) => path.relative(srcDir, f)).join(' → '));
      else if (!state.has(target)) visit(target, [...trail, target]);
    }
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file, [file]);
  t.same(cycles, [], 'no circle of imports');
});

t.test('no source file is over 400 lines', async (t) => {
  const long = files.filter((f) => texts.get(f)!.split('\n').length - 1 > 400).map((f) => path.relative(srcDir, f));
  t.same(long, []);
});

t.test('nothing below api knows HTTP', async (t) => {
  const http = files.filter((f) => layerOf(f).rank < LAYERS.api! && /from '(fastify|@fastify\/[^']+|openapi-backend)'/.test(texts.get(f)!));
  t.same(http.map((f) => path.relative(srcDir, f)), [], 'no Fastify or openapi-backend import below api/');
});
