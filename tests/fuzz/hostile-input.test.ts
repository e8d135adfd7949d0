import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { buildTestApp, listTree, tempDir, workflowsDir } from '../helper.js';
import { generate, Rng, sweep, type Case, type FuzzContext } from './generators.js';
import { parseResponses, rawExchange } from './raw-http.js';

// Issue "Hostile input never hurts": a seeded stream of malformed requests
// against a live server. Every request is answered (or, for broken HTTP
// framing, the connection closed), no client mistake earns a 5xx, every error
// body is the WES ErrorResponse, the server stays up, nothing is written
// outside the work folder, and no rejected request creates a run (nor does
// any request but a DELETE that answered 200 remove one).
//
// FERRY_FUZZ_SEED=<n> replays a run (the seed is printed); FERRY_FUZZ_COUNT=<n>
// sets the number of requests (default 3000).

function parseSeed(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === '') return null;
  const n = raw.trim().startsWith('0x') ? parseInt(raw.trim().slice(2), 16) : Number(raw.trim());
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FERRY_FUZZ_SEED must be a 32-bit unsigned integer, got '${raw}'`);
  return n;
}
const SEED = parseSeed(process.env.FERRY_FUZZ_SEED) ?? randomBytes(4).readUInt32BE(0);
const COUNT = Math.max(1, Number(process.env.FERRY_FUZZ_COUNT ?? 3000) || 3000);
const BATCH = 100;
const CONCURRENCY = 6;
const MAX_FIELD_BYTES = 16 * 1024 * 1024;
t.comment(`fuzz seed ${SEED} (replay with FERRY_FUZZ_SEED=${SEED}), ${COUNT} requests`);

const RUN_ID = /^run-[0-9a-f]{32}$/;
const TERMINAL = new Set(['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED', 'PREEMPTED']);

// ---------------------------------------------------------------- the server

/** Server-side errors (5xx are logged at level error): shown next to the violations. */
const serverErrors: { time: number; text: string }[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      try {
        const o = JSON.parse(line) as { time: number; msg?: string; err?: { type?: string; message?: string; code?: string; stack?: string } };
        const frame = o.err?.stack?.split('\n').find((l) => l.includes('/src/'))?.trim() ?? '';
        serverErrors.push({ time: o.time, text: o.err ? `${o.err.type ?? 'Error'}${o.err.code ? ` ${o.err.code}` : ''}: ${o.err.message ?? ''} ${frame}`.trim() : (o.msg ?? line) });
      } catch {
        serverErrors.push({ time: Date.now(), text: line.slice(0, 300) });
      }
    }
    done();
  },
});

const root = await tempDir(t, 'ferry-fuzz-');
const workDir = path.join(root, 'work');
// A canary next to the work folder: it must come out exactly as it went in.
await fs.mkdir(path.join(root, 'canary', 'sub'), { recursive: true });
await fs.writeFile(path.join(root, 'canary', 'sub', 'keep.txt'), 'canary\n');
await fs.writeFile(path.join(root, 'canary', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');

const app = await buildTestApp(
  t,
  { workDir, maxConcurrentRuns: 2, maxAttachmentBytes: 8 * 1024 * 1024, maxAttachments: 20, maxFieldBytes: MAX_FIELD_BYTES },
  { logger: pino({ level: 'error' }, sink) },
);
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as AddressInfo).port;
const base = `http://127.0.0.1:${port}`;

// ---------------------------------------------------------------- the canary snapshot

interface Snapshot {
  rootTree: string[];
  workTop: Set<string>;
  storeTop: Set<string>;
  tmp: Set<string>;
  etcMtime: number;
  etc: Set<string>;
}

async function describeTree(dir: string, skip: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await listTree(dir)) {
    if (skip(rel)) continue;
    const st = await fs.lstat(path.join(dir, rel)).catch(() => null);
    out.push(st ? `${rel} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}` : `${rel} vanished`);
  }
  return out;
}

async function snapshot(): Promise<Snapshot> {
  const etc = await fs.stat('/etc');
  return {
    rootTree: await describeTree(root, (rel) => rel === 'work' || rel.startsWith(`work${path.sep}`)),
    workTop: new Set(await fs.readdir(workDir)),
    storeTop: new Set(await fs.readdir(app.ferry.config.stateStore).catch(() => [])),
    tmp: new Set(await fs.readdir(os.tmpdir())),
    etcMtime: etc.mtimeMs,
    etc: new Set(await fs.readdir('/etc')),
  };
}
const before = await snapshot();

// ---------------------------------------------------------------- bookkeeping

const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
const rng = new Rng(SEED);
const ctx: FuzzContext = {
  rng,
  marker: `fzmk${rng.hex(12)}`,
  echo,
  runIds: [],
  taskIds: [],
  tokens: [],
  big: Buffer.alloc(MAX_FIELD_BYTES + 2048, 'x'),
  maxFieldBytes: MAX_FIELD_BYTES,
};

interface Violation {
  n: number;
  kind: string;
  problem: string;
  desc: string;
  request: string;
  answer?: string;
  serverErrors?: string[];
}
const violations: Violation[] = [];
const stats = {
  sent: 0,
  byClass: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 } as Record<string, number>,
  byStatus: {} as Record<string, number>,
  closures: 0,
  closuresByKind: {} as Record<string, number>,
  aborted: 0,
  timeouts: 0,
  acceptedPlanned: 0,
  acceptedUnplanned: 0,
  acceptedByKind: {} as Record<string, number>,
  byKind: {} as Record<string, number>,
};
/** Run ids from every 200 to POST /runs. */
const accepted = new Set<string>();
/** Accepted runs a DELETE answered 200 for (the fuzzer reaches DELETE /runs/{id} with real run ids). */
const deleted = new Set<string>();

function preview(c: Case): string {
  if (c.transport === 'raw') {
    const all = Buffer.concat(c.chunks ?? []);
    const shown = all.subarray(0, 400).toString('latin1');
    return JSON.stringify(shown) + (all.length > 400 ? ` …(${all.length} bytes in all${c.after && c.after !== 'wait' ? `, then ${c.after.toUpperCase()}` : ''})` : c.after && c.after !== 'wait' ? ` then ${c.after.toUpperCase()}` : '');
  }
  return `fetch ${c.method} ${JSON.stringify(c.target.slice(0, 400))} headers ${JSON.stringify(c.headers ?? {})}${c.body ? ' with a body' : ''}`;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function violate(c: Case, problem: string, answer?: Answer, started?: number): void {
  const near = started === undefined ? [] : serverErrors.filter((e) => e.time >= started - 50).map((e) => e.text);
  violations.push({
    n: c.n,
    kind: c.kind,
    problem,
    desc: c.desc.slice(0, 300),
    request: preview(c),
    ...(answer ? { answer: `${answer.status} ${answer.headers['content-type'] ?? '(no content-type)'} ${JSON.stringify(answer.body.subarray(0, 300).toString('utf8'))}` } : {}),
    ...(near.length ? { serverErrors: [...new Set(near)].slice(0, 3) } : {}),
  });
}

/** The checks every single answer must pass. */
function checkAnswer(c: Case, a: Answer, head: boolean, started: number): void {
  const cls = `${Math.floor(a.status / 100)}xx`;
  stats.byClass[cls] = (stats.byClass[cls] ?? 0) + 1;
  stats.byStatus[a.status] = (stats.byStatus[a.status] ?? 0) + 1;
  if (a.status >= 500) violate(c, `server error ${a.status}`, a, started);
  if (a.status >= 400) {
    const type = a.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      violate(c, `error answer ${a.status} without a JSON content type`, a, started);
      return;
    }
    if (head) return;
    let body: unknown;
    try {
      body = JSON.parse(a.body.toString('utf8'));
    } catch {
      violate(c, `error answer ${a.status} whose body is not JSON`, a, started);
      return;
    }
    const b = body as Record<string, unknown>;
    const keys = typeof body === 'object' && body !== null ? Object.keys(b).sort() : [];
    if (keys.join(',') !== 'msg,status_code' || typeof b.msg !== 'string' || b.status_code !== a.status) {
      violate(c, `error body is not the WES ErrorResponse for ${a.status}`, a, started);
    }
  }
}

/** What an accepted answer tells us: run ids, task ids, page tokens to reuse. */
function harvest(c: Case, a: Answer): void {
  if (a.status !== 200) return;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return;
  }
  const token = body.next_page_token;
  if (typeof token === 'string' && token && ctx.tokens.length < 200) ctx.tokens.push({ kind: c.target.includes('/tasks') ? 'tasks' : 'runs', token });
  if (Array.isArray(body.task_logs)) {
    for (const task of body.task_logs as { id?: unknown }[]) if (typeof task.id === 'string' && !ctx.taskIds.includes(task.id) && ctx.taskIds.length < 200) ctx.taskIds.push(task.id);
  }
}

/**
 * Event-loop stalls. The server runs in this process, so a request whose
 * handling blocks the loop for seconds shows here, and the requests in flight
 * at that moment are the suspects (the culprit's answer is only written after
 * the stall, so it is still in flight when the next tick runs). A stall counts
 * by the CPU time the process burnt during it, not by the wall clock: on a
 * busy machine the process also waits for a core, and that is not the
 * server's doing.
 */
const inFlight = new Set<Case>();
let worstStall = { ms: 0, wallMs: 0, during: [] as string[] };
let lastTick = performance.now();
let lastCpu = process.cpuUsage();
const stallSampler = setInterval(() => {
  const now = performance.now();
  const cpuNow = process.cpuUsage();
  const wall = now - lastTick - 50;
  const cpu = (cpuNow.user - lastCpu.user + cpuNow.system - lastCpu.system) / 1000;
  lastTick = now;
  lastCpu = cpuNow;
  const stall = Math.round(Math.min(wall, cpu));
  if (stall > worstStall.ms) worstStall = { ms: stall, wallMs: Math.round(wall), during: [...inFlight].map((c) => `#${c.n} ${c.kind}: ${c.desc.slice(0, 120)}`) };
  // Timing is reported (see the summary comment), never failed on: machines here are noisy.
}, 50);
t.teardown(() => clearInterval(stallSampler));

async function perform(c: Case): Promise<void> {
  inFlight.add(c);
  try {
    await performOne(c);
  } finally {
    inFlight.delete(c);
  }
}

async function performOne(c: Case): Promise<void> {
  stats.sent++;
  stats.byKind[c.kind] = (stats.byKind[c.kind] ?? 0) + 1;
  const started = Date.now();
  const head = c.method === 'HEAD';
  let answers: Answer[] = [];
  if (c.transport === 'raw') {
    const res = await rawExchange(c.chunks ?? [], { host: '127.0.0.1', port, after: c.after ?? 'wait', timeoutMs: c.timeoutMs ?? 120_000, chunkDelayMs: c.chunkDelayMs });
    const { responses } = parseResponses(res.data, head);
    answers = responses;
    if (answers.length === 0) {
      if (c.after === 'rst') {
        stats.aborted++;
        return;
      }
      if (res.end === 'timeout') {
        stats.timeouts++;
        violate(c, `no answer within ${c.timeoutMs ?? 120_000} ms (socket hang)`, undefined, started);
        return;
      }
      if (c.closureOk) {
        stats.closures++;
        stats.closuresByKind[c.desc.replace(/\d+/g, 'N').slice(0, 60)] = (stats.closuresByKind[c.desc.replace(/\d+/g, 'N').slice(0, 60)] ?? 0) + 1;
        return;
      }
      violate(c, `connection closed without an answer (${res.end}${res.error ? ` ${res.error}` : ''}, ${res.data.length} bytes: ${JSON.stringify(res.data.subarray(0, 120).toString('latin1'))})`, undefined, started);
      return;
    }
    if (c.expectResponses && answers.length < c.expectResponses) violate(c, `${answers.length} answers to ${c.expectResponses} pipelined requests`, answers[0], started);
  } else {
    try {
      const res = await fetch(base + c.target, {
        method: c.method,
        headers: c.headers,
        body: c.body as string | Buffer | FormData | undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(c.timeoutMs ?? 120_000),
      });
      answers = [{ status: res.status, headers: Object.fromEntries(res.headers.entries()), body: Buffer.from(await res.arrayBuffer()) }];
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError') stats.timeouts++;
      violate(c, `fetch failed: ${e.name} ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`, undefined, started);
      return;
    }
  }
  answers.forEach((a, i) => checkAnswer(c, a, head && i === 0, started));
  const a = answers[0]!;
  if (c.submit && a.status === 200) {
    let runId: unknown;
    try {
      runId = (JSON.parse(a.body.toString('utf8')) as { run_id?: unknown }).run_id;
    } catch {
      runId = undefined;
    }
    if (typeof runId !== 'string' || !RUN_ID.test(runId)) {
      violate(c, 'POST /runs answered 200 without a run id', a, started);
    } else {
      accepted.add(runId);
      ctx.runIds.push(runId);
      if (c.valid) stats.acceptedPlanned++;
      else stats.acceptedUnplanned++;
      stats.acceptedByKind[c.kind] = (stats.acceptedByKind[c.kind] ?? 0) + 1;
    }
  } else if (c.valid) {
    violate(c, `a valid submission was refused with ${a.status}`, a, started);
  }
  if (c.method === 'DELETE' && a.status === 200) {
    let runId: unknown;
    try {
      runId = (JSON.parse(a.body.toString('utf8')) as { run_id?: unknown }).run_id;
    } catch {
      runId = undefined;
    }
    if (typeof runId === 'string' && accepted.has(runId)) deleted.add(runId);
    else violate(c, 'DELETE answered 200 without the id of a run it accepted', a, started);
  }
  if (c.harvest) harvest(c, a);
}

async function healthy(): Promise<string | null> {
  try {
    const res = await fetch(`${base}/engine/v1/status`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return res.status === 200 && text === 'OK' ? null : `health check answered ${res.status} ${JSON.stringify(text.slice(0, 100))}`;
  } catch (err) {
    return `health check failed: ${(err as Error).message}`;
  }
}

// ---------------------------------------------------------------- the run

const startedAt = Date.now();
t.test(`${COUNT} hostile requests`, async (t) => {
  let n = 0;
  let down: string | null = null;
  // First every route with every method and content type, then the random stream.
  const swept = sweep(ctx);
  while (n < COUNT && !down) {
    const batch: Case[] = [];
    for (let i = 0; i < BATCH && n < COUNT; i++) {
      try {
        const fixed = swept[n];
        batch.push(fixed ? { n: ++n, ...fixed } : generate(ctx, ++n));
      } catch (err) {
        violations.push({ n, kind: 'fuzzer', problem: `the generator itself failed: ${(err as Error).stack ?? String(err)}`, desc: '', request: '' });
      }
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < batch.length) {
          const c = batch[next++]!;
          try {
            await perform(c);
          } catch (err) {
            violate(c, `the fuzzer itself failed: ${(err as Error).stack ?? String(err)}`);
          }
        }
      }),
    );
    down = await healthy();
    if (down) violations.push({ n, kind: 'health', problem: `server unhealthy after request ${n}: ${down}`, desc: '', request: '' });
  }
  t.notOk(down, 'the server answered its health check after every batch');
});

t.test('nothing was written outside the work folder', async (t) => {
  // Answers go out before aborted uploads finish cleaning up: give them a moment.
  const staging = path.join(workDir, '.staging');
  for (let i = 0; i < 100 && (await listTree(staging)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  const left = await listTree(staging);
  // Known issue: a multipart upload whose client vanishes mid-body can leave
  // its staging folder until the next start (which clears .staging). Such
  // folders are never runs and never outside the work folder; reported, not failed.
  if (left.length) t.comment(`known issue: .staging keeps ${left.length} entries from client-aborted uploads: ${JSON.stringify(left.slice(0, 12))}`);

  const after = await snapshot();
  const problems: string[] = [];
  const rootTree = new Set(after.rootTree);
  const gone = before.rootTree.filter((e) => !rootTree.has(e));
  const added = after.rootTree.filter((e) => !before.rootTree.includes(e));
  if (gone.length || added.length) problems.push(`next to the work folder: changed or removed ${JSON.stringify(gone.slice(0, 5))}, new ${JSON.stringify(added.slice(0, 5))}`);
  for (const e of after.workTop) {
    if (!before.workTop.has(e) && !(RUN_ID.test(e) && accepted.has(e)) && e !== '.staging' && e !== '.locks') problems.push(`new entry in the work folder: ${JSON.stringify(e)}`);
  }
  for (const e of after.storeTop) {
    if (!before.storeTop.has(e) && !(RUN_ID.test(e) && accepted.has(e)) && !['.index', '.locks', '.active', '.journal', '.deleting'].includes(e)) problems.push(`new entry in the state store: ${JSON.stringify(e)}`);
  }
  const ferryish = /^(run-[0-9a-f]{32}|execution|state_store|\.staging|wes_inputs\.json|request\.json|outputs)$/;
  for (const e of after.tmp) {
    if (!before.tmp.has(e) && (e.includes(ctx.marker) || ferryish.test(e))) problems.push(`new entry in ${os.tmpdir()}: ${JSON.stringify(e)}`);
  }
  if (after.etcMtime !== before.etcMtime) problems.push('/etc was modified');
  for (const e of after.etc) if (!before.etc.has(e)) problems.push(`new entry in /etc: ${e}`);
  // The marker rides on every name that tries to climb out: it may only ever land inside a run's execution folder.
  for (const dir of ['/', '/etc', '/tmp', os.tmpdir(), os.homedir(), process.cwd(), path.join(process.cwd(), 'tests'), path.dirname(root), root]) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) if (name.includes(ctx.marker)) problems.push(`escaped file ${path.join(dir, name)}`);
  }
  for (const rel of await listTree(workDir)) {
    if (rel.includes(ctx.marker) && !/^run-[0-9a-f]{32}\/execution\//.test(rel)) problems.push(`marker outside a run's execution folder: work/${rel.slice(0, 200)}`);
  }
  for (const p of problems) violations.push({ n: 0, kind: 'canary', problem: p, desc: '', request: '' });
  t.same(problems, [], 'no file appeared, changed or vanished outside the work folder');
});

t.test('no run was created by a rejected request', async (t) => {
  const listed = new Set<string>();
  let token = '';
  for (let page = 0; page < 10_000; page++) {
    const res = await fetch(`${base}/ga4gh/wes/v1/runs?page_size=7${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    t.equal(res.status, 200, 'GET /runs pages');
    const body = (await res.json()) as { runs: { run_id: string }[]; next_page_token: string };
    for (const r of body.runs) listed.add(r.run_id);
    token = body.next_page_token;
    if (!token) break;
  }
  const kept = [...accepted].filter((id) => !deleted.has(id));
  t.equal(listed.size, kept.length, `GET /runs lists ${listed.size} runs; POST /runs answered 200 ${accepted.size} times, DELETE ${deleted.size}`);
  const ghosts = [...listed].filter((id) => !accepted.has(id) || deleted.has(id));
  const lost = kept.filter((id) => !listed.has(id));
  t.same(ghosts, [], 'no listed run came from a refused request or was deleted');
  t.same(lost, [], 'every accepted run not deleted is listed');
  if (ghosts.length || lost.length || listed.size !== kept.length) {
    violations.push({ n: 0, kind: 'runs', problem: `runs listed ${listed.size} vs accepted ${accepted.size} less ${deleted.size} deleted; ghosts ${ghosts.slice(0, 3).join(',')}; lost ${lost.slice(0, 3).join(',')}`, desc: '', request: '' });
  }
  for (const id of deleted) {
    const res = await fetch(`${base}/ga4gh/wes/v1/runs/${id}/status`);
    t.equal(res.status, 404, `a deleted run is not found: ${id}`);
    t.notOk(await fs.access(path.join(workDir, id)).then(() => true, () => false), `nor its folder: ${id}`);
  }

  // Stop what still runs, so the work folder can go.
  for (const id of kept) {
    const s = (await (await fetch(`${base}/ga4gh/wes/v1/runs/${id}/status`)).json()) as { state: string };
    if (!TERMINAL.has(s.state)) await fetch(`${base}/ga4gh/wes/v1/runs/${id}/cancel`, { method: 'POST' });
  }
  const deadline = Date.now() + 60_000;
  for (const id of kept) {
    while (Date.now() < deadline) {
      const s = (await (await fetch(`${base}/ga4gh/wes/v1/runs/${id}/status`)).json()) as { state: string };
      if (TERMINAL.has(s.state)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

t.test('summary', async (t) => {
  const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
  const c = stats.byClass;
  t.comment(
    `fuzz summary: seed=${SEED} requests=${stats.sent} 2xx=${c['2xx']} 3xx=${c['3xx']} 4xx=${c['4xx']} 5xx=${c['5xx']} ` +
      `closed-without-answer=${stats.closures} client-aborted=${stats.aborted} timeouts=${stats.timeouts} ` +
      `runs-accepted=${accepted.size} deleted=${deleted.size} (planned ${stats.acceptedPlanned}, by chance ${stats.acceptedUnplanned}) violations=${violations.length} in ${secs}s`,
  );
  t.comment(`longest event-loop stall ${worstStall.ms} ms busy (${worstStall.wallMs} ms by the clock), with in flight: ${JSON.stringify(worstStall.during.slice(0, 6))}`);
  t.comment(`statuses ${JSON.stringify(stats.byStatus)}; kinds ${JSON.stringify(stats.byKind)}; accepted by kind ${JSON.stringify(stats.acceptedByKind)}`);
  if (stats.closures) t.comment(`closed without an answer (acceptable for broken HTTP framing): ${JSON.stringify(stats.closuresByKind)}`);
  if (violations.length) {
    const groups = new Map<string, Violation[]>();
    for (const v of violations) {
      const key = `${v.kind}: ${v.problem.replace(/\d+/g, 'N').slice(0, 90)}`;
      groups.set(key, [...(groups.get(key) ?? []), v]);
    }
    t.comment(`violations by kind: ${JSON.stringify(Object.fromEntries([...groups].map(([k, vs]) => [k, vs.length])))}`);
    // A few examples of each kind, each with what replays it.
    for (const vs of groups.values()) {
      for (const v of vs.slice(0, 3)) {
        t.comment(`#${v.n} [${v.kind}] ${v.problem} | ${v.desc} | request ${v.request.slice(0, 400)}${v.answer ? ` | answer ${v.answer}` : ''}${v.serverErrors ? ` | server log ${JSON.stringify(v.serverErrors)}` : ''}`);
      }
    }
    const distinct = [...new Set(serverErrors.map((e) => e.text.replace(/\/tmp\/\S+/g, '<path>')))];
    if (distinct.length) t.comment(`distinct server errors: ${JSON.stringify(distinct.slice(0, 20))}`);
  }
  t.equal(violations.length, 0, `no violations (seed ${SEED})`);
});
