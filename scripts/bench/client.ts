/**
 * How the bench talks to the servers under test: load from autocannon in a child process
 * (load.ts), and the few WES calls a section needs (submit a run, wait for a state).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { childEnv, TERMINAL, type BenchContext } from './context.js';
import { out, type Ferry } from './ferry-process.js';
import { getJson, multipartBody, request, run, sleep } from './lib.js';

/** What load.ts prints for the measured run. */
export interface LoadResult {
  total: number; rps: number; ok2xx: number; ok2xxPerSecond: number; non2xx: number; errors: number; timeouts: number; p50: number; p99: number; seconds: number; bytesPerRequest: number;
}

/** autocannon in a child process: warm-up, then the measured run. */
export async function load(ctx: BenchContext, url: string, extra: { method?: 'POST'; headers?: Record<string, string>; bodyFile?: string } = {}): Promise<LoadResult> {
  const opts = { url, connections: ctx.opts.connections, duration: ctx.opts.duration, warmup: ctx.opts.warmup, ...extra };
  const r = await run(process.execPath, [out(ctx, 'scripts/bench/load.js'), JSON.stringify(opts)], { env: childEnv(ctx) });
  if (r.code !== 0) throw new Error(`load generator failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadResult;
}

/** POST /runs with the given form fields and files; returns the run id. */
export async function submit(f: Ferry, fields: Record<string, string>, files: { name: string; file: string }[], headers: Record<string, string> = {}): Promise<string> {
  const loaded = await Promise.all(files.map(async (x) => ({ name: x.name, content: await fs.readFile(x.file) })));
  const { body, contentType } = multipartBody(fields, loaded);
  const res = await request(`${f.base}/runs`, { method: 'POST', headers: { ...headers, 'content-type': contentType }, body });
  if (res.status !== 200) throw new Error(`submission refused: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { run_id: string }).run_id;
}

/** Polls the run's status until it is one of `states`; another terminal state or the timeout is an error. */
export async function waitState(f: Ferry, runId: string, states: string[], pollMs: number, timeoutMs = 600_000, headers: Record<string, string> = {}): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = await getJson<{ state: string }>(`${f.base}/runs/${runId}/status`, headers);
    if (states.includes(state)) return state;
    if (TERMINAL.includes(state)) throw new Error(`run ${runId} ended ${state}: ${(await request(`${f.base}/runs/${runId}`)).body.slice(0, 2000)}`);
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${state}`);
    await sleep(pollMs);
  }
}

/** The file an output URL of a run names, in the run's folder of `f`'s work folder. */
export function localOutput(f: Ferry, runId: string, location: string): string {
  const marker = `/runs/${runId}/outputs/`;
  const at = location.indexOf(marker);
  if (at < 0) throw new Error(`output location ${location} is not under ${marker}`);
  const relative = location.slice(at + marker.length).split('/').map(decodeURIComponent);
  return path.join(f.workDir, runId, 'outputs', ...relative);
}
