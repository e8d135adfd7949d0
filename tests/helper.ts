import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppParts } from '../src/app.js';
import { makeConfig, type FerryConfig } from '../src/config/config.js';
import { findRunProcesses, killRunProcesses } from '../src/tasks/run-processes.js';
import { RESERVE_FILE } from '../src/tasks/workflow-task.js';
import { journalDir } from '../src/runs/submission-journal.js';

import type { Test } from 'tap';

type Tap = Pick<Test, 'teardown' | 'fail'>;

export const fixturesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const workflowsDir = path.join(fixturesDir, 'workflows');

/** A temp folder removed when the test ends. */
export async function tempDir(t: Tap, prefix = 'ferry-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  // As a folder an administrator shares with runs: a root server's runs are the unprivileged user, who must get through it.
  await fs.chmod(dir, 0o755);
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The real app over a temp work folder, with responses checked strictly
 * against the spec. Closed (and its runs stopped) when the test ends.
 */
export async function buildTestApp(t: Tap, overrides: Partial<FerryConfig> = {}, parts: AppParts = {}): Promise<FastifyInstance> {
  const ownDir = overrides.workDir === undefined;
  const workDir = overrides.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-test-')));
  const config = makeConfig({ logLevel: 'silent', validateResponses: 'throw', cancelGraceMs: 3000, ...overrides, workDir });
  // Service-info here waits for the engines' version probes (the server answers after 200 ms with what it has: see tests/api/first-answer.test.ts).
  const app = await buildApp(config, { probeWaitMs: 120_000, ...parts });
  // One teardown, in order: stop the server, then the runs (they outlive the
  // server by design, but not the test), then remove the folder.
  t.teardown(async () => {
    await app.close();
    await killAllRuns(config.workDir);
    if (ownDir) await fs.rm(workDir, { recursive: true, force: true, maxRetries: 5 });
  });
  return app;
}

/**
 * Kills every process of every run in a work folder, and first the run
 * supervisors serving it (`ferry run-task … --work-dir <workDir>`): they
 * outlive the server by design, and one whose engine is killed would go on
 * writing the run's end into the folder while the test removes it.
 */
export async function killAllRuns(workDir: string): Promise<void> {
  for (const pid of await supervisorsOf(workDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const entries = await fs.readdir(workDir).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.startsWith('run-')).map((runId) => killRunProcesses(runId, path.join(workDir, runId))));
}

/** Pids of the run supervisors (standby or not) started for `workDir`, from /proc. */
export async function supervisorsOf(workDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').then((s) => s.split('\0'), () => [] as string[]);
    const at = argv.indexOf('--work-dir');
    if (argv.includes('run-task') && at >= 0 && argv[at + 1] === workDir) pids.push(Number(name));
  }
  return pids;
}

/**
 * Injects a request and checks that the response is what the spec says the
 * operation answers with that status (errors included, as ErrorResponse).
 */
export async function call(t: Tap, app: FastifyInstance, opts: InjectOptions): Promise<LightMyRequestResponse> {
  const res = await app.inject(opts);
  const contentType = String(res.headers['content-type'] ?? '');
  if (contentType.startsWith('application/json')) {
    const body: unknown = res.json();
    const api = app.ferry.api;
    const url = new URL(String(opts.url ?? '/'), 'http://x');
    const operation = api.router.matchOperation({ method: String(opts.method ?? 'GET'), path: url.pathname, headers: {} });
    if (res.statusCode >= 400) {
      const b = body as { msg?: unknown; status_code?: unknown };
      if (typeof b.msg !== 'string' || b.status_code !== res.statusCode || Object.keys(b).length !== 2) {
        t.fail(`error body is not the WES ErrorResponse: ${res.body}`);
      }
    }
    if (operation) {
      const declared = operation.responses?.[String(res.statusCode)];
      if (declared) {
        const check = api.validateResponse(body, operation, res.statusCode);
        if (check.errors?.length) t.fail(`response does not match the spec for ${operation.operationId} ${res.statusCode}`, { diagnostic: true, errors: check.errors, body });
      }
    }
  }
  return res;
}

export interface FilePart {
  filename: string;
  content: string | Buffer;
  field?: string;
}

/** A multipart/form-data body, built by hand so tests control every byte. */
export function multipart(fields: Record<string, string>, files: FilePart[] = []): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----ferry${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const f of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${f.field ?? 'workflow_attachment'}"; filename="${f.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    );
    chunks.push(Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Attachments from a fixture folder, names relative to it (sub-folders kept). */
export async function attachFolder(dir: string): Promise<FilePart[]> {
  const out: FilePart[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.push({ filename: path.relative(dir, full), content: await fs.readFile(full) });
    }
  };
  await walk(dir);
  return out;
}

/** POSTs a run; returns the response. */
export function submit(t: Tap, app: FastifyInstance, fields: Record<string, string>, files: FilePart[] = []): Promise<LightMyRequestResponse> {
  const { payload, headers } = multipart(fields, files);
  return call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload, headers });
}

const TERMINAL = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];

/** Polls the run's status until it is in one of `states` (default: any terminal one). */
export async function waitForState(t: Tap, app: FastifyInstance, runId: string, states = TERMINAL, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` });
    state = (res.json() as { state: string }).state;
    if (states.includes(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} still ${state} after ${timeoutMs} ms`);
}

/** Every entry of a folder tree, relative paths, sorted. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(d, e.name);
      out.push(path.relative(dir, full));
      if (e.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/**
 * Waits until a finished run's supervisor has tidied up after it: its status
 * shows the end before its disk reserves and its active-run marker are gone.
 */
export async function waitForRunTidy(workDir: string, stateStore: string, runId: string): Promise<void> {
  const left = [path.join(workDir, runId, RESERVE_FILE), path.join(stateStore, runId, RESERVE_FILE), path.join(stateStore, '.active', runId)];
  for (let i = 0; i < 300; i++) {
    const there = await Promise.all(left.map((f) => fs.access(f).then(() => true, () => false)));
    if (!there.includes(true)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} still has its reserves or its active-run marker 30 s after it ended`);
}

/** A run's engine and tool processes (its supervisor, a `ferry run-task`, not counted). */
export async function engineProcesses(workDir: string, runId: string): Promise<number[]> {
  const pids = await findRunProcesses(runId, path.join(workDir, runId));
  const cmdlines = await Promise.all(pids.map((pid) => fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  return pids.filter((_, i) => !cmdlines[i]!.split('\0').includes('run-task'));
}

/** Waits until the run's engine runs its tool (`want` processes: the engine and the tool). */
export async function waitForEngine(workDir: string, runId: string, want = 2): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await engineProcesses(workDir, runId)).length >= want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} never started its engine`);
}

/** Where on this machine an output's URL (a `location` in a run log) points: inside the run's outputs folder. */
export function outputPath(app: FastifyInstance, location: string): string {
  const m = /\/ga4gh\/wes\/v1\/runs\/([^/]+)\/outputs\/(.+)$/.exec(new URL(location).pathname);
  if (!m) throw new Error(`not an output URL: ${location}`);
  return path.join(app.ferry.config.workDir, decodeURIComponent(m[1]!), 'outputs', ...m[2]!.split('/').map(decodeURIComponent));
}

/**
 * Every route of one run but DELETE (which ends it), as a client calls it:
 * the ownership and deletion tests go through each, so a route added later
 * belongs here.
 */
export const runRoutes = (runId: string): { method: 'GET' | 'POST'; url: string }[] => [
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks/1` },
  { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stdout` },
  { method: 'GET', url: `/toil/wes/v1/logs/${runId}/stderr` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs/output.txt` },
  { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs.zip` },
  { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel` },
];

/** The journal's files as they are now, as a machine crash would leave them. */
export async function snapshotJournal(stateStore: string): Promise<Map<string, Buffer>> {
  const dir = journalDir(stateStore);
  const names = await fs.readdir(dir).catch((): string[] => []);
  return new Map(await Promise.all(names.map(async (n) => [n, await fs.readFile(path.join(dir, n))] as const)));
}

/** Puts back what snapshotJournal took. */
export async function restoreJournal(stateStore: string, saved: Map<string, Buffer>): Promise<void> {
  const dir = journalDir(stateStore);
  await fs.mkdir(dir, { recursive: true });
  for (const [n, data] of saved) await fs.writeFile(path.join(dir, n), data);
}
