/**
 * How soon a fresh server answers, as an operator starts it:
 *
 *   npx tsx scripts/bench/first-answer.ts [--rounds 7] [--build]
 *
 * Each round starts `node dist/ferry.mjs serve` (the one-file build `make serve` runs; `--build`
 * makes it first, as does its absence) on a free port over an empty work folder, and from the spawn on asks
 * `GET /ga4gh/wes/v1/service-info` every 5 ms until it answers 200: the first answer. It then
 * goes on asking until service-info shows every engine's version (the probes that run in the
 * background). Printed per round and as medians: wall-clock times from the spawn, and the CPU
 * time the server process had used by its first answer (from /proc: what the start costs,
 * whatever else the machine is doing), with the machine's load average. Not a test: nothing
 * is asserted about times.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, build: { type: 'boolean', default: false } } });
const ROUNDS = Number(values.rounds);
const cli = path.join(root, 'dist', 'ferry.mjs');
if (values.build || !fs.existsSync(cli)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const TICKS = 100; // clock ticks a second (Linux's USER_HZ)

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Round {
  firstMs: number;
  serviceInfoMs: number;
  cpuMs: number;
  versionsMs: number;
  firstVersions: string;
}

async function round(): Promise<Round> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-first-answer-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'serve', '--port', String(port), '--work-dir', workDir, '--metrics-listen', 'off', '--log-level', 'warn'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/ga4gh/wes/v1/service-info`;
  let firstMs = NaN;
  let cpuMs = NaN;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/engine/v1/status`).catch(() => null);
    if (res?.status === 200) {
      firstMs = performance.now() - started;
      cpuMs = cpuSeconds(child.pid!) * 1000;
      break;
    }
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const versions = (body: { workflow_engine_versions: Record<string, { workflow_engine_version: string[] }> }): string =>
    Object.entries(body.workflow_engine_versions).map(([name, v]) => `${name} ${v.workflow_engine_version.join(',') || '…'}`).join('; ');
  try {
    let first: Round | undefined;
    for (;;) {
      const res = await fetch(url).catch(() => null);
      if (res?.status === 200) {
        const now = performance.now();
        const body = (await res.json()) as Parameters<typeof versions>[0];
        if (!first) first = { firstMs, serviceInfoMs: now - started, cpuMs, versionsMs: NaN, firstVersions: versions(body) };
        if (Object.values(body.workflow_engine_versions).every((v) => v.workflow_engine_version.length > 0)) return { ...first, versionsMs: now - started };
      }
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, first ? 50 : 5));
    }
  } finally {
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    await exit;
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rounds: Round[] = [];
console.log(`first answer of a fresh server (${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
console.log('round  first answer  CPU by then  service-info  all versions  what service-info showed first');
for (let i = 1; i <= ROUNDS; i++) {
  const r = await round();
  rounds.push(r);
  console.log(`${String(i).padStart(5)}  ${r.firstMs.toFixed(0).padStart(9)} ms  ${r.cpuMs.toFixed(0).padStart(8)} ms  ${r.serviceInfoMs.toFixed(0).padStart(9)} ms  ${r.versionsMs.toFixed(0).padStart(9)} ms  ${r.firstVersions}`);
}
console.log(
  `median ${median(rounds.map((r) => r.firstMs)).toFixed(0).padStart(9)} ms  ${median(rounds.map((r) => r.cpuMs)).toFixed(0).padStart(8)} ms  ${median(rounds.map((r) => r.serviceInfoMs)).toFixed(0).padStart(9)} ms  ${median(rounds.map((r) => r.versionsMs)).toFixed(0).padStart(9)} ms` +
    `   (min first answer ${Math.min(...rounds.map((r) => r.firstMs)).toFixed(0)} ms; load average now ${os.loadavg()[0]!.toFixed(1)})`,
);
