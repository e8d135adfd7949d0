/**
 * Small helpers for scripts/bench.ts: HTTP requests with a keep-alive agent,
 * child processes that are always cleaned up, /proc readings, statistics and
 * the result table.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

// ------------------------------------------------------------------ HTTP

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

export interface HttpResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Wall time from sending to the last byte of the answer, in ms. */
  ms: number;
}

/** One request; `body` may be a Buffer or a function that writes it (streaming). */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | ((req: http.ClientRequest) => void); timeoutMs?: number; noKeepAlive?: boolean } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.noKeepAlive ? false : agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, ms });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    if (typeof opts.body === 'function') opts.body(req);
    else req.end(opts.body);
  });
}

export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await request(url, { headers });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body) as T;
}

/** A multipart/form-data body (fields, then files), with its content type. */
export function multipartBody(fields: Record<string, string>, files: { name: string; content: Buffer }[]): { body: Buffer; contentType: string } {
  const boundary = `----ferrybench${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="workflow_attachment"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    parts.push(f.content, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ processes

/** Every child this script started, so that cleanup can end them whatever happens. */
export const children = new Set<ChildProcess>();

/** Spawns a child whose output goes to `logFile`; it is remembered for cleanup. */
export function spawnLogged(cmd: string, args: string[], logFile: string, opts: SpawnOptions = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Runs a command to its end; resolves with exit code, stdout and wall time. */
export function run(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Resident set size of a process, in MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

// ------------------------------------------------------------------ statistics

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// ------------------------------------------------------------------ the table

export interface Row {
  metric: string;
  ferry: number;
  baseline?: number;
  /** How `ferry` and `baseline` are shown (unit and digits). */
  unit: string;
  digits?: number;
  /** Ratio shown; defaults to ferry / baseline. */
  ratio?: number;
  /** Text of the target, and whether it is met (undefined: no target, information only). */
  target?: string;
  ok?: boolean;
  note?: string;
}

function fmt(v: number | undefined, unit: string, digits: number): string {
  if (v === undefined) return '';
  if (!Number.isFinite(v)) return 'n/a';
  return `${v.toFixed(digits)}${unit ? ' ' + unit : ''}`;
}

export function renderTable(rows: readonly Row[]): string {
  const head = ['metric', 'Ferry', 'baseline', 'ratio', 'target', 'ok'];
  const body = rows.map((r) => {
    const digits = r.digits ?? 1;
    const ratio = r.ratio ?? (r.baseline !== undefined && r.baseline !== 0 ? r.ferry / r.baseline : undefined);
    return [
      r.metric,
      fmt(r.ferry, r.unit, digits),
      fmt(r.baseline, r.unit, digits),
      ratio === undefined ? '' : Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a',
      r.target ?? '',
      r.ok === undefined ? '' : r.ok ? 'yes' : 'NO',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
