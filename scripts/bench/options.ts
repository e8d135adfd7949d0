/** The command line of `npm run bench` (documented in the header of scripts/bench.ts). */
import { parseArgs } from 'node:util';

export const SECTIONS = ['api', 'auth', 'listing', 'submit', 'download', 'engine', 'slurm'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  help: boolean;
  only: Set<Section>;
  /** Work-folder sizes of the listing section, ascending. */
  sizes: number[];
  cacheDir: string | undefined;
  keep: boolean;
  connections: number;
  duration: number;
  warmup: number;
  rounds: number;
  engineRuns: number;
  cpuProf: string | undefined;
  server: 'bundle' | 'build' | 'tsx';
  json: string | undefined;
}

/** Parses and checks the bench's arguments; throws on an unknown section or server. */
export function parseOptions(args: string[] = process.argv.slice(2)): BenchOptions {
  const { values: argv } = parseArgs({
    args,
    options: {
      only: { type: 'string' },
      sizes: { type: 'string', default: '1000,10000,100000' },
      'cache-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      connections: { type: 'string', default: '10' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      'engine-runs': { type: 'string', default: '5' },
      'cpu-prof': { type: 'string' },
      server: { type: 'string', default: 'bundle' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const only = new Set<Section>(argv.only ? (argv.only.split(',') as Section[]) : SECTIONS);
  if (!argv.help) {
    for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section '${s}' (${SECTIONS.join(', ')})`);
    if (!['bundle', 'build', 'tsx'].includes(argv.server)) throw new Error('--server is bundle, build or tsx');
  }
  return {
    help: argv.help,
    only,
    sizes: argv.sizes.split(',').map(Number).filter((n) => n > 0).sort((a, b) => a - b),
    cacheDir: argv['cache-dir'],
    keep: argv.keep,
    connections: Number(argv.connections),
    duration: Number(argv.duration),
    warmup: Number(argv.warmup),
    rounds: Number(argv.rounds),
    engineRuns: Number(argv['engine-runs']),
    cpuProf: argv['cpu-prof'],
    server: argv.server as 'bundle' | 'build' | 'tsx',
    json: argv.json,
  };
}
