/**
 * `npm run bench`: measures Ferry against its physical limits, side by side in
 * one run, and prints one table: metric | Ferry | baseline | ratio | target | ok.
 * Exits 1 when a target is missed, 2 when the benchmark itself failed, else 0.
 *
 *   npm run bench                                  everything (the 100k folder takes minutes to make)
 *   npm run bench -- --only api,engine             some sections: api, listing, submit, engine
 *   npm run bench -- --sizes 1000,10000            other work-folder sizes for the listing section
 *   npm run bench -- --cache-dir /var/tmp/fb       keep the generated work folders there and reuse them
 *   npm run bench -- --cpu-prof DIR                Ferry servers write V8 CPU profiles into DIR
 *   npm run bench -- --server tsx                  run Ferry through tsx (src/cli.ts) instead of compiled JS
 *   also: --rounds N (3), --connections N (10), --duration S (5), --warmup S (1), --engine-runs N (5),
 *         --json FILE (rows and raw samples), --keep (leave the temp folder for inspection)
 *
 * Needs cwltool, toil-cwl-runner, curl (the upload client), cp and sync on PATH.
 *
 * Ferry runs as real server processes: by default `node <build>/src/cli.js
 * serve …`, where <build> is a private `tsc -p tsconfig.build.json` output
 * (under node_modules/.cache, so a concurrent `npm run build` or `make clean`
 * cannot pull it away mid-run), with `--log-level warn`. Load comes from other
 * processes (autocannon in a child process). The baselines run in the same
 * run, on the same machine, interleaved with Ferry's measurements; ratios are
 * what the targets check, except where the target itself is absolute.
 *
 * Everything it starts (servers, run supervisors, engines, load generators)
 * carries a marker or lives in its temp folder, and is ended at the end, as is
 * the temp folder, whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { RunIndex, runIndexFile } from '../src/runs/run-index.js';
import { LocalStateStore } from '../src/runs/state-store.js';
import { findProcessesByEnv, processGroup, signalQuietly } from '../src/util/process.js';
import { benchRunId, benchTags } from './bench/runs-common.js';
import {
  children, freePort, getJson, median, multipartBody, renderTable, request, rssMiB, run, sleep, spawnLogged, stopChild, type Row,
} from './bench/lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WES = '/ga4gh/wes/v1';
const TERMINAL = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];
const SECTIONS = ['api', 'listing', 'submit', 'engine'] as const;
type Section = (typeof SECTIONS)[number];

// ------------------------------------------------------------------ options

const { values: argv } = parseArgs({
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
    server: { type: 'string', default: 'build' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  const doc = (await fs.readFile(fileURLToPath(import.meta.url), 'utf8')).split('*/')[0]!;
  console.log(doc.replace(/^\/\*\*\n?|^ \* ?/gm, ''));
  process.exit(0);
}
const only = new Set<Section>(argv.only ? (argv.only.split(',') as Section[]) : SECTIONS);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section '${s}' (${SECTIONS.join(', ')})`);
const sizes = argv.sizes.split(',').map(Number).filter((n) => n > 0).sort((a, b) => a - b);
const CONNECTIONS = Number(argv.connections);
const DURATION = Number(argv.duration);
const WARMUP = Number(argv.warmup);
const ROUNDS = Number(argv.rounds);
const ENGINE_RUNS = Number(argv['engine-runs']);
if (argv.server !== 'build' && argv.server !== 'tsx') throw new Error('--server is build or tsx');

// ------------------------------------------------------------------ run-wide state

const benchId = randomBytes(8).toString('hex');
const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-bench-'));
const buildDir = path.join(ROOT, 'node_modules', '.cache', `ferry-bench-${benchId}`);
const servers: ChildProcess[] = [];
const rows: Row[] = [];
const notes: string[] = [];
const raw: Record<string, unknown> = {};

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The environment of every process we start: ours less FERRY_* settings, plus the marker cleanup looks for. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FERRY_')) env[k] = v;
  return { ...env, FERRY_BENCH_ID: benchId, ...extra };
}

let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const s of servers) await stopChild(s, 5000).catch(() => undefined);
  for (const c of [...children]) c.kill('SIGKILL');
  // Run supervisors, engines and tools: they carry our marker, or live in our temp folder.
  for (let round = 0; round < 20; round++) {
    const pids = await findProcessesByEnv([`FERRY_BENCH_ID=${benchId}`], [`HOME=${tmpRoot}/`, `TMPDIR=${tmpRoot}/`]);
    if (pids.length === 0) break;
    const own = await processGroup(process.pid);
    for (const pid of pids) {
      const group = await processGroup(pid);
      if (group !== null && group > 1 && group !== own) signalQuietly(-group, 'SIGKILL');
      signalQuietly(pid, 'SIGKILL');
    }
    await sleep(100);
  }
  if (argv.keep) log(`kept ${tmpRoot}`);
  else await fs.rm(tmpRoot, { recursive: true, force: true, maxRetries: 10, retryDelay: 300 }).catch((err: unknown) => log(`could not remove ${tmpRoot}: ${String(err)}`));
  await fs.rm(buildDir, { recursive: true, force: true }).catch(() => undefined);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ build and processes

/** Compiles src/ (as `npm run build` does) and the helpers into a private folder. */
async function build(): Promise<void> {
  await fs.mkdir(buildDir, { recursive: true });
  const tsconfig = {
    extends: path.join(ROOT, 'tsconfig.json'),
    compilerOptions: { outDir: path.join(buildDir, 'out'), rootDir: ROOT, noEmitOnError: false },
    include: [path.join(ROOT, 'src'), path.join(ROOT, 'generated'), path.join(ROOT, 'scripts', 'bench')],
  };
  await fs.writeFile(path.join(buildDir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const t = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(buildDir, 'tsconfig.json')], { cwd: ROOT });
  if (!existsSync(out('src/cli.js')) || !existsSync(out('scripts/bench/load.js'))) throw new Error(`build failed:\n${t.stdout}${t.stderr}`);
  if (t.code !== 0) notes.push(`tsc reported type errors (emitted anyway; src/ is being edited?):\n${t.stdout.split('\n').slice(0, 5).join('\n')}`);
}
const out = (p: string): string => path.join(buildDir, 'out', p);

function ferryEntry(): string[] {
  return argv.server === 'tsx' ? ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts')] : [out('src/cli.js')];
}

interface Ferry {
  child: ChildProcess;
  pid: number;
  base: string;
  root: string;
  workDir: string;
  startupMs: number;
}

/** Starts `ferry serve` and times it: spawn → first 200 on /engine/v1/status. */
async function startFerry(name: string, workDir: string, extra: string[] = []): Promise<Ferry> {
  const port = await freePort();
  const prof = argv['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(argv['cpu-prof'])}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  const args = [...prof, ...ferryEntry(), 'serve', '--host', '127.0.0.1', '--port', String(port), '--work-dir', workDir, '--log-level', 'warn', ...extra];
  const t0 = process.hrtime.bigint();
  const child = spawnLogged(process.execPath, args, path.join(tmpRoot, `${name}.log`), { cwd: tmpRoot, env: childEnv(), detached: true });
  servers.push(child);
  const root = `http://127.0.0.1:${port}`;
  const startupMs = await waitUp(child, `${root}/engine/v1/status`, path.join(tmpRoot, `${name}.log`), t0);
  return { child, pid: child.pid!, base: root + WES, root, workDir, startupMs };
}

async function waitUp(child: ChildProcess, url: string, logFile: string, t0: bigint): Promise<number> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before answering: ${(await fs.readFile(logFile, 'utf8').catch(() => '')).slice(-2000)}`);
    }
    const ok = await request(url, { noKeepAlive: true, timeoutMs: 2000 }).then((r) => r.status === 200, () => false);
    if (ok) return Number(process.hrtime.bigint() - t0) / 1e6;
    if (Number(process.hrtime.bigint() - t0) > 120e9) throw new Error(`server at ${url} did not answer within 120 s`);
    await sleep(5);
  }
}

async function stopFerry(f: Ferry): Promise<void> {
  await stopChild(f.child);
  servers.splice(servers.indexOf(f.child), 1);
}

let ceiling: { child: ChildProcess; root: string; bodies: string } | null = null;
/** The bare Fastify server; `bodies` are the constant JSON objects it answers with. */
async function startCeiling(bodies: { status: unknown; log: unknown }): Promise<{ root: string; pid: number }> {
  if (ceiling) await stopChild(ceiling.child);
  const port = await freePort();
  const bodiesFile = path.join(tmpRoot, 'ceiling-bodies.json');
  await fs.writeFile(bodiesFile, JSON.stringify(bodies));
  const uploads = path.join(tmpRoot, 'ceiling-uploads');
  await fs.mkdir(uploads, { recursive: true });
  const t0 = process.hrtime.bigint();
  const child = spawnLogged(process.execPath, [out('scripts/bench/ceiling.js'), String(port), bodiesFile, uploads], path.join(tmpRoot, 'ceiling.log'), { cwd: tmpRoot, env: childEnv(), detached: true });
  servers.push(child);
  const root = `http://127.0.0.1:${port}`;
  await waitUp(child, `${root}/engine/v1/status`, path.join(tmpRoot, 'ceiling.log'), t0);
  ceiling = { child, root, bodies: bodiesFile };
  return { root, pid: child.pid! };
}

interface LoadResult {
  total: number; rps: number; ok2xx: number; ok2xxPerSecond: number; non2xx: number; errors: number; timeouts: number; p50: number; p99: number; seconds: number; bytesPerRequest: number;
}

/** autocannon in a child process: warm-up, then the measured run. */
async function load(url: string, extra: { method?: 'POST'; headers?: Record<string, string>; bodyFile?: string } = {}): Promise<LoadResult> {
  const opts = { url, connections: CONNECTIONS, duration: DURATION, warmup: WARMUP, ...extra };
  const r = await run(process.execPath, [out('scripts/bench/load.js'), JSON.stringify(opts)], { env: childEnv() });
  if (r.code !== 0) throw new Error(`load generator failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadResult;
}

// ------------------------------------------------------------------ WES client bits

const fixture = (...p: string[]): string => path.join(ROOT, ...p);

async function submit(f: Ferry, fields: Record<string, string>, files: { name: string; file: string }[]): Promise<string> {
  const loaded = await Promise.all(files.map(async (x) => ({ name: x.name, content: await fs.readFile(x.file) })));
  const { body, contentType } = multipartBody(fields, loaded);
  const res = await request(`${f.base}/runs`, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (res.status !== 200) throw new Error(`submission refused: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { run_id: string }).run_id;
}

async function waitState(f: Ferry, runId: string, states: string[], pollMs: number, timeoutMs = 600_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = await getJson<{ state: string }>(`${f.base}/runs/${runId}/status`);
    if (states.includes(state)) return state;
    if (TERMINAL.includes(state)) throw new Error(`run ${runId} ended ${state}: ${(await request(`${f.base}/runs/${runId}`)).body.slice(0, 2000)}`);
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${state}`);
    await sleep(pollMs);
  }
}

// ------------------------------------------------------------------ 1. API read path

async function sectionApi(): Promise<void> {
  log('api: starting Ferry and running the 13-task CWL fixture with cwltool');
  const f = await startFerry('api', path.join(tmpRoot, 'api'));
  const dir = path.join(ROOT, 'scripts', 'bench', 'fixtures', 'scatter12');
  const runId = await submit(
    f,
    { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'scatter12.cwl', workflow_params: await fs.readFile(path.join(dir, 'inputs.json'), 'utf8'), tags: '{"bench":"api"}' },
    [{ name: 'scatter12.cwl', file: path.join(dir, 'scatter12.cwl') }],
  );
  await waitState(f, runId, ['COMPLETE'], 100);
  const statusRes = await request(`${f.base}/runs/${runId}/status`);
  const logRes = await request(`${f.base}/runs/${runId}`);
  const runLog = JSON.parse(logRes.body) as { task_logs: unknown[] };
  if (runLog.task_logs.length < 12) throw new Error(`the fixture run has ${runLog.task_logs.length} task logs, expected at least 12`);
  const c = await startCeiling({ status: JSON.parse(statusRes.body), log: runLog });
  const cStatus = await request(`${c.root}${WES}/runs/${runId}/status`);
  const cLog = await request(`${c.root}${WES}/runs/${runId}`);
  notes.push(
    `api: run ${runId} has ${runLog.task_logs.length} task logs; bodies Ferry/ceiling: status ${statusRes.body.length}/${cStatus.body.length} B, run log ${logRes.body.length}/${cLog.body.length} B; ` +
      `autocannon ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s, ${ROUNDS} interleaved rounds, medians`,
  );

  const results: Record<string, { ferry: LoadResult[]; ceiling: LoadResult[] }> = { status: { ferry: [], ceiling: [] }, log: { ferry: [], ceiling: [] } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const which of ['status', 'log'] as const) {
      const suffix = which === 'status' ? `/runs/${runId}/status` : `/runs/${runId}`;
      const order = r % 2 === 0 ? (['ceiling', 'ferry'] as const) : (['ferry', 'ceiling'] as const);
      for (const who of order) {
        const res = await load(`${who === 'ferry' ? f.root : c.root}${WES}${suffix}`);
        if (res.non2xx || res.errors) throw new Error(`${who} ${which}: ${res.non2xx} non-2xx answers, ${res.errors} errors`);
        results[which]![who].push(res);
        log(`api: round ${r + 1} ${which} ${who}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99} ms`);
      }
    }
  }
  raw.api = results;
  for (const [which, label, target] of [['status', 'GET /runs/{id}/status', 0.6], ['log', 'GET /runs/{id} (13 tasks)', 0.4]] as const) {
    const { ferry, ceiling: ceil } = results[which]!;
    const ratio = median(ferry.map((x, i) => x.rps / ceil[i]!.rps));
    rows.push({ metric: `${label} req/s`, ferry: median(ferry.map((x) => x.rps)), baseline: median(ceil.map((x) => x.rps)), unit: '/s', digits: 0, ratio, target: `≥ ${target.toFixed(2)}× ceiling`, ok: ratio >= target });
    rows.push({ metric: `${label} p99`, ferry: median(ferry.map((x) => x.p99)), baseline: median(ceil.map((x) => x.p99)), unit: 'ms', digits: 1 });
  }
  await stopFerry(f);
}

// ------------------------------------------------------------------ 2. listing at scale

/** A work folder with `n` finished runs, made through Ferry's store code (cached). */
async function ensureRuns(n: number): Promise<string> {
  const cache = argv['cache-dir'] ? path.resolve(argv['cache-dir']) : path.join(tmpRoot, 'cache');
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
    return run(process.execPath, [out('scripts/bench/gen-runs.js'), workDir, stateStore, String(from), String(to), '32'], { env: childEnv() }).then((r) => {
      if (r.code !== 0) throw new Error(`generator failed: ${r.stderr}`);
    });
  });
  await Promise.all(gens);
  await run('sync', []);
  const ms = Date.now() - t0;
  rows.push({ metric: `make ${n} runs (store code, ${workers} procs)`, ferry: ms / 1000, unit: 's', digits: 1 });
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

async function sectionListing(): Promise<void> {
  const all = [0, ...sizes];
  const dirs = new Map<number, string>();
  for (const n of all) dirs.set(n, await ensureRuns(n));
  const k = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));

  // Start-up: 3 rounds, sizes interleaved; the last round's servers stay up for the rest.
  const startups = new Map<number, number[]>(all.map((n) => [n, []]));
  const live = new Map<number, Ferry>();
  for (let round = 0; round < 3; round++) {
    for (const n of all) {
      const prev = live.get(n);
      if (prev) await stopFerry(prev);
      const f = await startFerry(`list-${n}-${round}`, dirs.get(n)!);
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
  for (const f of live.values()) await stopFerry(f);
  raw.listing = { startups: Object.fromEntries(startups), cold: Object.fromEntries(cold), pageTimes: Object.fromEntries(pageTimes), infoTimes: Object.fromEntries(infoTimes), deepTimes: Object.fromEntries(deepTimes), walks: Object.fromEntries(walks), rss: Object.fromEntries(rss) };

  const base = sizes[0]!;
  const largest = sizes[sizes.length - 1]!;
  for (const [label, times] of [['GET /runs?page_size=100 page 1', pageTimes], ['GET /runs last page (by token)', deepTimes], ['GET /service-info', infoTimes]] as const) {
    const b = median(times.get(base)!);
    for (const n of sizes) {
      const p50 = median(times.get(n)!);
      const checked = n === largest && n !== base;
      rows.push({
        metric: `${label} p50 @${k(n)}`, ferry: p50, baseline: n === base ? undefined : b, unit: 'ms', digits: 2,
        target: checked ? `≤ 1.5× @${k(base)}, < 20 ms` : undefined, ok: checked ? p50 <= 1.5 * b && p50 < 20 : undefined,
      });
    }
  }
  for (const n of sizes) {
    rows.push({ metric: `GET /service-info, first call after start-up @${k(n)}`, ferry: cold.get(n)!.info, baseline: cold.get(0)!.info, unit: 'ms', digits: 0 });
  }
  for (const n of sizes) rows.push({ metric: `walk all ${walks.get(n)!.pages} pages by token @${k(n)}`, ferry: walks.get(n)!.ms, unit: 'ms', digits: 0 });
  const s0 = median(startups.get(0)!);
  for (const n of sizes) {
    const s = median(startups.get(n)!);
    rows.push({ metric: `start-up (spawn → 200 on /engine/v1/status) @${k(n)}`, ferry: s / 1000, baseline: s0 / 1000, unit: 's', digits: 2, target: n === largest ? '< 5 s' : undefined, ok: n === largest ? s < 5000 : undefined });
  }
  rows.push({ metric: `  of which grows with the runs (@${k(largest)} − empty)`, ferry: (median(startups.get(largest)!) - s0) / 1000, unit: 's', digits: 2 });
  for (const n of sizes) rows.push({ metric: `server RSS after the listing requests @${k(n)}`, ferry: rss.get(n)!, baseline: rss.get(0)!, unit: 'MiB', digits: 0, target: '< 300 MiB', ok: rss.get(n)! < 300 });
  notes.push(
    'listing: p50 baseline = the same requests on the smallest size, interleaved request by request with the other sizes (servers up side by side); ' +
      'start-up, RSS and first-call baselines = an empty work folder; start-up is the median of 3 (sizes interleaved)',
  );
}

// ------------------------------------------------------------------ 3. submission

async function makeFile(file: string, mib: number): Promise<void> {
  const h = await fs.open(file, 'w');
  for (let i = 0; i < mib; i++) await h.write(randomBytes(1024 * 1024));
  await h.close();
}

/**
 * Uploads run through curl, a client of its own in another process (a Node client
 * in this process tops out near the rates measured). Returns curl's transfer time.
 */
async function curlUpload(args: string[]): Promise<number> {
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '-H', 'Expect:', ...args]);
  const [code, seconds] = r.stdout.trim().split(' ');
  if (r.code !== 0 || code !== '200') throw new Error(`upload failed: curl ${args.join(' ')} → ${r.stdout} ${r.stderr}`);
  return Number(seconds) * 1000;
}

/** The file as a raw body (no multipart), streamed from disk (-T), to the bare server, which pipes it to a file. */
function rawUpload(root: string, bigFile: string): Promise<number> {
  return curlUpload(['-X', 'PUT', '-H', 'content-type: application/octet-stream', '-T', bigFile, `${root}/raw`]);
}

/** POSTs a run with `echo.cwl` and one big attachment streamed from disk; samples the server's RSS meanwhile. */
async function upload(target: { base: string; pid: number }, bigFile: string): Promise<{ ms: number; before: number; peak: number; after: number }> {
  const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"big"}' };
  const echo = fixture('tests/fixtures/workflows/echo/echo.cwl');
  const before = rssMiB(target.pid);
  let peak = before;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(target.pid));
    } catch {
      // the server is gone; the upload fails below
    }
  }, 5);
  try {
    const ms = await curlUpload([
      ...Object.entries(fields).flatMap(([k, v]) => ['--form-string', `${k}=${v}`]),
      '-F', `workflow_attachment=@${echo};filename=echo.cwl`,
      '-F', `workflow_attachment=@${bigFile};filename=data.bin;type=application/octet-stream`,
      `${target.base}/runs`,
    ]);
    peak = Math.max(peak, rssMiB(target.pid));
    return { ms, before, peak, after: rssMiB(target.pid) };
  } finally {
    clearInterval(sampler);
  }
}

async function sectionSubmit(): Promise<void> {
  log('submit: starting Ferry (--max-concurrent-runs 1) with a long sleep run holding the slot');
  const f = await startFerry('submit', path.join(tmpRoot, 'submit'), ['--max-concurrent-runs', '1', '--max-queued-runs', '1000000']);
  const sleeper = await submit(
    f,
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'sleep.cwl', workflow_params: '{"seconds": 3600}' },
    [{ name: 'sleep.cwl', file: fixture('tests/fixtures/workflows/sleep/sleep.cwl') }],
  );
  await waitState(f, sleeper, ['RUNNING'], 50);
  const c = ceiling ? { root: ceiling.root, pid: ceiling.child.pid! } : await startCeiling({ status: {}, log: {} });
  const { body, contentType } = multipartBody(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"hi"}', tags: '{"bench":"submit"}' },
    [
      { name: 'echo.cwl', content: await fs.readFile(fixture('tests/fixtures/workflows/echo/echo.cwl')) },
      { name: 'inputs.json', content: await fs.readFile(fixture('tests/fixtures/workflows/echo/inputs.json')) },
      { name: 'notes.txt', content: Buffer.from('Three small attachments: the workflow, its inputs and this note.\n'.repeat(8)) },
    ],
  );
  const bodyFile = path.join(tmpRoot, 'submission.bin');
  await fs.writeFile(bodyFile, body);
  const ferryRes: LoadResult[] = [];
  const ceilRes: LoadResult[] = [];
  const rounds = Math.max(1, Math.min(ROUNDS, 2));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['ceiling', 'ferry'] as const) : (['ferry', 'ceiling'] as const);
    for (const who of order) {
      const res = await load(`${who === 'ferry' ? f.root : c.root}${WES}/runs`, { method: 'POST', headers: { 'content-type': contentType }, bodyFile });
      (who === 'ferry' ? ferryRes : ceilRes).push(res);
      log(`submit: round ${r + 1} ${who}: ${res.ok2xxPerSecond.toFixed(0)} accepted/s (${res.non2xx} refused, ${res.errors} errors), p99 ${res.p99} ms`);
    }
  }
  raw.submit = { ferry: ferryRes, ceiling: ceilRes };
  const subs = median(ferryRes.map((x) => x.ok2xxPerSecond));
  rows.push({ metric: 'POST /runs, 3 small attachments, accepted/s', ferry: subs, baseline: median(ceilRes.map((x) => x.ok2xxPerSecond)), unit: '/s', digits: 0, target: '≥ 300/s', ok: subs >= 300 });
  rows.push({ metric: 'POST /runs, 3 small attachments, p99', ferry: median(ferryRes.map((x) => x.p99)), baseline: median(ceilRes.map((x) => x.p99)), unit: 'ms', digits: 1 });
  const refused = ferryRes.reduce((a, x) => a + x.non2xx + x.errors, 0);
  if (refused) notes.push(`submit: Ferry refused or failed ${refused} submissions during the load`);

  // One big attachment, against cp of the same file on the same disk; 10 MiB and 100 MiB.
  const up: Record<number, { ferry: number[]; cp: number[]; cpSync: number[]; bare: number[]; raw: number[]; growth: number[]; peak: number[]; before: number[]; after: number[] }> = {};
  for (const mib of [10, 100]) {
    const big = path.join(tmpRoot, `big-${mib}.bin`);
    await makeFile(big, mib);
    await run('cat', [big], { stdio: ['ignore', 'ignore', 'ignore'] }); // into the page cache, for both
    up[mib] = { ferry: [], cp: [], cpSync: [], bare: [], raw: [], growth: [], peak: [], before: [], after: [] };
    const u = up[mib]!;
    for (let k = 0; k < 3; k++) {
      // Each one starts with no dirty pages left by the one before (sync), in an order rotated per round.
      const steps: (() => Promise<void>)[] = [
        async () => {
          const cp = await run('cp', [big, path.join(tmpRoot, `cp-${mib}-${k}.bin`)]);
          if (cp.code !== 0) throw new Error(`cp failed: ${cp.stderr}`);
          u.cp.push(cp.ms);
        },
        async () => {
          // A durable copy: cp, then the copy flushed to the disk (what acknowledging an upload durably costs at the least).
          const dest = path.join(tmpRoot, `cps-${mib}-${k}.bin`);
          const t0 = process.hrtime.bigint();
          const cp = await run('cp', [big, dest]);
          const sync = await run('sync', [dest]);
          if (cp.code !== 0 || sync.code !== 0) throw new Error(`cp + sync failed: ${cp.stderr}${sync.stderr}`);
          u.cpSync.push(Number(process.hrtime.bigint() - t0) / 1e6);
        },
        async () => void u.raw.push(await rawUpload(c.root, big)),
        async () => void u.bare.push((await upload({ base: c.root + WES, pid: c.pid }, big)).ms),
        async () => {
          const r = await upload(f, big);
          u.ferry.push(r.ms);
          u.growth.push(r.peak - r.before);
          u.peak.push(r.peak);
          u.before.push(r.before);
          u.after.push(r.after);
        },
      ];
      for (let i = 0; i < steps.length; i++) {
        await run('sync', []);
        await steps[(i + k) % steps.length]!();
      }
      log(`submit: ${mib} MiB: Ferry ${u.ferry[k]!.toFixed(0)} ms, cp ${u.cp[k]!.toFixed(0)} ms, cp + sync ${u.cpSync[k]!.toFixed(0)} ms, raw body ${u.raw[k]!.toFixed(0)} ms, bare Fastify ${u.bare[k]!.toFixed(0)} ms; Ferry RSS ${u.before[k]!.toFixed(0)} → peak ${u.peak[k]!.toFixed(0)} → ${u.after[k]!.toFixed(0)} MiB`);
    }
  }
  raw.upload = up;
  for (const mib of [10, 100]) {
    const u = up[mib]!;
    const ferryRate = mib / (median(u.ferry) / 1000);
    const cpRate = mib / (median(u.cp) / 1000);
    const ratio = ferryRate / cpRate;
    rows.push({ metric: `upload one ${mib} MiB attachment, MiB/s (vs cp)`, ferry: ferryRate, baseline: cpRate, unit: 'MiB/s', digits: 0, ratio, target: mib === 100 ? '≥ 0.50× cp' : undefined, ok: mib === 100 ? ratio >= 0.5 : undefined });
    rows.push({ metric: `  same upload into bare Fastify + multipart (vs cp)`, ferry: mib / (median(u.bare) / 1000), baseline: cpRate, unit: 'MiB/s', digits: 0 });
    rows.push({ metric: `  same bytes as a raw body piped to a file (vs cp)`, ferry: mib / (median(u.raw) / 1000), baseline: cpRate, unit: 'MiB/s', digits: 0 });
    rows.push({ metric: `  Ferry's upload vs a durable copy (cp + sync of the copy)`, ferry: ferryRate, baseline: mib / (median(u.cpSync) / 1000), unit: 'MiB/s', digits: 0 });
  }
  notes.push(
    'upload: Ferry acknowledges a submission only once it is on the disk (a big one is fsynced; see the README), so its upload is bounded by the disk\'s write rate; ' +
      'plain cp returns with the copy still in the page cache. The durable-copy row shows the bound on this machine.',
  );
  for (const mib of [10, 100]) {
    const u = up[mib]!;
    rows.push({ metric: `server RSS before / after ${mib} MiB upload`, ferry: median(u.after), baseline: median(u.before), unit: 'MiB', digits: 0 });
  }
  rows.push({ metric: 'server RSS growth during upload (peak − before, median), 100 vs 10 MiB', ferry: median(up[100]!.growth), baseline: median(up[10]!.growth), unit: 'MiB', digits: 1 });
  // Not growing with size. Growth deltas swing by 0–25 MiB with GC timing whatever the size (young
  // generation and external buffers), so the check is on the highest peak of the three uploads of
  // each size: the 90 MiB more may cost at most a quarter of it more memory; a server that held the
  // attachment in memory would be ≥ 90 MiB above.
  const p10 = Math.max(...up[10]!.peak);
  const p100 = Math.max(...up[100]!.peak);
  rows.push({ metric: 'server peak RSS during upload (max of 3), 100 vs 10 MiB', ferry: p100, baseline: p10, unit: 'MiB', digits: 0, target: '≤ 10 MiB one + 22.5', ok: p100 <= p10 + 22.5 });
  await stopFerry(f);
}

// ------------------------------------------------------------------ 4. engine overhead

async function sectionEngine(): Promise<void> {
  log('engine: starting Ferry');
  const f = await startFerry('engine', path.join(tmpRoot, 'engine'));
  const echo = fixture('tests/fixtures/workflows/echo/echo.cwl');
  const params = await fs.readFile(fixture('tests/fixtures/workflows/echo/inputs.json'), 'utf8');
  let fresh = 0;

  /** POST → COMPLETE seen by a client polling every 20 ms. */
  const throughFerry = async (engine: string): Promise<{ ms: number; runId: string }> => {
    const t0 = process.hrtime.bigint();
    const runId = await submit(f, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: params, workflow_engine: engine }, [{ name: 'echo.cwl', file: echo }]);
    await waitState(f, runId, ['COMPLETE'], 20);
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, runId };
  };
  /** The run's own command (from its run log), in a fresh folder with the environment Ferry gives engines. */
  const direct = async (runId: string): Promise<number> => {
    const { run_log: rl } = await getJson<{ run_log: { cmd: string[] } }>(`${f.base}/runs/${runId}`);
    const runDir = path.join(f.workDir, runId);
    const dir = path.join(tmpRoot, 'direct', `d${fresh++}`);
    await fs.mkdir(path.join(dir, 'execution'), { recursive: true });
    await fs.mkdir(path.join(dir, 'tmp'));
    await fs.mkdir(path.join(dir, 'outputs'));
    await fs.copyFile(echo, path.join(dir, 'execution', 'echo.cwl'));
    await fs.copyFile(path.join(runDir, 'execution', 'wes_inputs.json'), path.join(dir, 'execution', 'wes_inputs.json'));
    const cmd = rl.cmd.map((a) => a.split(runDir).join(dir));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(dir, 'tmp'), TMPDIR: path.join(dir, 'tmp'), LANG: process.env.LANG ?? 'C.UTF-8' };
    const r = await run(cmd[0]!, cmd.slice(1), { cwd: path.join(dir, 'execution'), env });
    if (r.code !== 0) throw new Error(`direct ${cmd.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return r.ms;
  };

  const res: Record<string, { ferry: number[]; direct: number[]; cmd: string[] }> = {};
  for (const engine of ['cwltool', 'toil']) {
    const w = await throughFerry(engine); // warm-up, not counted: first runs pay for cold caches
    await direct(w.runId);
    const r = (res[engine] = { ferry: [] as number[], direct: [] as number[], cmd: [] as string[] });
    r.cmd = (await getJson<{ run_log: { cmd: string[] } }>(`${f.base}/runs/${w.runId}`)).run_log.cmd;
    for (let k = 0; k < ENGINE_RUNS; k++) {
      const { ms, runId } = await throughFerry(engine);
      const d = await direct(runId);
      r.ferry.push(ms);
      r.direct.push(d);
      log(`engine: ${engine} #${k + 1}: Ferry ${ms.toFixed(0)} ms, direct ${d.toFixed(0)} ms`);
    }
  }
  raw.engine = res;
  for (const [engine, r] of Object.entries(res)) {
    const name = engine === 'toil' ? 'toil-cwl-runner' : engine;
    const mf = median(r.ferry);
    const md = median(r.direct);
    rows.push({ metric: `${name} echo: POST → COMPLETE vs direct, median of ${ENGINE_RUNS}`, ferry: mf, baseline: md, unit: 'ms', digits: 0 });
    rows.push({ metric: `${name} echo: time Ferry adds`, ferry: mf - md, unit: 'ms', digits: 0, target: '≤ 150 ms', ok: mf - md <= 150 });
  }
  notes.push(`engine: direct = the run log's cmd, paths moved to a fresh folder, same environment as Ferry gives engines; Ferry = client POST → status COMPLETE polled every 20 ms; one warm-up each, not counted`);
  await stopFerry(f);
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  log(`temp folder ${tmpRoot}; building into ${buildDir}`);
  await build();
  notes.push(
    `Ferry: ${argv.server === 'tsx' ? 'node --import tsx src/cli.ts serve' : 'node <private tsc -p tsconfig.build.json output>/src/cli.js serve'} --log-level warn; ` +
      `machine: ${os.availableParallelism()} cores, node ${process.version}`,
  );
  // The machine is shared: say how busy it was around each section (1-minute load average).
  const sections: [Section, () => Promise<void>][] = [['api', sectionApi], ['submit', sectionSubmit], ['engine', sectionEngine], ['listing', sectionListing]];
  const loads: string[] = [];
  for (const [name, fn] of sections) {
    if (!only.has(name)) continue;
    const before = os.loadavg()[0]!;
    await fn();
    loads.push(`${name} ${before.toFixed(1)}→${os.loadavg()[0]!.toFixed(1)}`);
  }
  notes.push(`load average (1 min) before→after each section, on ${os.availableParallelism()} cores: ${loads.join(', ')}`);
  return 0;
}

let code = 2;
try {
  await main();
  console.log(renderTable(rows));
  for (const n of notes) console.log(`- ${n}`);
  const missed = rows.filter((r) => r.ok === false);
  console.log(missed.length ? `\n${missed.length} target(s) missed: ${missed.map((r) => r.metric).join('; ')}` : '\nall targets met');
  if (argv.json) await fs.writeFile(argv.json, JSON.stringify({ rows, notes, raw }, null, 2));
  code = missed.length ? 1 : 0;
} catch (err) {
  if (rows.length) console.log(renderTable(rows));
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
