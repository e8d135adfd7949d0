/**
 * The servers under test, as real processes: a private build of Ferry, `ferry serve` started and
 * timed until it answers, and the bare Fastify ceiling (ceiling.ts) it is measured against.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { childEnv, ROOT, WES, type BenchContext } from './context.js';
import { freePort, getJson, request, run, sleep, spawnLogged, stopChild } from './lib.js';

/** A file of the private build. */
export const out = (ctx: BenchContext, p: string): string => path.join(ctx.buildDir, 'out', p);

/** Compiles src/ (as `npm run build` does) and the helpers into a private folder. */
export async function build(ctx: BenchContext): Promise<void> {
  await fs.mkdir(ctx.buildDir, { recursive: true });
  const tsconfig = {
    extends: path.join(ROOT, 'tsconfig.json'),
    compilerOptions: { outDir: path.join(ctx.buildDir, 'out'), rootDir: ROOT, noEmitOnError: false },
    include: [path.join(ROOT, 'src'), path.join(ROOT, 'generated'), path.join(ROOT, 'scripts', 'bench')],
  };
  await fs.writeFile(path.join(ctx.buildDir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const t = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ctx.buildDir, 'tsconfig.json')], { cwd: ROOT });
  if (!existsSync(out(ctx, 'src/cli.js')) || !existsSync(out(ctx, 'scripts/bench/load.js'))) throw new Error(`build failed:\n${t.stdout}${t.stderr}`);
  if (t.code !== 0) ctx.notes.push(`tsc reported type errors (emitted anyway; src/ is being edited?):\n${t.stdout.split('\n').slice(0, 5).join('\n')}`);
  if (ctx.opts.server !== 'bundle') return;
  // The one-file CLI, as `npm run build` makes dist/ferry.mjs (what `make serve` runs).
  const b = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'bundle.ts'), out(ctx, 'src/cli.js'), out(ctx, 'ferry.mjs')], { cwd: ROOT });
  if (b.code !== 0 || !existsSync(out(ctx, 'ferry.mjs'))) throw new Error(`bundle failed:\n${b.stdout}${b.stderr}`);
}

function ferryEntry(ctx: BenchContext): string[] {
  if (ctx.opts.server === 'tsx') return ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts')];
  return [out(ctx, ctx.opts.server === 'bundle' ? 'ferry.mjs' : 'src/cli.js')];
}

export interface Ferry {
  child: ChildProcess;
  pid: number;
  base: string;
  root: string;
  workDir: string;
  startupMs: number;
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

/**
 * Starts `ferry serve` and times it: spawn → first 200 on /engine/v1/status. `extra` are more
 * flags of `serve`, `env` more environment (beside what childEnv gives every process).
 */
export async function startFerry(ctx: BenchContext, name: string, workDir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Ferry> {
  const port = await freePort();
  const cpuProf = ctx.opts.cpuProf;
  const prof = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProf)}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  const args = [...prof, ...ferryEntry(ctx), 'serve', '--host', '127.0.0.1', '--port', String(port), '--work-dir', workDir, '--log-level', 'warn', ...extra];
  const t0 = process.hrtime.bigint();
  const child = spawnLogged(process.execPath, args, path.join(ctx.tmpRoot, `${name}.log`), { cwd: ctx.tmpRoot, env: childEnv(ctx, env), detached: true });
  ctx.servers.push(child);
  const root = `http://127.0.0.1:${port}`;
  const startupMs = await waitUp(child, `${root}/engine/v1/status`, path.join(ctx.tmpRoot, `${name}.log`), t0);
  return { child, pid: child.pid!, base: root + WES, root, workDir, startupMs };
}

/**
 * Waits until a server that has just answered is done starting: its engine probes (each engine's
 * --version and Toil's Python, run after the first answer) have all reported in service-info, and
 * its first standby supervisor (started half a second after the start) has had time to load. A
 * start-up timed while another server still starts would measure the two sharing the cores.
 */
export async function settle(f: Ferry): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const info = await getJson<{ workflow_engine_versions: Record<string, { workflow_engine_version: string[] }> }>(`${f.base}/service-info`);
    if (Object.values(info.workflow_engine_versions).every((v) => v.workflow_engine_version.length > 0)) break;
    if (Date.now() > deadline) throw new Error(`${f.root}: the engine versions were still unknown after 120 s`);
    await sleep(100);
  }
  await sleep(1500);
}

/** Stops a server startFerry started. */
export async function stopFerry(ctx: BenchContext, f: Ferry): Promise<void> {
  await stopChild(f.child);
  ctx.servers.splice(ctx.servers.indexOf(f.child), 1);
}

/** The bare Fastify server; `bodies` are the constant JSON objects it answers with. */
export async function startCeiling(ctx: BenchContext, bodies: { status: unknown; log: unknown }): Promise<{ root: string; pid: number }> {
  if (ctx.ceiling) await stopChild(ctx.ceiling.child);
  const port = await freePort();
  const bodiesFile = path.join(ctx.tmpRoot, 'ceiling-bodies.json');
  await fs.writeFile(bodiesFile, JSON.stringify(bodies));
  const uploads = path.join(ctx.tmpRoot, 'ceiling-uploads');
  await fs.mkdir(uploads, { recursive: true });
  const t0 = process.hrtime.bigint();
  const child = spawnLogged(process.execPath, [out(ctx, 'scripts/bench/ceiling.js'), String(port), bodiesFile, uploads], path.join(ctx.tmpRoot, 'ceiling.log'), { cwd: ctx.tmpRoot, env: childEnv(ctx), detached: true });
  ctx.servers.push(child);
  const root = `http://127.0.0.1:${port}`;
  await waitUp(child, `${root}/engine/v1/status`, path.join(ctx.tmpRoot, 'ceiling.log'), t0);
  ctx.ceiling = { child, root, bodies: bodiesFile };
  return { root, pid: child.pid! };
}
