import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A real `ferry serve` process. */
export interface FerryProcess {
  child: ChildProcess;
  /** The API's base URL. */
  url: string;
  /** What it printed so far, stdout and stderr. */
  output(): string;
  /** Its stdout's log lines so far, parsed (the JSON ones). */
  logLines(): Record<string, unknown>[];
  /** Waits until its output matches. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<number | null>;
}

/** Starts `ferry <args>`; `done` resolves with its exit code and output when it ends. */
export function spawnFerry(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { child, done };
}

/** Runs `ferry <args>` to its end: exit code and output. */
export function runFerry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return spawnFerry(args).done;
}

/** Starts `ferry serve <args>` and waits until it listens; stopped when the test ends. */
export async function startFerry(t: Pick<Test, 'teardown'>, args: string[]): Promise<FerryProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const waitFor = (pattern: RegExp, ms = 120_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = pattern.exec(out);
        if (m) {
          clearInterval(timer);
          resolve(m);
        }
        return m !== null;
      };
      const timer = setInterval(() => {
        if (check()) return;
        if (child.exitCode !== null || Date.now() > deadline) {
          clearInterval(timer);
          reject(new Error(`no ${pattern} in the output of ferry serve ${args.join(' ')} (exit ${child.exitCode}):\n${out}`));
        }
      }, 20);
      const deadline = Date.now() + ms;
      check();
    });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exit) as [number | null];
    return code;
  };
  t.teardown(stop);
  const [, url] = await waitFor(/Server listening at (http:\/\/[^"\s]+)/);
  return {
    child,
    url: url!,
    output: () => out,
    logLines: () =>
      stdout.split('\n').flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    waitFor,
    stop,
  };
}
