import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { batchScript, shellQuote } from '../../src/tasks/slurm/batch-script.js';
import { tempDir } from '../helper.js';

/**
 * The batch script of a run's Slurm job, run here by sh as slurmd would run
 * it: every word and value reaches the engine as it was, whatever shell
 * characters it holds; the environment is exactly the engine's; a SIGTERM to
 * the script reaches the engine; the exit code is left in its file.
 */

const HOSTILE = ["it's", '$(touch pwned)', '`touch pwned`', 'a "quoted" word', 'new\nline', '$HOME', '\\', "'", '', ' spaced  out ', '*'];

async function runScript(dir: string, script: string, onStart?: (pid: number) => Promise<void>): Promise<{ code: number | null; stdout: string }> {
  const file = path.join(dir, 'job.sh');
  await fs.writeFile(file, script);
  const child = spawn('/bin/sh', [file], { cwd: '/', stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: '/usr/bin:/bin', SECRET: 'server-only' } });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  if (onStart) await onStart(child.pid!);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout };
}

t.test('words and values reach the engine exactly; nothing is run as shell', async (t) => {
  const dir = await tempDir(t);
  const exitFile = path.join(dir, 'exit');
  const script = batchScript({
    runId: 'run-x', cwd: dir, exitFile, leaderDepth: 0,
    argv: ['/bin/sh', '-c', 'for a in "$@"; do printf "<%s>" "$a"; done; printf "\\n[%s]" "$WEIRD"; env | sort | sed -n "s/^\\(SECRET\\|WEIRD\\|PATH\\)=.*/\\1/p" | tr "\\n" " "; pwd', 'sh', ...HOSTILE],
    env: { PATH: '/usr/bin:/bin', WEIRD: "x'y$(touch pwned)z" },
  });
  const { code, stdout } = await runScript(dir, script);
  t.equal(code, 0);
  t.equal(stdout, `${HOSTILE.map((w) => `<${w}>`).join('')}\n[x'y$(touch pwned)z]PATH WEIRD ${dir}\n`, 'every word as given, only the engine\'s environment, in the run\'s folder');
  await t.rejects(fs.stat(path.join(dir, 'pwned')), 'nothing was run as shell');
  t.equal(await fs.readFile(exitFile, 'utf8'), '0\n');
});

t.test('the exit code of a failing engine is left in its file and is the job\'s', async (t) => {
  const dir = await tempDir(t);
  const exitFile = path.join(dir, 'exit');
  const { code } = await runScript(dir, batchScript({ runId: 'run-x', cwd: dir, exitFile, leaderDepth: 0, argv: ['/bin/sh', '-c', 'exit 3'], env: {} }));
  t.equal(code, 3);
  t.equal(await fs.readFile(exitFile, 'utf8'), '3\n');
});

t.test('a folder it cannot enter: the job fails before the engine runs', async (t) => {
  const dir = await tempDir(t);
  const exitFile = path.join(dir, 'exit');
  const { code } = await runScript(dir, batchScript({ runId: 'run-x', cwd: path.join(dir, 'missing'), exitFile, leaderDepth: 0, argv: ['/bin/touch', path.join(dir, 'ran')], env: {} }));
  t.equal(code, 1);
  await t.rejects(fs.stat(path.join(dir, 'ran')), 'the engine did not run');
});

t.test('SIGTERM to the script reaches the engine, which stops its own way', async (t) => {
  for (const depth of [0, 2]) {
    const dir = await tempDir(t);
    const exitFile = path.join(dir, 'exit');
    const ready = path.join(dir, 'ready');
    // At depth 2 the engine sits below two processes, as in a sandbox (bwrap, then its init).
    const engine = `trap 'touch got-term; exit 7' TERM; touch ${shellQuote(ready)}; while :; do sleep 0.1; done`;
    // `; exit $?` keeps each shell from handing its process over to the next (so the depth is real).
    const argv = depth === 0 ? ['/bin/sh', '-c', engine] : ['/bin/sh', '-c', '/bin/sh -c "$1"; exit $?', 'outer', `/bin/sh -c ${shellQuote(engine)}; exit $?`];
    const { code } = await runScript(dir, batchScript({ runId: 'run-x', cwd: dir, exitFile, leaderDepth: depth, argv, env: { PATH: '/usr/bin:/bin' } }), async (pid) => {
      for (let i = 0; i < 100 && !(await fs.stat(ready).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
      process.kill(pid, 'SIGTERM');
    });
    // The engine's own TERM handler ran, and its exit code came back through whatever was in between.
    t.ok(await fs.stat(path.join(dir, 'got-term')).then(() => true, () => false), `depth ${depth}: the engine got the signal`);
    t.equal(await fs.readFile(exitFile, 'utf8'), '7\n');
    t.equal(code, 7);
  }
});
