import { execFile } from 'node:child_process';
import { inBackground } from '../util/process.js';

const cache = new Map<string, Promise<string | null>>();

/**
 * Runs `command args` once per process and picks a version number out of what
 * it prints; null when the command is missing or prints none.
 */
export function commandVersion(command: string, args: readonly string[] = ['--version']): Promise<string | null> {
  const key = [command, ...args].join('\0');
  let found = cache.get(key);
  if (!found) {
    found = new Promise((resolve) => {
      inBackground(
        execFile(command, args, { timeout: 120_000 }, (err, stdout) => {
          if (err) return resolve(null);
          const match = /(\d+\.\d+(?:\.\d+)*)/.exec(stdout.trim().split('\n').pop() ?? '');
          resolve(match?.[1] ?? null);
        }),
      );
    });
    cache.set(key, found);
  }
  return found;
}
