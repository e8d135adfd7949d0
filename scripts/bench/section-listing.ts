/**
 * Section "listing": Ferry with work folders of many finished runs (--sizes). Start-up time,
 * first and steady-state times of the first page, the last page and service-info, walking every
 * page, and memory, each size against the smallest or an empty folder. Also one user's pages
 * (first and last by token) from a server with bearer tokens over a folder of the largest size
 * whose runs are spread over OWNERS users, against the smallest size without authentication.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RunIndex, runIndexFile } from '../../src/runs/run-index.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { childEnv, log, type BenchContext } from './context.js';
import { out, settle, startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { getJson, median, request, rssMiB, run } from './lib.js';
import { benchOwner, benchOwnerRunIds, benchRunId, benchTags, benchUser } from './runs-common.js';

/** How many users the owned runs are spread over (round robin), and which of them lists. */
const OWNERS = 100;
const USER = 42;
const userToken = (j: number): string => `bench-listing-token-${j}`;

/**
 * A work folder with `n` finished runs, made through Ferry's store code (cached), spread over
 * `owners` users as submitted with authentication, or (0) without an owner. The cache key holds both.
 */
async function ensureRuns(ctx: BenchContext, n: number, owners = 0): Promise<string> {
  const cache = ctx.opts.cacheDir ? path.resolve(ctx.opts.cacheDir) : path.join(ctx.tmpRoot, 'cache');
  const workDir = path.join(cache, owners > 0 ? `runs-${n}-owners-${owners}` : `runs-${n}`);
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
  const spread = owners > 0 ? ` over ${owners} owners` : '';
  log(`listing: generating ${n} runs${spread} in ${workDir}`);
  const store = new LocalStateStore(stateStore);
  // Opened before any run exists, so it rebuilds nothing; entries are added in submission order below.
  const index = await RunIndex.open(runIndexFile(stateStore), store);
  const workers = Math.max(1, os.availableParallelism());
  const per = Math.ceil(n / workers);
  // The index entries RunWorkflow appends, one RunIndex.add per run with its owner, from this one process (the index lock is global),
  // first: in Ferry a run is in the index before its supervisor starts.
  // Added a thousand at a time, as concurrent submissions are (one lock and one append per batch, in order).
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, k) => index.add(benchRunId(i + k), benchTags(i + k), benchOwner(i + k, owners))));
  }
  const gens = Array.from({ length: workers }, (_, w) => {
    const from = w * per;
    const to = Math.min(n, from + per);
    return run(process.execPath, [out(ctx, 'scripts/bench/gen-runs.js'), workDir, stateStore, String(from), String(to), '32', String(owners)], { env: childEnv(ctx) }).then((r) => {
      if (r.code !== 0) throw new Error(`generator failed: ${r.stderr}`);
    });
  });
  await Promise.all(gens);
  await run('sync', []);
  const ms = Date.now() - t0;
  ctx.rows.push({ metric: `make ${n} runs${spread} (store code, ${workers} procs)`, ferry: ms / 1000, unit: 's', digits: 1 });
  log(`listing: ${n} runs${spread} made in ${(ms / 1000).toFixed(1)} s`);
  await fs.writeFile(done, '');
  return workDir;
}

/** A request to time: the URL and its headers (the owner's bearer token). */
interface Target {
  url: string;
  headers?: Record<string, string>;
}

/** GET that must answer 200; returns the body and the time. */
async function timedGet({ url, headers }: Target): Promise<{ body: string; ms: number }> {
  const res = await request(url, { headers });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body.slice(0, 300)}`);
  return { body: res.body, ms: res.ms };
}

/**
 * Sequential keep-alive GETs, one target per size (and the owner's), interleaved round-robin so
 * every one sees the same machine noise: up to 200 each, or fewer (at least 20) past 90 s.
 */
async function interleaved<K>(targets: Map<K, Target>): Promise<Map<K, number[]>> {
  const times = new Map<K, number[]>([...targets.keys()].map((n) => [n, []]));
  const t0 = Date.now();
  for (let i = 0; i < 200; i++) {
    for (const [n, target] of targets) times.get(n)!.push((await timedGet(target)).ms);
    if (Date.now() - t0 > 90_000 && i >= 19) break;
  }
  return times;
}

interface RunsPage {
  runs: { run_id: string }[];
  next_page_token: string;
}

/**
 * Walks every page of `first` by token, checking each run is one of `expected` and seen once,
 * and that all of them are; returns the pages' count and the token of the last page.
 */
async function walkChecked(first: Target, expected: ReadonlySet<string>, what: string): Promise<{ pages: number; lastToken: string; ms: number }> {
  const t0 = Date.now();
  const seen = new Set<string>();
  let token = '';
  let lastToken = '';
  let pages = 0;
  do {
    const page = JSON.parse((await timedGet({ ...first, url: `${first.url}${token ? `&page_token=${token}` : ''}` })).body) as RunsPage;
    for (const r of page.runs) {
      if (!expected.has(r.run_id)) throw new Error(`${what}: page ${pages + 1} lists ${r.run_id}, not one of this user's runs`);
      if (seen.has(r.run_id)) throw new Error(`${what}: ${r.run_id} listed twice`);
      seen.add(r.run_id);
    }
    pages++;
    lastToken = token;
    token = page.next_page_token;
  } while (token);
  if (seen.size !== expected.size) throw new Error(`${what}: walking the pages found ${seen.size} runs, expected ${expected.size}`);
  return { pages, lastToken, ms: Date.now() - t0 };
}

/** A Ferry with bearer tokens for all OWNERS users over `dir`, checked once as USER: auth is on, page 1 is USER's runs only. */
async function startOwned(ctx: BenchContext, n: number, dir: string): Promise<{ ferry: Ferry; page1: Target; mine: Set<string>; coldMs: number }> {
  const tokens = path.join(ctx.tmpRoot, 'listing-tokens');
  const digest = (t: string): string => createHash('sha256').update(t).digest('hex');
  await fs.writeFile(tokens, Array.from({ length: OWNERS }, (_, j) => `${benchUser(j)} ${digest(userToken(j))}\n`).join(''));
  const ferry = await startFerry(ctx, `list-owners-${n}`, dir, ['--auth-tokens', tokens]);
  await settle(ferry);
  const url = `${ferry.base}/runs?page_size=100`;
  const anonymous = await request(url);
  if (anonymous.status !== 401) throw new Error(`GET /runs without a token from the server with --auth-tokens: ${anonymous.status}, expected 401`);
  const page1: Target = { url, headers: { authorization: `Bearer ${userToken(USER)}` } };
  const mine = new Set(benchOwnerRunIds(n, OWNERS, USER));
  const cold = await timedGet(page1);
  const ids = (JSON.parse(cold.body) as RunsPage).runs.map((r) => r.run_id);
  if (ids.length !== Math.min(100, mine.size)) throw new Error(`${benchUser(USER)}'s first page @${n} has ${ids.length} runs, expected ${Math.min(100, mine.size)}`);
  const stranger = ids.find((id) => !mine.has(id));
  if (stranger) throw new Error(`${benchUser(USER)}'s first page @${n} lists ${stranger}, owned by someone else`);
  return { ferry, page1, mine, coldMs: cold.ms };
}

/** Listing and start-up at scale, one server per work-folder size, side by side. */
export async function sectionListing(ctx: BenchContext): Promise<void> {
  const { sizes } = ctx.opts;
  const all = [0, ...sizes];
  const base = sizes[0]!;
  const largest = sizes[sizes.length - 1]!;
  const dirs = new Map<number, string>();
  for (const n of all) dirs.set(n, await ensureRuns(ctx, n));
  const ownedDir = await ensureRuns(ctx, largest, OWNERS);
  const k = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

  // The first round reads each index whole: its snapshot (derived data, see RunIndex) is removed first;
  // the servers of that round write one as they stop, which the later rounds read.
  for (const n of all) await fs.rm(path.join(dirs.get(n)!, 'state_store', '.index', 'runs.snapshot'), { force: true });
  // Start-up: 3 rounds, sizes interleaved; the last round's servers stay up for the rest.
  const startups = new Map<number, number[]>(all.map((n) => [n, []]));
  const live = new Map<number, Ferry>();
  for (let round = 0; round < 3; round++) {
    for (const n of all) {
      const prev = live.get(n);
      if (prev) await stopFerry(ctx, prev);
      const f = await startFerry(ctx, `list-${n}-${round}`, dirs.get(n)!);
      startups.get(n)!.push(f.startupMs);
      await settle(f);
      live.set(n, f);
    }
  }
  log(`listing: start-up ${all.map((n) => `@${k(n)} ${startups.get(n)!.map((x) => x.toFixed(0)).join('/')} ms`).join(', ')}`);
  // Memory per stored run: every server the same way, started and settled and asked nothing yet (after the
  // requests below, the big ones have walked a thousand pages the empty one never served).
  const rssAtStart = new Map<number, number>(all.map((n) => [n, rssMiB(live.get(n)!.pid)]));
  const page1 = (n: number): string => `${live.get(n)!.base}/runs?page_size=100`;
  const info = (n: number): string => `${live.get(n)!.base}/service-info`;

  // First calls after start-up (nothing cached yet), checked for content.
  const cold = new Map<number, { page: number; info: number }>();
  const newest = new Map<number, string>();
  for (const n of all) {
    const p = await timedGet({ url: page1(n) });
    const runs = (JSON.parse(p.body) as RunsPage).runs;
    const got = runs.length;
    if (runs[0]) newest.set(n, runs[0].run_id);
    if (got !== Math.min(100, n)) throw new Error(`first page @${n} has ${got} runs`);
    const i = await timedGet({ url: info(n) });
    const counts = (JSON.parse(i.body) as { system_state_counts: Record<string, number> }).system_state_counts;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total !== n) throw new Error(`service-info counts ${total} runs, expected ${n}`);
    cold.set(n, { page: p.ms, info: i.ms });
    log(`listing @${k(n)}: first page 1 ${p.ms.toFixed(0)} ms, first service-info ${i.ms.toFixed(0)} ms`);
  }
  // One user among OWNERS, on the largest size: a server with bearer tokens, up beside the others.
  const owned = await startOwned(ctx, largest, ownedDir);
  const who = `as 1 of ${OWNERS} owners (${owned.mine.size} runs)`;
  log(`listing @${k(largest)} ${who}: start-up ${owned.ferry.startupMs.toFixed(0)} ms, first page 1 ${owned.coldMs.toFixed(0)} ms`);

  type Key = number | 'owner';
  const pageTimes = await interleaved(new Map<Key, Target>([...sizes.map((n): [Key, Target] => [n, { url: page1(n) }]), ['owner', owned.page1]]));
  const infoTimes = await interleaved(new Map<Key, Target>(sizes.map((n) => [n, { url: info(n) }])));
  // One run's status: the lookup of a run among n.
  const statusTimes = await interleaved(new Map<Key, Target>(sizes.map((n) => [n, { url: `${live.get(n)!.base}/runs/${newest.get(n)!}/status` }])));

  // Walk every page by token, as a client would; the last page is the deep one.
  const deepUrls = new Map<Key, Target>();
  const walks = new Map<Key, { ms: number; pages: number }>();
  for (const n of sizes) {
    const t0 = Date.now();
    let token = '';
    let lastToken = '';
    let seen = 0;
    let pages = 0;
    do {
      const page = await getJson<RunsPage>(`${page1(n)}${token ? `&page_token=${token}` : ''}`);
      seen += page.runs.length;
      pages++;
      lastToken = token;
      token = page.next_page_token;
    } while (token);
    if (seen !== n) throw new Error(`walking the pages @${n} found ${seen} runs`);
    walks.set(n, { ms: Date.now() - t0, pages });
    deepUrls.set(n, { url: `${page1(n)}&page_token=${lastToken}` });
  }
  // The user's pages: every run listed is theirs, and all of theirs are listed.
  const ownerWalk = await walkChecked(owned.page1, owned.mine, `${benchUser(USER)} @${largest}`);
  walks.set('owner', ownerWalk);
  if (ownerWalk.pages > 1) deepUrls.set('owner', { ...owned.page1, url: `${owned.page1.url}&page_token=${ownerWalk.lastToken}` });
  else log(`listing: ${benchUser(USER)} has one page @${k(largest)} (sizes too small for a later page): its last-page row is left out`);
  const deepTimes = await interleaved(deepUrls);

  const rss = new Map<Key, number>();
  for (const n of all) rss.set(n, rssMiB(live.get(n)!.pid));
  rss.set('owner', rssMiB(owned.ferry.pid));
  for (const f of [...live.values(), owned.ferry]) await stopFerry(ctx, f);
  ctx.raw.listing = { startups: Object.fromEntries(startups), cold: Object.fromEntries(cold), pageTimes: Object.fromEntries(pageTimes), infoTimes: Object.fromEntries(infoTimes), deepTimes: Object.fromEntries(deepTimes), statusTimes: Object.fromEntries(statusTimes), walks: Object.fromEntries(walks), rss: Object.fromEntries(rss), rssAtStart: Object.fromEntries(rssAtStart), owner: { owners: OWNERS, user: benchUser(USER), runs: owned.mine.size, size: largest, startupMs: owned.ferry.startupMs, coldPageMs: owned.coldMs } };

  const target = `≤ 1.5× @${k(base)} no auth, < 20 ms`;
  for (const [label, times, ownerLabel] of [
    ['GET /runs?page_size=100 page 1', pageTimes, `GET /runs?page_size=100 page 1 ${who}`],
    ['GET /runs last page (by token)', deepTimes, `GET /runs last page (page ${ownerWalk.pages}, by token) ${who}`],
    ['GET /service-info', infoTimes, null],
    ['GET /runs/{id}/status', statusTimes, null],
  ] as const) {
    const b = median(times.get(base)!);
    for (const n of sizes) {
      const p50 = median(times.get(n)!);
      const checked = n === largest && n !== base;
      ctx.rows.push({
        metric: `${label} p50 @${k(n)}`, ferry: p50, baseline: n === base ? undefined : b, unit: 'ms', digits: 2,
        target: checked ? `≤ 1.5× @${k(base)}, < 20 ms` : undefined, ok: checked ? p50 <= 1.5 * b && p50 < 20 : undefined,
      });
    }
    const own = times.get('owner');
    if (ownerLabel && own) {
      const p50 = median(own);
      ctx.rows.push({ metric: `${ownerLabel} p50 @${k(largest)}`, ferry: p50, baseline: b, unit: 'ms', digits: 2, target, ok: p50 <= 1.5 * b && p50 < 20 });
    }
  }
  for (const n of sizes) {
    ctx.rows.push({ metric: `GET /service-info, first call after start-up @${k(n)}`, ferry: cold.get(n)!.info, baseline: cold.get(0)!.info, unit: 'ms', digits: 0 });
  }
  for (const n of sizes) ctx.rows.push({ metric: `walk all ${walks.get(n)!.pages} pages by token @${k(n)}`, ferry: walks.get(n)!.ms, unit: 'ms', digits: 0 });
  ctx.rows.push({ metric: `walk all ${ownerWalk.pages} pages by token ${who} @${k(largest)}`, ferry: ownerWalk.ms, unit: 'ms', digits: 0 });
  const s0 = median(startups.get(0)!);
  for (const n of sizes) {
    const s = median(startups.get(n)!);
    const checked = n === largest && n >= 100_000;
    ctx.rows.push({ metric: `start-up (spawn → 200 on /engine/v1/status) @${k(n)}`, ferry: s / 1000, baseline: s0 / 1000, unit: 's', digits: 2, target: checked ? '< 2 s' : undefined, ok: checked ? s < 2000 : undefined });
  }
  ctx.rows.push({ metric: 'start-up (spawn → 200 on /engine/v1/status), empty work folder', ferry: s0 / 1000, unit: 's', digits: 2, target: '< 1 s', ok: s0 < 1000 });
  ctx.rows.push({ metric: `  of which grows with the runs (@${k(largest)} − empty)`, ferry: (median(startups.get(largest)!) - s0) / 1000, unit: 's', digits: 2 });
  for (const n of sizes) {
    ctx.rows.push({ metric: `start-up reading the whole index (no snapshot: round 1) @${k(n)}`, ferry: startups.get(n)![0]! / 1000, baseline: startups.get(0)![0]! / 1000, unit: 's', digits: 2 });
  }
  for (const n of sizes) {
    const checked = n === largest && n >= 100_000;
    ctx.rows.push({ metric: `server RSS after the listing requests @${k(n)}`, ferry: rss.get(n)!, baseline: rss.get(0)!, unit: 'MiB', digits: 0, target: checked ? '< 150 MiB' : '< 300 MiB', ok: rss.get(n)! < (checked ? 150 : 300) });
  }
  for (const n of sizes) {
    const perRun = ((rssAtStart.get(n)! - rssAtStart.get(0)!) * 1024) / n;
    const checked = n === largest && n >= 100_000;
    ctx.rows.push({ metric: `  RSS per stored run over empty, both started and not yet asked @${k(n)}`, ferry: perRun, unit: 'KiB', digits: 2, target: checked ? '≤ 0.25 KiB' : undefined, ok: checked ? perRun <= 0.25 : undefined });
    ctx.rows.push({ metric: `  RSS per stored run over empty, after the listing requests @${k(n)}`, ferry: ((rss.get(n)! - rss.get(0)!) * 1024) / n, unit: 'KiB', digits: 2 });
  }
  ctx.notes.push(
    'listing: p50 baseline = the same requests on the smallest size, interleaved request by request with the other sizes (servers up side by side); ' +
      'start-up, RSS and first-call baselines = an empty work folder; start-up is the median of 3 (sizes interleaved, each server started once the one before had finished starting: its engine probes reported and its standby supervisor loaded): the first reads each run index whole ' +
      '(its snapshot removed), the others the snapshot the first wrote as it stopped; RSS per run is noise at small sizes (checked only at 100k), and is checked on servers ' +
      'started and settled but not yet asked anything (after the requests, the big ones have served a walk of every page the empty one never had)',
    `listing, one owner: the largest size again with its runs spread round robin over ${OWNERS} users (owner in each run's record and index line, as an authenticated submission writes them), ` +
      `served with --auth-tokens (a token for each user) and listed as ${benchUser(USER)} with a bearer token, interleaved with the sizes without authentication; ` +
      `every run on every page is checked to be the user's, and all of the user's runs to be listed; baseline = the same page at the smallest size without authentication`,
  );
}
