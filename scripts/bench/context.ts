/**
 * What one bench run shares across its sections: its options, its temp and build folders, the
 * marker every process it starts carries, the servers still up, and the rows and notes of the
 * table it prints. Also the cleanup that ends all of it, whatever happened.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { findProcessesByEnv, processGroup, signalQuietly } from '../../src/util/process.js';
import { children, sleep, stopChild, type Row } from './lib.js';
import type { BenchOptions } from './options.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WES = '/ga4gh/wes/v1';
export const TERMINAL = ['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'];

/** A path under the repository root (fixtures). */
export const fixture = (...p: string[]): string => path.join(ROOT, ...p);

/** The bare Fastify server (ceiling.ts) while it runs; `bodies` is the file of its constant answers. */
export interface Ceiling {
  child: ChildProcess;
  root: string;
  bodies: string;
}

export interface BenchContext {
  opts: BenchOptions;
  benchId: string;
  tmpRoot: string;
  /** Private compiled output (under node_modules/.cache, see scripts/bench.ts). */
  buildDir: string;
  /** Servers still up, stopped by cleanup if a section did not. */
  servers: ChildProcess[];
  ceiling: Ceiling | null;
  rows: Row[];
  notes: string[];
  raw: Record<string, unknown>;
  /**
   * What cleanup also undoes, last first, once the processes are gone and before the temp folder
   * goes (a cluster the run held, jobs it left there). Each must be safe to call twice.
   */
  finalizers: (() => Promise<void>)[];
}

/** Makes the run's temp folder and names its build folder. */
export async function createContext(opts: BenchOptions): Promise<BenchContext> {
  const benchId = randomBytes(8).toString('hex');
  return {
    opts,
    benchId,
    tmpRoot: await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-bench-')),
    buildDir: path.join(ROOT, 'node_modules', '.cache', `ferry-bench-${benchId}`),
    servers: [],
    ceiling: null,
    rows: [],
    notes: [],
    raw: {},
    finalizers: [],
  };
}

/** Progress on stderr, so that stdout is only the table. */
export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The environment of every process we start: ours less FERRY_* settings, plus the marker cleanup looks for. */
export function childEnv(ctx: BenchContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FERRY_')) env[k] = v;
  return { ...env, FERRY_BENCH_ID: ctx.benchId, ...extra };
}

const cleaned = new WeakSet<BenchContext>();

/** Ends everything the run started and removes its folders (unless --keep); safe to call twice. */
export async function cleanup(ctx: BenchContext): Promise<void> {
  if (cleaned.has(ctx)) return;
  cleaned.add(ctx);
  for (const s of ctx.servers) await stopChild(s, 5000).catch(() => undefined);
  for (const c of [...children]) c.kill('SIGKILL');
  // Run supervisors, engines and tools: they carry our marker, or live in our temp folder.
  for (let round = 0; round < 20; round++) {
    const pids = await findProcessesByEnv([`FERRY_BENCH_ID=${ctx.benchId}`], [`HOME=${ctx.tmpRoot}/`, `TMPDIR=${ctx.tmpRoot}/`]);
    if (pids.length === 0) break;
    const own = await processGroup(process.pid);
    for (const pid of pids) {
      const group = await processGroup(pid);
      if (group !== null && group > 1 && group !== own) signalQuietly(-group, 'SIGKILL');
      signalQuietly(pid, 'SIGKILL');
    }
    await sleep(100);
  }
  for (const fn of [...ctx.finalizers].reverse()) await fn().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  if (ctx.opts.keep) log(`kept ${ctx.tmpRoot}`);
  else await fs.rm(ctx.tmpRoot, { recursive: true, force: true, maxRetries: 10, retryDelay: 300 }).catch((err: unknown) => log(`could not remove ${ctx.tmpRoot}: ${String(err)}`));
  await fs.rm(ctx.buildDir, { recursive: true, force: true }).catch(() => undefined);
}
