import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';

import { GlobalMutexTimeoutError, lockNameFor, withGlobalMutex } from '../../src/util/global-mutex.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const moduleUrl = pathToFileURL(path.join(repoRoot, 'src/util/global-mutex.ts')).href;
const hasProc = await readFile('/proc/self/stat', 'utf8').then(() => true, () => false);

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-mutex-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process that uses the real module (through tsx), in one of two modes. */
const CHILD_SCRIPT = `
import { appendFile, readFile, writeFile } from 'node:fs/promises';
const { withGlobalMutex } = await import(process.env.MUTEX_MODULE);
const [mode, base, name, ...rest] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (mode === 'contend') {
  const [iterations, counter, log] = rest;
  for (let i = 0; i < Number(iterations); i++) {
    await withGlobalMutex(base, name, async () => {
      await appendFile(log, 'enter ' + process.pid + '\\n');
      const n = Number(await readFile(counter, 'utf8'));
      await sleep(Math.random() * 5);
      await writeFile(counter, String(n + 1));
      await appendFile(log, 'exit ' + process.pid + '\\n');
    }, { timeoutMs: 60000 });
  }
} else if (mode === 'hold') {
  await withGlobalMutex(base, name, async () => {
    process.stdout.write('held\\n');
    // Hold until the parent closes our stdin (or kills us).
    process.stdin.resume();
    await new Promise((r) => process.stdin.on('end', r));
  });
  process.stdout.write('released\\n');
}
`;

async function writeChildScript(dir: string): Promise<string> {
  const script = path.join(dir, 'child.mjs');
  await writeFile(script, CHILD_SCRIPT);
  return script;
}

function spawnChild(script: string, args: string[]): ChildProcess {
  // Drop the test runner's loader hooks: the child loads TypeScript through tsx.
  const env: NodeJS.ProcessEnv = { ...process.env, MUTEX_MODULE: moduleUrl };
  delete env.NODE_OPTIONS;
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

async function waitForLine(child: ChildProcess, line: string): Promise<void> {
  let buf = '';
  const stdout = child.stdout;
  if (!stdout) throw new Error('no stdout');
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      if (buf.split('\n').includes(line)) {
        stdout.off('data', onData);
        resolve();
      }
    };
    stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${line}`)));
  });
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** The pid of a process that has come and gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  if (child.pid === undefined) throw new Error('no pid');
  return child.pid;
}

async function ownStart(): Promise<string> {
  const text = await readFile(`/proc/${process.pid}/stat`, 'utf8');
  const start = text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  if (start === undefined) throw new Error('no start time');
  return start;
}

async function plantLock(base: string, name: string, owner: object | string | null): Promise<string> {
  const lockPath = path.join(base, '.locks', `${name}.lock`);
  await mkdir(lockPath, { recursive: true });
  if (owner !== null) {
    await writeFile(path.join(lockPath, 'owner'), typeof owner === 'string' ? owner : JSON.stringify(owner));
  }
  return lockPath;
}

const exists = (p: string) => readFile(p).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'EISDIR');

t.test('lockNameFor', async (t) => {
  t.equal(lockNameFor('runs-index'), 'runs-index');
  t.equal(lockNameFor('a.b_C-9'), 'a.b_C-9');
  t.match(lockNameFor('run/abc'), /^run_abc-[0-9a-f]{12}$/);
  t.not(lockNameFor('run/abc'), lockNameFor('run_abc'), 'distinct names stay distinct');
  t.not(lockNameFor('a/b'), lockNameFor('a\\b'));
  t.match(lockNameFor('../../etc'), /^\.\._\.\._etc-[0-9a-f]{12}$/);
  t.match(lockNameFor('..'), /^\.\.-[0-9a-f]{12}$/);
  t.match(lockNameFor('caf\u00e9\u0000'), /^caf__-[0-9a-f]{12}$/);
  const long = lockNameFor('x'.repeat(1000));
  t.ok(long.length <= 113, 'long names are capped');
  t.not(long, lockNameFor('x'.repeat(999)));
  t.throws(() => lockNameFor(''), TypeError);
});

t.test('runs fn, returns its value and releases', async (t) => {
  const base = await tempDir(t);
  const result = await withGlobalMutex(base, 'm', async () => {
    const owner = JSON.parse(await readFile(path.join(base, '.locks', 'm.lock', 'owner'), 'utf8'));
    t.equal(owner.pid, process.pid);
    t.equal(owner.host, hostname());
    t.match(owner.token, /^[A-Za-z0-9_-]+$/);
    if (hasProc) t.equal(owner.start, await ownStart());
    return 42;
  });
  t.equal(result, 42);
  t.same(await readdir(path.join(base, '.locks')), [], 'nothing left behind');
});

t.test('releases when fn throws', async (t) => {
  const base = await tempDir(t);
  await t.rejects(withGlobalMutex(base, 'm', async () => {
    throw new Error('boom');
  }), { message: 'boom' });
  t.same(await readdir(path.join(base, '.locks')), []);
  t.equal(await withGlobalMutex(base, 'm', async () => 'again', { timeoutMs: 100 }), 'again');
});

t.test('creates the base folder when missing', async (t) => {
  const base = path.join(await tempDir(t), 'not', 'yet');
  t.equal(await withGlobalMutex(base, 'm', async () => 1), 1);
});

t.test('unsafe names stay inside the locks folder', async (t) => {
  const root = await tempDir(t);
  const base = path.join(root, 'base');
  await withGlobalMutex(base, '../../escape', async () => {
    const entries = await readdir(path.join(base, '.locks'));
    t.equal(entries.length, 1);
    t.match(entries[0], /^\.\._\.\._escape-[0-9a-f]{12}\.lock$/);
  });
  t.same((await readdir(root)).sort(), ['base']);
});

t.test('serialises concurrent callers in one process', async (t) => {
  const base = await tempDir(t);
  let inside = 0;
  let maxInside = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 12 }, (_, i) => withGlobalMutex(base, 'm', async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await sleep(2);
    order.push(i);
    inside--;
  })));
  t.equal(maxInside, 1);
  t.equal(order.length, 12);
});

t.test('different names do not block each other', async (t) => {
  const base = await tempDir(t);
  await withGlobalMutex(base, 'a', async () => {
    t.equal(await withGlobalMutex(base, 'b', async () => 'b', { timeoutMs: 100 }), 'b');
  });
});

t.test('is not re-entrant: nesting times out', async (t) => {
  const base = await tempDir(t);
  await withGlobalMutex(base, 'm', async () => {
    await t.rejects(withGlobalMutex(base, 'm', async () => 1, { timeoutMs: 150 }), GlobalMutexTimeoutError);
  });
});

t.test('two processes contending never overlap', async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, 'base');
  const counter = path.join(dir, 'counter');
  const log = path.join(dir, 'log');
  await writeFile(counter, '0');
  await writeFile(log, '');
  const script = await writeChildScript(dir);
  const iterations = 25;
  const children = [0, 1, 2].map(() =>
    spawnChild(script, ['contend', base, 'shared', String(iterations), counter, log]));
  const codes = await Promise.all(children.map(exitCode));
  t.same(codes, [0, 0, 0]);
  t.equal(await readFile(counter, 'utf8'), String(3 * iterations), 'no lost updates');
  const lines = (await readFile(log, 'utf8')).trim().split('\n');
  t.equal(lines.length, 2 * 3 * iterations);
  let bad = 0;
  for (let i = 0; i < lines.length; i += 2) {
    const [enter, exit] = [lines[i]?.split(' '), lines[i + 1]?.split(' ')];
    if (enter?.[0] !== 'enter' || exit?.[0] !== 'exit' || enter[1] !== exit[1]) bad++;
  }
  t.equal(bad, 0, 'every critical section ran alone');
  t.same(new Set(lines.map((l) => l.split(' ')[1])).size, 3, 'all three took part');
  t.same(await readdir(path.join(base, '.locks')), []);
});

t.test('waits for a live holder, times out, then gets the lock once released', async (t) => {
  const dir = await tempDir(t);
  const script = await writeChildScript(dir);
  const child = spawnChild(script, ['hold', dir, 'm']);
  t.teardown(() => child.kill('SIGKILL'));
  await waitForLine(child, 'held');
  const before = Date.now();
  const err = await withGlobalMutex(dir, 'm', async () => 'no', { timeoutMs: 300 }).catch((e: unknown) => e);
  t.type(err, GlobalMutexTimeoutError);
  t.match((err as Error).message, `pid ${child.pid}`);
  t.ok(Date.now() - before >= 290, 'waited the whole timeout');
  const gotIt = withGlobalMutex(dir, 'm', async () => 'yes', { timeoutMs: 20_000 });
  await sleep(100);
  child.stdin?.end();
  t.equal(await gotIt, 'yes');
  t.equal(await exitCode(child), 0);
});

t.test('takes over from a holder that was killed', async (t) => {
  const dir = await tempDir(t);
  const script = await writeChildScript(dir);
  const child = spawnChild(script, ['hold', dir, 'm']);
  await waitForLine(child, 'held');
  child.kill('SIGKILL');
  await exitCode(child);
  const lockPath = path.join(dir, '.locks', 'm.lock');
  t.ok(await exists(lockPath), 'the dead holder left its lock');
  const started = Date.now();
  t.equal(await withGlobalMutex(dir, 'm', async () => 'mine', { timeoutMs: 5000 }), 'mine');
  t.ok(Date.now() - started < 2000, 'did not wait for the timeout');
  const left = await readdir(path.join(dir, '.locks'));
  t.equal(left.length, 1, 'only the grave of the stolen lock remains');
  t.match(left[0], /^m\.lock\.stale-t-/);
});

t.test('steals a planted lock whose pid is dead', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', { pid: await deadPid(), start: '1', host: hostname(), token: 'deadbeef', acquired_at: '' });
  t.equal(await withGlobalMutex(base, 'm', async () => 'ok', { timeoutMs: 1000 }), 'ok');
  t.same(await readdir(path.join(base, '.locks')), ['m.lock.stale-t-deadbeef']);
});

t.test('steals a lock whose pid was recycled (start time differs)', { skip: !hasProc && 'needs /proc' }, async (t) => {
  const base = await tempDir(t);
  const start = String(Number(await ownStart()) + 12345);
  await plantLock(base, 'm', { pid: process.pid, start, host: hostname(), token: 'recycled', acquired_at: '' });
  t.equal(await withGlobalMutex(base, 'm', async () => 'ok', { timeoutMs: 1000 }), 'ok');
});

t.test('does not steal from a live process with the same start time', { skip: !hasProc && 'needs /proc' }, async (t) => {
  const base = await tempDir(t);
  const lockPath = await plantLock(base, 'm', {
    pid: process.pid, start: await ownStart(), host: hostname(), token: 'alive', acquired_at: '',
  });
  await t.rejects(withGlobalMutex(base, 'm', async () => 1, { timeoutMs: 200 }), GlobalMutexTimeoutError);
  t.ok(await exists(path.join(lockPath, 'owner')), 'the live lock is untouched');
});

t.test('does not steal from a live process whose start time is unknown', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', { pid: process.pid, start: null, host: hostname(), token: 'alive', acquired_at: '' });
  await t.rejects(withGlobalMutex(base, 'm', async () => 1, { timeoutMs: 150 }), GlobalMutexTimeoutError);
});

t.test('never steals a lock held on another host', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', { pid: await deadPid(), start: '1', host: `not-${hostname()}`, token: 'remote', acquired_at: '' });
  await t.rejects(withGlobalMutex(base, 'm', async () => 1, { timeoutMs: 150 }), { message: /on not-/ });
});

t.test('treats pid 0 and negative pids as dead, without signalling a group', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'a', { pid: 0, start: null, host: hostname(), token: 'zero', acquired_at: '' });
  await plantLock(base, 'b', { pid: -1, start: null, host: hostname(), token: 'neg', acquired_at: '' });
  t.equal(await withGlobalMutex(base, 'a', async () => 'a', { timeoutMs: 500 }), 'a');
  t.equal(await withGlobalMutex(base, 'b', async () => 'b', { timeoutMs: 500 }), 'b');
});

t.test('ownerless or corrupt locks: waited on while fresh, taken once old', async (t) => {
  const base = await tempDir(t);
  const bare = await plantLock(base, 'bare', null);
  await writeFile(path.join(bare, 'not-an-owner'), '');
  const junk = await plantLock(base, 'junk', '{"pid": "nope"');
  await t.rejects(withGlobalMutex(base, 'bare', async () => 1, { timeoutMs: 100 }), GlobalMutexTimeoutError);
  await t.rejects(withGlobalMutex(base, 'junk', async () => 1, { timeoutMs: 100 }), GlobalMutexTimeoutError);
  const old = new Date(Date.now() - 3600_000);
  await utimes(bare, old, old);
  await utimes(junk, old, old);
  t.equal(await withGlobalMutex(base, 'bare', async () => 'bare', { timeoutMs: 500 }), 'bare');
  t.equal(await withGlobalMutex(base, 'junk', async () => 'junk', { timeoutMs: 500 }), 'junk');
});

t.test('an empty folder in place of the lock is replaced at once', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', null);
  t.equal(await withGlobalMutex(base, 'm', async () => 'ok', { timeoutMs: 100 }), 'ok');
  t.same(await readdir(path.join(base, '.locks')), []);
});

t.test('a plain file in place of the lock is treated as debris', async (t) => {
  const base = await tempDir(t);
  await mkdir(path.join(base, '.locks'));
  const f = path.join(base, '.locks', 'm.lock');
  await writeFile(f, 'junk');
  const old = new Date(Date.now() - 3600_000);
  await utimes(f, old, old);
  t.equal(await withGlobalMutex(base, 'm', async () => 'ok', { timeoutMs: 500 }), 'ok');
});

t.test('many contenders facing one stale lock: exactly one at a time', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', { pid: await deadPid(), start: null, host: hostname(), token: 'dead1', acquired_at: '' });
  let inside = 0;
  let maxInside = 0;
  await Promise.all(Array.from({ length: 10 }, () => withGlobalMutex(base, 'm', async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await sleep(3);
    inside--;
  }, { timeoutMs: 5000 })));
  t.equal(maxInside, 1);
});

t.test('old leftovers are swept, other locks are not', async (t) => {
  const base = await tempDir(t);
  const locks = path.join(base, '.locks');
  const leftovers = ['x.lock.stale-t-abc', 'x.lock.free-Zz9_-', 'y.z.lock.stage-12-abc'];
  for (const name of leftovers) await mkdir(path.join(locks, name, 'sub'), { recursive: true });
  // A live lock whose *name* looks like a leftover, a stray file: old but never swept.
  await plantLock(base, 'x.lock.stale-t-abc', { pid: process.pid, start: null, host: hostname(), token: 'live', acquired_at: '' });
  await writeFile(path.join(locks, 'notes.txt'), '');
  // ctime cannot be set back, so age everything by waiting past a short grace.
  await sleep(400);
  await mkdir(path.join(locks, 'w.lock.stale-t-fresh'));
  await withGlobalMutex(base, 'other', async () => undefined, { leftoverGraceMs: 300 });
  t.same((await readdir(locks)).sort(), ['notes.txt', 'w.lock.stale-t-fresh', 'x.lock.stale-t-abc.lock']);
});

t.test('graves are kept for the default grace period', async (t) => {
  const base = await tempDir(t);
  await plantLock(base, 'm', { pid: await deadPid(), start: null, host: hostname(), token: 'g1', acquired_at: '' });
  await withGlobalMutex(base, 'm', async () => undefined);
  await withGlobalMutex(base, 'm', async () => undefined);
  t.same(await readdir(path.join(base, '.locks')), ['m.lock.stale-t-g1']);
});
