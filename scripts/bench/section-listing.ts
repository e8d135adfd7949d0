/**
 * Section "listing": Ferry with work folders of many finished runs (--sizes). Start-up time,
 * first and steady-state times of the first page, the last page and service-info, walking every
 * page, and memory, each size against the smallest or an empty folder.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RunIndex, runIndexFile } from '../../src/runs/run-index.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { childEnv, log, type BenchContext } from './context.js';
import { out, startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { getJson, median, request, rssMiB, run } from './lib.js';
import { benchRunId, benchTags } from './runs-common.js';

/** A work folder with `n` finished runs, made through Ferry's store code (cached). */
async function ensureRuns(ctx: BenchContext, n: number): Promise<string> {
  const cache = ctx.opts.cacheDir ? path.resolve(ctx.opts.cacheDir) : path.join(ctx.tmpRoot, 'cache');
  const workDir = path.join(cache, `runs-${n}`);
  const done = path.join(workDir, '.bench-complete');
  if (existsSync(done)) {
    log(`listing: reusing ${workDir}`);
    return workDir;
  }
  await fs.rm(workDir, { recursive: true, force: true });
  await fs.mkdir(workDir, { recursive: true });
  if (n === 0) {
    await fs.writeFile(done, '');
    return workDir;
  }
  const stateStore = path.join(workDir, 'state_store');
  const t0 = Date.now();
  log(`listing: generating ${n} runs in ${workDir}`);
  const store = new LocalStateStore(stateStore);
  // Opened before any run exists, so it rebuilds nothing; entries are added in submission order below.
  const index = await RunIndex.open(runIndexFile(stateStore), store);
  const workers = Math.max(1, os.availableParallelism());
  const per = Math.ceil(n / workers);
  // The index entries RunWorkflow appends, one RunIndex.add per run, from this one process (the index lock is global),
  // first: in Ferry a run is in the index before its supervisor starts.
  // Added a thousand at a time, as concurrent submissions are (one lock and one append per batch, in order).
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, k) => index.add(benchRunId(i + k), benchTags(i + k))));
  }
  const gens = Array.from({ length: workers }, (_, w) => {
    const from = w * per;
    const to = Math.min(n, from + per);
    return run(process.execPath, [out(ctx, 'scripts/bench/gen-runs.js'), workDir, stateStore, String(from), String(to), '32'], { env: childEnv(ctx) }).then((r) => {
      if (r.code !== 0) throw new Error(`generator failed: ${r.stderr}`);
    });
  });
  await Promise.all(gens);
  await run('sync', []);
  const ms = Date.now() - t0;
  ctx.rows.push({ metric: `make ${n} runs (store code, ${workers} procs)`, ferry: ms / 1000, unit: 's', digits: 1 });
  log(`listing: ${n} runs made in ${(ms / 1000).toFixed(1)} s`);
  await fs.writeFile(done, '');
  return workDir;
}

/** GET that must answer 200; returns the body and the time. */
async function timedGet(url: string): Promise<{ body: string; ms: number }> {
  const res = await request(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body.slice(0, 300)}`);
  return { body: res.body, ms: res.ms };
}

/**
 * Sequential keep-alive GETs, one URL per size, interleaved round-robin so every
 * size sees the same machine noise: up to 200 each, or fewer (at least 20) past 90 s.
 */
async function interleaved(urls: Map<number, string>): Promise<Map<number, number[]>> {
  const times = new Map<number, number[]>([...urls.keys()].map((n) => [n, []]));
  const t0 = Date.now();
  for (let i = 0; i < 200; i++) {
    for (const [n, url] of urls) times.get(n)!.push((await timedGet(url)).ms);
    if (Date.now() - t0 > 90_000 && i >= 19) break;
  }
  return times;
}

/** Listing and start-up at scale, one server per work-folder size, side by side. */
export async function sectionListing(ctx: BenchContext): Promise<void> {
  const { sizes } = ctx.opts;
  const all = [0, ...sizes];
  const dirs = new Map<number, string>();
  for (const n of all) dirs.set(n, await ensureRuns(ctx, n));
  const k = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

  // Start-up: 3 rounds, sizes interleaved; the last round's servers stay up for the rest.
  const startups = new Map<number, number[]>(all.map((n) => [n, []]));
  const live = new Map<number, Ferry>();
  for (let round = 0; round < 3; round++) {
    for (const n of all) {
      const prev = live.get(n);
      if (prev) await stopFerry(ctx, prev);
      const f = await startFerry(ctx, `list-${n}-${round}`, dirs.get(n)!);
      startups.get(n)!.push(f.startupMs);
      live.set(n, f);
    }
  }
  log(`listing: start-up ${all.map((n) => `@${k(n)} ${startups.get(n)!.map((x) => x.toFixed(0)).join('/')} ms`).join(', ')}`);
  const page1 = (n: number): string => `${live.get(n)!.base}/runs?page_size=100`;
  const info = (n: number): string => `${live.get(n)!.base}/service-info`;

  // First calls after start-up (nothing cached yet), checked for content.
  const cold = new Map<number, { page: number; info: number }>();
  for (const n of all) {
    const p = await timedGet(page1(n));
    const got = (JSON.parse(p.body) as { runs: unknown[] }).runs.length;
    if (got !== Math.min(100, n)) throw new Error(`first page @${n} has ${got} runs`);
    const i = await timedGet(info(n));
    const counts = (JSON.parse(i.body) as { system_state_counts: Record<string, number> }).system_state_counts;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total !== n) throw new Error(`service-info counts ${total} runs, expected ${n}`);
    cold.set(n, { page: p.ms, info: i.ms });
    log(`listing @${k(n)}: first page 1 ${p.ms.toFixed(0)} ms, first service-info ${i.ms.toFixed(0)} ms`);
  }

  const pageTimes = await interleaved(new Map(sizes.map((n) => [n, page1(n)])));
  const infoTimes = await interleaved(new Map(sizes.map((n) => [n, info(n)])));

  // Walk every page by token, as a client would; the last page is the deep one.
  const deepUrls = new Map<number, string>();
  const walks = new Map<number, { ms: number; pages: number }>();
  for (const n of sizes) {
    const t0 = Date.now();
    let token = '';
    let lastToken = '';
    let seen = 0;
    let pages = 0;
    do {
      const page = await getJson<{ runs: unknown[]; next_page_token: string }>(`${page1(n)}${token ? `&page_token=${token}` : ''}`);
      seen += page.runs.length;
      pages++;
      lastToken = token;
      token = page.next_page_token;
    } while (token);
    if (seen !== n) throw new Error(`walking the pages @${n} found ${seen} runs`);
    walks.set(n, { ms: Date.now() - t0, pages });
    deepUrls.set(n, `${page1(n)}&page_token=${lastToken}`);
  }
  const deepTimes = await interleaved(deepUrls);

  const rss = new Map<number, number>();
  for (const n of all) rss.set(n, rssMiB(live.get(n)!.pid));
  for (const f of live.values()) await stopFerry(ctx, f);
  ctx.raw.listing = { startups: Object.fromEntries(startups), cold: Object.fromEntries(cold), pageTimes: Object.fromEntries(pageTimes), infoTimes: Object.fromEntries(infoTimes), deepTimes: Object.fromEntries(deepTimes), walks: Object.fromEntries(walks), rss: Object.fromEntries(rss) };

  const base = sizes[0]!;
  const largest = sizes[sizes.length - 1]!;
  for (const [label, times] of [['GET /runs?page_size=100 page 1', pageTimes], ['GET /runs last page (by token)', deepTimes], ['GET /service-info', infoTimes]] as const) {
    const b = median(times.get(base)!);
    for (const n of sizes) {
      const p50 = median(times.get(n)!);
      const checked = n === largest && n !== base;
      ctx.rows.push({
        metric: `${label} p50 @${k(n)}`, ferry: p50, baseline: n === base ? undefined : b, unit: 'ms', digits: 2,
        target: checked ? `≤ 1.5× @${k(base)}, < 20 ms` : undefined, ok: checked ? p50 <= 1.5 * b && p50 < 20 : undefined,
      });
    }
  }
  for (const n of sizes) {
    ctx.rows.push({ metric: `GET /service-info, first call after start-up @${k(n)}`, ferry: cold.get(n)!.info, baseline: cold.get(0)!.info, unit: 'ms', digits: 0 });
  }
  for (const n of sizes) ctx.rows.push({ metric: `walk all ${walks.get(n)!.pages} pages by token @${k(n)}`, ferry: walks.get(n)!.ms, unit: 'ms', digits: 0 });
  const s0 = median(startups.get(0)!);
  for (const n of sizes) {
    const s = median(startups.get(n)!);
    ctx.rows.push({ metric: `start-up (spawn → 200 on /engine/v1/status) @${k(n)}`, ferry: s / 1000, baseline: s0 / 1000, unit: 's', digits: 2, target: n === largest ? '< 5 s' : undefined, ok: n === largest ? s < 5000 : undefined });
  }
  ctx.rows.push({ metric: `  of which grows with the runs (@${k(largest)} − empty)`, ferry: (median(startups.get(largest)!) - s0) / 1000, unit: 's', digits: 2 });
  for (const n of sizes) ctx.rows.push({ metric: `server RSS after the listing requests @${k(n)}`, ferry: rss.get(n)!, baseline: rss.get(0)!, unit: 'MiB', digits: 0, target: '< 300 MiB', ok: rss.get(n)! < 300 });
  ctx.notes.push(
    'listing: p50 baseline = the same requests on the smallest size, interleaved request by request with the other sizes (servers up side by side); ' +
      'start-up, RSS and first-call baselines = an empty work folder; start-up is the median of 3 (sizes interleaved)',
  );
}

