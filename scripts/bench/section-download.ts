/**
 * Section "download": a run's outputs fetched back, from runs of real CWL tools on cwltool. One
 * 100 MiB output file whole (against cat of the same file, and bare Fastify sending it) and its
 * last MiB by range (against tail -c); outputs.zip of 1,000 and 10,000 small files and of the
 * 100 MiB one (against zip -0 of the same folder), with Ferry's memory while the archive streams.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { localOutput, submit, waitState } from './client.js';
import { fixture, log, type BenchContext } from './context.js';
import { startCeiling, startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { getJson, median, rssMiB, run } from './lib.js';

const MiB = 1024 * 1024;
const BIG = 100 * MiB;
const SMALL = 16 * 1024;
const COUNTS = [1000, 10000] as const;
/** Bound on the server's RSS growth while outputs.zip streams (see the note pushed below). */
const ZIP_GROWTH_MIB = 32;

interface Fetched {
  status: number;
  ms: number;
  bytes: number;
  /** The server's RSS just before the request and at its highest during it (sampled every 5 ms). */
  before: number;
  peak: number;
}

/**
 * GET through curl (a client of its own in another process, as the upload client of the submit
 * section), to `dest` (/dev/null unless told); samples the server's RSS meanwhile. `ms` is
 * curl's transfer time (connect to last byte).
 */
async function curlGet(f: { pid: number }, url: string, opts: { dest?: string; headers?: string[] } = {}): Promise<Fetched> {
  const before = rssMiB(f.pid);
  let peak = before;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(f.pid));
    } catch {
      // the server is gone; curl fails below
    }
  }, 5);
  try {
    const r = await run('curl', ['-sS', '-o', opts.dest ?? '/dev/null', '-w', '%{http_code} %{time_total} %{size_download}', ...(opts.headers ?? []).flatMap((h) => ['-H', h]), url]);
    peak = Math.max(peak, rssMiB(f.pid));
    const [status, seconds, bytes] = r.stdout.trim().split(' ').map(Number);
    if (r.code !== 0) throw new Error(`curl ${url} failed: ${r.stderr}`);
    return { status: status!, ms: seconds! * 1000, bytes: bytes!, before, peak };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * A command to its end, stdout to /dev/null, timed inside bash ($EPOCHREALTIME around it): the
 * command's own start is counted, as curl's connect is, but not this process's spawn of bash.
 */
async function timed(cmd: string[], cwd?: string): Promise<number> {
  const r = await run('bash', ['-c', 's=$EPOCHREALTIME; "$@" > /dev/null || exit; e=$EPOCHREALTIME; echo "$s $e"', 'bash', ...cmd], { cwd });
  if (r.code !== 0) throw new Error(`${cmd.join(' ')} exited ${r.code}: ${r.stderr}`);
  const [s, e] = r.stdout.trim().split(' ').map(Number);
  return (e! - s!) * 1000;
}

type Outputs = Record<string, { class: string; location: string; size?: number; checksum?: string }>;

interface Zipped {
  label: string;
  count: number;
  ferry: number[];
  zip: number[];
  bytes: number;
  growth: number[];
  before: number[];
  peak: number[];
  entries: number;
  tested: boolean;
}

/** Whole-file and ranged download of a big output, and outputs.zip of many small ones. */
export async function sectionDownload(ctx: BenchContext): Promise<void> {
  log('download: starting Ferry; one run writes a 100 MiB file, two write 1,000 and 10,000 files of 16 KiB');
  const f = await startFerry(ctx, 'download', path.join(ctx.tmpRoot, 'download'));
  const cwl = (name: string): { name: string; file: string } => ({ name: `${name}.cwl`, file: fixture('scripts/bench/fixtures', name, `${name}.cwl`) });
  const fields = (name: string, params: unknown): Record<string, string> => ({
    workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: `${name}.cwl`, workflow_engine: 'cwltool', workflow_params: JSON.stringify(params),
  });
  const bigRun = await submit(f, fields('big-output', { bytes: BIG }), [cwl('big-output')]);
  const manyRuns = new Map<number, string>();
  for (const count of COUNTS) manyRuns.set(count, await submit(f, fields('many-outputs', { count, size: SMALL }), [cwl('many-outputs')]));
  for (const id of [bigRun, ...manyRuns.values()]) await waitState(f, id, ['COMPLETE'], 200);
  // Every run log read now, before anything is measured (the one listing 10,000 files is itself a big answer).
  const outputs = new Map<string, Outputs>();
  for (const id of [bigRun, ...manyRuns.values()]) outputs.set(id, (await getJson<{ outputs: Outputs }>(`${f.base}/runs/${id}`)).outputs);
  const c = ctx.ceiling ? { root: ctx.ceiling.root, pid: ctx.ceiling.child.pid! } : await startCeiling(ctx, { status: {}, log: {} });

  // ---- one 100 MiB file: Ferry against cat of the same file in the run's folder (page cache)
  const big = outputs.get(bigRun)!.big!;
  const bigFile = localOutput(f, bigRun, big.location);
  if ((await fs.stat(bigFile)).size !== BIG) throw new Error(`${bigFile} is not ${BIG} bytes`);
  // Warm-up, not counted, that also checks the bytes: the download's SHA-1 is the one cwltool reported.
  const sha = await run('sh', ['-c', 'curl -sS "$1" | sha1sum', 'sh', big.location]);
  if (`sha1$${sha.stdout.split(' ')[0]}` !== big.checksum) throw new Error(`download of ${big.location}: sha1 ${sha.stdout.trim()}, cwltool said ${big.checksum}`);
  await timed(['cat', bigFile]);
  const bare = (chunkKiB: number): string => `${c.root}/file?path=${encodeURIComponent(bigFile)}&chunk=${chunkKiB}`;
  await curlGet(c, bare(64));
  const d = { ferry: [] as number[], cat: [] as number[], bare64: [] as number[], bare1024: [] as number[], range: [] as number[], tail: [] as number[], growth: [] as number[], before: [] as number[], peak: [] as number[] };
  const rounds = Math.max(5, ctx.opts.rounds);
  for (let k = 0; k < rounds; k++) {
    const steps: (() => Promise<void>)[] = [
      async () => {
        const r = await curlGet(f, big.location);
        if (r.status !== 200 || r.bytes !== BIG) throw new Error(`GET ${big.location}: ${r.status}, ${r.bytes} bytes`);
        d.ferry.push(r.ms);
        d.growth.push(r.peak - r.before);
        d.before.push(r.before);
        d.peak.push(r.peak);
      },
      async () => void d.cat.push(await timed(['cat', bigFile])),
      async () => void d.bare64.push((await curlGet(c, bare(64))).ms),
      async () => void d.bare1024.push((await curlGet(c, bare(1024))).ms),
      async () => {
        const r = await curlGet(f, big.location, { headers: [`Range: bytes=-${MiB}`] });
        if (r.status !== 206 || r.bytes !== MiB) throw new Error(`GET ${big.location} (last MiB): ${r.status}, ${r.bytes} bytes`);
        d.range.push(r.ms);
      },
      async () => void d.tail.push(await timed(['tail', '-c', String(MiB), bigFile])),
    ];
    for (let i = 0; i < steps.length; i++) await steps[(i + k) % steps.length]!();
    log(`download: round ${k + 1}: 100 MiB Ferry ${d.ferry[k]!.toFixed(1)} ms, cat ${d.cat[k]!.toFixed(1)} ms, bare Fastify ${d.bare64[k]!.toFixed(1)} ms (64 KiB reads), ${d.bare1024[k]!.toFixed(1)} ms (1 MiB reads); last MiB Ferry ${d.range[k]!.toFixed(2)} ms, tail -c ${d.tail[k]!.toFixed(2)} ms; Ferry RSS ${d.before[k]!.toFixed(0)} → peak ${d.peak[k]!.toFixed(0)} MiB`);
  }
  const ferryRate = 100 / (median(d.ferry) / 1000);
  const catRate = 100 / (median(d.cat) / 1000);
  ctx.rows.push({ metric: 'download one 100 MiB output, MiB/s (vs cat of the file)', ferry: ferryRate, baseline: catRate, unit: 'MiB/s', digits: 0, target: '≥ 0.50× cat', ok: ferryRate / catRate >= 0.5 });
  ctx.rows.push({ metric: '  same file from bare Fastify, 64 KiB reads (Node\'s default) (vs cat)', ferry: 100 / (median(d.bare64) / 1000), baseline: catRate, unit: 'MiB/s', digits: 0 });
  const bareRate = 100 / (median(d.bare1024) / 1000);
  ctx.rows.push({ metric: '  same file from bare Fastify, 1 MiB reads (vs cat)', ferry: bareRate, baseline: catRate, unit: 'MiB/s', digits: 0 });
  // What an HTTP server in Node reaches on this machine: Ferry's download against it.
  ctx.rows.push({ metric: '  Ferry\'s download vs bare Fastify sending the file in 1 MiB reads', ferry: ferryRate, baseline: bareRate, unit: 'MiB/s', digits: 0, target: '≥ 0.80×', ok: ferryRate / bareRate >= 0.8 });
  ctx.rows.push({ metric: '  its last MiB (Range: bytes=-1048576) vs tail -c, ms', ferry: median(d.range), baseline: median(d.tail), unit: 'ms', digits: 2 });
  ctx.rows.push({ metric: '  server RSS growth during the 100 MiB download (peak − before, max)', ferry: Math.max(...d.growth), unit: 'MiB', digits: 1 });

  // ---- outputs.zip: Ferry against zip -0 of the same folder, and Ferry's memory meanwhile. The
  // small files are the case; the run with the one 100 MiB file shows the rate of the zip path itself.
  const cases = [
    ...COUNTS.map((count) => ({ id: manyRuns.get(count)!, count, label: `${count.toLocaleString('en-US')} × 16 KiB files` })),
    { id: bigRun, count: 1, label: 'the one 100 MiB file' },
  ];
  const z: Zipped[] = [];
  for (const one of cases) {
    const outputsDir = path.join(f.workDir, one.id, 'outputs');
    if (one.count > 1 && (await fs.readdir(localOutput(f, one.id, outputs.get(one.id)!.files!.location))).length !== one.count) throw new Error(`run ${one.id} does not hold ${one.count} files`);
    const url = `${f.base}/runs/${one.id}/outputs.zip`;
    // Warm-up, not counted, that checks the archive: its entries listed and their CRCs tested by unzip.
    const zipFile = path.join(ctx.tmpRoot, `outputs-${one.count}.zip`);
    const w = await curlGet(f, url, { dest: zipFile });
    if (w.status !== 200) throw new Error(`GET ${url}: ${w.status}`);
    const list = await run('unzip', ['-l', zipFile]);
    const entries = Number(/(\d+) files?\s*$/.exec(list.stdout.trim())?.[1] ?? NaN);
    const test = await run('unzip', ['-tq', zipFile]);
    await fs.rm(zipFile);
    await timed(['zip', '-0rq', '-', '.'], outputsDir);
    const u: Zipped = { label: one.label, count: one.count, ferry: [], zip: [], bytes: w.bytes, growth: [], before: [], peak: [], entries, tested: test.code === 0 && /No errors detected/.test(test.stdout) };
    z.push(u);
    for (let k = 0; k < Math.max(3, ctx.opts.rounds); k++) {
      const steps: (() => Promise<void>)[] = [
        async () => {
          const r = await curlGet(f, url);
          if (r.status !== 200 || r.bytes !== u.bytes) throw new Error(`GET ${url}: ${r.status}, ${r.bytes} bytes (first time ${u.bytes})`);
          u.ferry.push(r.ms);
          u.growth.push(r.peak - r.before);
          u.before.push(r.before);
          u.peak.push(r.peak);
        },
        async () => void u.zip.push(await timed(['zip', '-0rq', '-', '.'], outputsDir)),
      ];
      for (let i = 0; i < steps.length; i++) await steps[(i + k) % steps.length]!();
      log(`download: outputs.zip of ${one.label} (${(u.bytes / MiB).toFixed(1)} MiB): Ferry ${u.ferry[k]!.toFixed(0)} ms, zip -0 ${u.zip[k]!.toFixed(0)} ms; Ferry RSS ${u.before[k]!.toFixed(0)} → peak ${u.peak[k]!.toFixed(0)} MiB`);
    }
  }
  ctx.raw.download = { file: d, zip: z };
  for (const u of z) {
    const mib = u.bytes / MiB;
    ctx.rows.push({ metric: `outputs.zip of ${u.label}, MiB/s (vs zip -0 of the folder)`, ferry: mib / (median(u.ferry) / 1000), baseline: mib / (median(u.zip) / 1000), unit: 'MiB/s', digits: 0 });
    ctx.rows.push({ metric: `  entries in it (unzip -l), CRCs ${u.tested ? 'OK' : 'WRONG'} (unzip -t)`, ferry: u.entries, baseline: u.count, unit: '', digits: 0, target: `= ${u.count.toLocaleString('en-US')}, unzip -t OK`, ok: u.entries === u.count && u.tested });
  }
  const [g1, g10, gBig] = z.map((u) => Math.max(...u.growth)) as [number, number, number];
  ctx.rows.push({
    metric: 'server RSS growth during outputs.zip (peak − before, max), 10,000 vs 1,000 files',
    ferry: g10, baseline: g1, unit: 'MiB', digits: 1, target: `both < ${ZIP_GROWTH_MIB} MiB`, ok: g10 < ZIP_GROWTH_MIB && g1 < ZIP_GROWTH_MIB,
  });
  const drift = z.map((u) => Math.max(...u.peak) - u.before[0]!);
  ctx.rows.push({ metric: '  same over its rounds (highest peak − before the first), 10,000 vs 1,000 files', ferry: drift[1]!, baseline: drift[0]!, unit: 'MiB', digits: 1 });
  ctx.rows.push({ metric: '  same during outputs.zip of the one 100 MiB file', ferry: gBig, unit: 'MiB', digits: 1 });
  ctx.notes.push(
    `download: Ferry = curl's transfer time (connect to last byte) into /dev/null; baselines on the run's own files, page cache warm, timed inside bash around the command, ` +
      `interleaved rounds, median. cat into /dev/null reads the page cache and writes nowhere; a download also copies every byte into a socket ` +
      `and out of it in another process (curl): the bare Fastify rows show how near Node's HTTP gets to cat on this machine. outputs.zip of 10,000 files is ${(z[1]!.bytes / MiB).toFixed(0)} MiB, 10× that of 1,000: memory that grew with the outputs would ` +
      `show it ~10× as much; the ${ZIP_GROWTH_MIB} MiB bound is a fifth of that archive and leaves room for read buffers, yazl's record of each entry ` +
      `(kept for the central directory, written last) and the collector's timing.`,
  );
  await stopFerry(ctx, f);
}
