/**
 * Filtered listing pages against unfiltered ones, at scale, in one process:
 *
 *   npx tsx scripts/bench/listing-filters.ts [--runs 100000] [--queued 1000] [--rounds 200]
 *
 * Makes a state store through Ferry's own code — `--runs` index entries (RunIndex.add, in
 * submission order, with the bench's tags and every third run ann's), the final summaries a
 * supervisor appends for the ended ones (appendFinal: mostly COMPLETE, 5 % EXECUTOR_ERROR, 2 %
 * CANCELED), and for the newest `--queued` runs a QUEUED record in the store, held by a task
 * runner that starts nothing (a full queue) — then builds the app on it and times
 * `GET /runs` through app.inject: each query's first page and a page deep in the listing (by its
 * own token), as the admin and as ann, rounds interleaved. Prints medians and p90s in ms.
 * Not a test: nothing is asserted about times.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { makeConfig } from '../../src/config/config.js';
import { appendFinal, RunIndex, runIndexFile } from '../../src/runs/run-index.js';
import type { State } from '../../src/runs/state-machine.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import type { TaskRunner } from '../../src/tasks/task-runner.js';
import { benchRunId, benchSubmittedAt, benchTags } from './runs-common.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100000' }, queued: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '200' } } });
const RUNS = Number(values.runs);
const QUEUED = Math.min(RUNS, Number(values.queued));
const ROUNDS = Number(values.rounds);
const TOKENS = { root: 'bench-root-token', ann: 'bench-ann-token' } as const;

/** How run i ended (the same shares as the listing bench's generator). */
const outcome = (i: number): State => (i % 20 === 7 ? 'EXECUTOR_ERROR' : i % 50 === 13 ? 'CANCELED' : 'COMPLETE');
const ownerOf = (i: number): string | undefined => (i % 3 === 0 ? 'ann' : undefined);

async function makeStore(workDir: string): Promise<void> {
  const stateStore = path.join(workDir, 'state_store');
  const store = new LocalStateStore(stateStore);
  const file = runIndexFile(stateStore);
  const index = await RunIndex.open(file, store);
  for (let i = 0; i < RUNS; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, RUNS - i) }, (_, k) => index.add(benchRunId(i + k), benchTags(i + k), ownerOf(i + k))));
  }
  const ended = RUNS - QUEUED;
  for (let i = 0; i < ended; i++) {
    const start = benchSubmittedAt(i);
    await appendFinal(file, benchRunId(i), { state: outcome(i), start_time: start.toISOString(), end_time: new Date(start.getTime() + 5000).toISOString() });
  }
  for (let i = ended; i < RUNS; i++) {
    const owner = ownerOf(i);
    await store.create(benchRunId(i), { state: 'QUEUED', submitted_at: benchSubmittedAt(i).toISOString(), ...(owner ? { owner } : {}) });
  }
}

/** A full queue: the queued runs are live here, and nothing starts. */
function holdingRunner(): TaskRunner {
  const held = new Set(Array.from({ length: QUEUED }, (_, k) => benchRunId(RUNS - QUEUED + k)));
  return {
    run: (runId) => void held.add(runId),
    cancel: async () => undefined,
    reapAbandoned: async () => undefined,
    isOk: () => true,
    isLive: (runId) => held.has(runId),
    isWaiting: (runId) => held.has(runId),
    get queueLength() {
      return held.size;
    },
    settled: async () => undefined,
    close: async () => undefined,
  };
}

async function get(app: FastifyInstance, user: keyof typeof TOKENS, query: string): Promise<{ ms: number; body: { runs: { state: string }[]; next_page_token: string } }> {
  const t0 = process.hrtime.bigint();
  const res = await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs?${query}`, headers: { authorization: `Bearer ${TOKENS[user]}` } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body}`);
  return { ms, body: res.json() };
}

/** The token of the page `depth` pages into a listing (followed once, before timing). */
async function deepToken(app: FastifyInstance, user: keyof typeof TOKENS, query: string, depth: number): Promise<string> {
  let token = '';
  for (let i = 0; i < depth; i++) {
    const page = await get(app, user, `${query}${token ? `&page_token=${token}` : ''}`);
    if (page.body.next_page_token === '') break;
    token = page.body.next_page_token;
  }
  return token;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-filters-bench-'));
  try {
    const workDir = path.join(dir, 'work');
    let t0 = Date.now();
    await makeStore(workDir);
    console.log(`made ${RUNS} runs (${QUEUED} queued) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const tokens = path.join(dir, 'tokens');
    await fs.writeFile(tokens, Object.entries(TOKENS).map(([u, tok]) => `${u} ${createHash('sha256').update(tok).digest('hex')}`).join('\n') + '\n');
    t0 = Date.now();
    const app = await buildApp(makeConfig({ workDir, logLevel: 'silent', authTokens: tokens, admins: ['root'] }), { taskRunner: holdingRunner() });
    console.log(`app built in ${Date.now() - t0} ms, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    try {
      const queries: [keyof typeof TOKENS, string][] = [
        ['root', ''],
        ['root', 'sort_order=asc'],
        ['root', 'state=COMPLETE'],
        ['root', 'state=EXECUTOR_ERROR'],
        ['root', 'state=CANCELED&sort_order=asc'],
        ['root', 'state=EXECUTOR_ERROR&state=CANCELED'],
        ['root', 'state=QUEUED'],
        ['root', 'tag_key=project&tag_value=p3'],
        ['root', 'tag_key=bench'],
        ['root', 'tag_key=project&tag_value=p7&state=EXECUTOR_ERROR'],
        ['root', 'tag_key=project&tag_value=p3&state=EXECUTOR_ERROR'],
        ['ann', ''],
        ['ann', 'state=EXECUTOR_ERROR'],
        ['ann', 'tag_key=project&tag_value=p3&sort_order=asc'],
      ];
      // Each query's first page, and its page 300 deep (or its last), by its own token.
      const cases: { label: string; user: keyof typeof TOKENS; url: string }[] = [];
      for (const [user, q] of queries) {
        const base = `page_size=100${q ? `&${q}` : ''}`;
        cases.push({ label: `${user} ${q || '(no filter)'} first`, user, url: base });
        const token = await deepToken(app, user, base, 300);
        if (token) cases.push({ label: `${user} ${q || '(no filter)'} deep`, user, url: `${base}&page_token=${token}` });
      }
      const times = new Map(cases.map((c) => [c.label, [] as number[]]));
      const sizes = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const c of cases) {
          const { ms, body } = await get(app, c.user, c.url);
          times.get(c.label)!.push(ms);
          sizes.set(c.label, body.runs.length);
        }
      }
      console.log(`\n${'GET /runs?… (page_size=100)'.padEnd(72)} runs  p50 ms  p90 ms`);
      for (const c of cases) {
        const xs = times.get(c.label)!;
        console.log(`${c.label.padEnd(72)} ${String(sizes.get(c.label)).padStart(4)}  ${pct(xs, 50).toFixed(2).padStart(6)}  ${pct(xs, 90).toFixed(2).padStart(6)}`);
      }
    } finally {
      await app.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
