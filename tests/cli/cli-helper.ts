import { spawn } from 'node:child_process';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { FerryConfig } from '../../src/config/config.js';
import { buildTestApp } from '../helper.js';

import type { Test } from 'tap';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** tsx's loader by its URL: a process started in another folder finds it too. */
const tsx = import.meta.resolve('tsx');

/** The real app over a temp work folder, listening on a free loopback port; its URL. */
export async function listeningApp(t: Test, overrides: Partial<FerryConfig> = {}): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildTestApp(t, overrides);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ferry ARGS` as a real process (node with tsx on src/cli.ts) in `cwd`, its
 * stdout and stderr piped; never blocks the test's event loop, which serves
 * the server it talks to. No FERRY_* variable of the test's own leaks in.
 * With `tty`, its stdout and stderr are a terminal, all read as stdout.
 */
export function ferry(args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; tty?: boolean } = {}): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRY_')));
  const argv = [process.execPath, '--import', tsx, path.join(root, 'src/cli.ts'), ...args];
  // On a terminal: util-linux's script gives the command a pseudo-terminal and passes its exit code on.
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [command, ...rest] = options.tty ? ['script', '-qec', quoted, '/dev/null'] : argv;
  const child = spawn(command!, rest, {
    cwd: options.cwd ?? root,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
