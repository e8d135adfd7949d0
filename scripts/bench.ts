/**
 * `npm run bench`: measures Ferry against its physical limits, side by side in
 * one run, and prints one table: metric | Ferry | baseline | ratio | target | ok.
 * Exits 1 when a target is missed, 2 when the benchmark itself failed, else 0.
 *
 *   npm run bench                                  everything (the 100k folder takes minutes to make)
 *   npm run bench -- --only api,engine             some sections: api, auth, listing, submit, download, engine, slurm
 *   npm run bench -- --sizes 1000,10000            other work-folder sizes for the listing section
 *   npm run bench -- --cache-dir /var/tmp/fb       keep the generated work folders there and reuse them
 *   npm run bench -- --cpu-prof DIR                Ferry servers write V8 CPU profiles into DIR
 *   npm run bench -- --server tsx                  run Ferry through tsx (src/cli.ts) instead of the one-file build
 *   npm run bench -- --server build                run the compiled files (src/cli.js) instead of the one-file build
 *   also: --rounds N (3), --connections N (10), --duration S (5), --warmup S (1), --engine-runs N (5),
 *         --json FILE (rows and raw samples), --keep (leave the temp folder for inspection);
 *         --engine-runs is also the number of rounds of the slurm section
 *
 * Needs cwltool, toil-cwl-runner, curl (the upload and download client), cp, sync,
 * zip and unzip on PATH. The slurm section (submission → engine start through Slurm
 * against the local executor; informative, no target) holds the one-node cluster of
 * scripts/slurm-cluster.sh for the bench's process (starting it if it is down, as
 * root or through sudo, which may install Debian's slurm-wlm) and releases it at
 * the end; without root or sudo it is skipped, with a note.
 *
 * Ferry runs as real server processes: by default `node <build>/ferry.mjs
 * serve …`, where <build> is a private `tsc` output (under
 * node_modules/.cache, so a concurrent `npm run build` or `make clean` cannot
 * pull it away mid-run) bundled into one file as `npm run build` makes
 * dist/ferry.mjs, what `make serve` runs; with `--log-level warn`. Load comes from other
 * processes (autocannon in a child process). The baselines run in the same
 * run, on the same machine, interleaved with Ferry's measurements; ratios are
 * what the targets check, except where the target itself is absolute.
 *
 * Everything it starts (servers, run supervisors, engines, load generators)
 * carries a marker or lives in its temp folder, and is ended at the end, as is
 * the temp folder, whatever happens; so are the Slurm jobs of its runs, and its
 * hold on the cluster.
 *
 * The parts live in scripts/bench/: options.ts, context.ts (shared state and
 * cleanup), ferry-process.ts (build, start, stop), client.ts, one
 * section-*.ts per section; load.ts, ceiling.ts and gen-runs.ts run as child
 * processes.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { cleanup, createContext, log, type BenchContext } from './bench/context.js';
import { build } from './bench/ferry-process.js';
import { renderTable } from './bench/lib.js';
import { parseOptions, type Section } from './bench/options.js';
import { sectionApi } from './bench/section-api.js';
import { sectionAuth } from './bench/section-auth.js';
import { sectionDownload } from './bench/section-download.js';
import { sectionEngine } from './bench/section-engine.js';
import { sectionListing } from './bench/section-listing.js';
import { sectionSlurm } from './bench/section-slurm.js';
import { sectionSubmit } from './bench/section-submit.js';

const opts = parseOptions();
if (opts.help) {
  const doc = (await fs.readFile(fileURLToPath(import.meta.url), 'utf8')).split('*/')[0]!;
  console.log(doc.replace(/^\/\*\*\n?|^ \* ?/gm, ''));
  process.exit(0);
}

const ctx = await createContext(opts);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup(ctx).finally(() => process.exit(130));
  });
}

async function main(ctx: BenchContext): Promise<void> {
  log(`temp folder ${ctx.tmpRoot}; building into ${ctx.buildDir}`);
  await build(ctx);
  ctx.notes.push(
    `Ferry: ${{ tsx: 'node --import tsx src/cli.ts serve', build: 'node <private tsc output>/src/cli.js serve', bundle: 'node <private tsc output, bundled as npm run build bundles dist/ferry.mjs>/ferry.mjs serve' }[ctx.opts.server]} --log-level warn; ` +
      `machine: ${os.availableParallelism()} cores, node ${process.version}`,
  );
  // The machine is shared: say how busy it was around each section (1-minute load average).
  const sections: [Section, (ctx: BenchContext) => Promise<void>][] = [['api', sectionApi], ['auth', sectionAuth], ['submit', sectionSubmit], ['download', sectionDownload], ['engine', sectionEngine], ['slurm', sectionSlurm], ['listing', sectionListing]];
  const loads: string[] = [];
  for (const [name, fn] of sections) {
    if (!ctx.opts.only.has(name)) continue;
    const before = os.loadavg()[0]!;
    await fn(ctx);
    loads.push(`${name} ${before.toFixed(1)}→${os.loadavg()[0]!.toFixed(1)}`);
  }
  ctx.notes.push(`load average (1 min) before→after each section, on ${os.availableParallelism()} cores: ${loads.join(', ')}`);
}

let code = 2;
try {
  await main(ctx);
  console.log(renderTable(ctx.rows));
  for (const n of ctx.notes) console.log(`- ${n}`);
  const missed = ctx.rows.filter((r) => r.ok === false);
  console.log(missed.length ? `\n${missed.length} target(s) missed: ${missed.map((r) => r.metric).join('; ')}` : '\nall targets met');
  if (ctx.opts.json) await fs.writeFile(ctx.opts.json, JSON.stringify({ rows: ctx.rows, notes: ctx.notes, raw: ctx.raw }, null, 2));
  code = missed.length ? 1 : 0;
} catch (err) {
  if (ctx.rows.length) console.log(renderTable(ctx.rows));
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 2;
} finally {
  await cleanup(ctx);
}
process.exit(code);
