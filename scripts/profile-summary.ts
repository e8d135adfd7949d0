/**
 * Summarises V8 CPU profiles (the `.cpuprofile` files `node --cpu-prof` and
 * `npm run bench -- --cpu-prof DIR` write): where the busy time went, by
 * function and by package (a dependency in node_modules, Node's own code, or
 * a file of Ferry's), as self time and as inclusive time (a function's own
 * time and that of everything it called, each sample counted once per
 * function however deep the recursion). Idle time is left out of the
 * percentages; garbage collection and "(program)" are kept, as they are paid.
 *
 *   npx tsx scripts/profile-summary.ts [--top N] [--under NAME] FILE_OR_DIR…
 *
 * `--under NAME` keeps only the samples whose stack holds a function of that
 * name (the request path is under `serve`, say); a folder stands for every
 * .cpuprofile in it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, Node's internals, a file of the project, or V8's pseudo-frames. */
function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const [first, second] = url.slice(modules + '/node_modules/'.length).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? url);
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? 'node:internal' : url;
  // The project's own files, from the folder holding src/ or scripts/ on (the bench's build lives in node_modules/.cache, handled above).
  const own = /\/((?:src|scripts|generated)\/.*)$/.exec(url.replace(/^file:\/\//, ''));
  return own ? own[1]! : url.replace(/^file:\/\//, '');
}

function frameKey(frame: CallFrame): string {
  const where = packageOf(frame.url, frame.functionName);
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

/** A project file under the bench's private build reads as the source file it came from. */
function cleanUrl(url: string): string {
  const build = /\/node_modules\/\.cache\/[^/]+\/(.*)$/.exec(url);
  return build ? `file:///${build[1]!.replace(/\.js$/, '.ts')}` : url;
}

interface Tally {
  busy: number;
  samples: number;
  selfByFunction: Map<string, number>;
  selfByPackage: Map<string, number>;
  totalByFunction: Map<string, number>;
  totalByPackage: Map<string, number>;
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

function tally(files: string[], under: string | undefined): Tally {
  const t: Tally = { busy: 0, samples: 0, selfByFunction: new Map(), selfByPackage: new Map(), totalByFunction: new Map(), totalByPackage: new Map() };
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map<number, ProfileNode>();
    const parent = new Map<number, number>();
    for (const node of profile.nodes) {
      node.callFrame.url = cleanUrl(node.callFrame.url);
      byId.set(node.id, node);
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    // A sample's time is the delta to the next sample (V8 stamps each sample with the time since the previous one).
    for (let i = 0; i < profile.samples.length; i++) {
      const leaf = byId.get(profile.samples[i]!)!;
      const us = profile.timeDeltas[i + 1] ?? 0;
      if (leaf.callFrame.functionName === '(idle)') continue;
      const stack: ProfileNode[] = [];
      for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!);
      if (under && !stack.some((n) => n.callFrame.functionName === under)) continue;
      t.busy += us;
      t.samples++;
      add(t.selfByFunction, frameKey(leaf.callFrame), us);
      add(t.selfByPackage, packageOf(leaf.callFrame.url, leaf.callFrame.functionName), us);
      const functions = new Set<string>();
      const packages = new Set<string>();
      for (const n of stack) {
        if (n.callFrame.functionName === '(root)') continue;
        functions.add(frameKey(n.callFrame));
        packages.add(packageOf(n.callFrame.url, n.callFrame.functionName));
      }
      for (const f of functions) add(t.totalByFunction, f, us);
      for (const p of packages) add(t.totalByPackage, p, us);
    }
  }
  return t;
}

function print(title: string, map: Map<string, number>, busy: number, top: number): void {
  console.log(`\n${title}`);
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) console.log(`${((100 * us) / busy).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let under: string | undefined;
  const inputs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--under') under = args[++i];
    else inputs.push(args[i]!);
  }
  if (inputs.length === 0) throw new Error('usage: profile-summary [--top N] [--under NAME] FILE_OR_DIR…');
  const files = inputs.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => path.join(p, f))
      : [p],
  );
  const t = tally(files, under);
  console.log(`${files.length} profile(s), ${t.samples} busy samples, ${(t.busy / 1000).toFixed(0)} ms busy${under ? ` under ${under}` : ''} (idle left out)`);
  print('Self time by package / file', t.selfByPackage, t.busy, top);
  print('Self time by function', t.selfByFunction, t.busy, top);
  print('Inclusive time by package / file', t.totalByPackage, t.busy, top);
  print('Inclusive time by function', t.totalByFunction, t.busy, top);
}

main();
