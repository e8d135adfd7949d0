import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { findProcessesByEnv, groupAlive, isIdentityAlive, processGroup, processIdentity, readProcStat, readProcStatSync, treeLeftoversSync } from '../../src/util/process.js';
import { tempDir } from '../helper.js';

const hasProc = await fs.readFile('/proc/self/stat', 'utf8').then(() => true, () => false);

/** A pid that no process has any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

t.test('readProcStat reads this process', { skip: !hasProc && 'needs /proc' }, async (t) => {
  const stat = await readProcStat(process.pid);
  t.ok(stat, 'found');
  t.match(stat!.state, /^[RS]$/, 'running or sleeping');
  t.equal(stat!.ppid, process.ppid);
  t.ok(Number.isInteger(stat!.pgid) && stat!.pgid > 0);
  t.match(stat!.startTime, /^\d+$/);
  const sync = readProcStatSync(process.pid);
  t.same([sync?.ppid, sync?.pgid, sync?.startTime], [stat!.ppid, stat!.pgid, stat!.startTime], 'the same, synchronously');
  t.equal(await processGroup(process.pid), stat!.pgid);
});

t.test('readProcStat: a command name with spaces and parentheses', { skip: !hasProc && 'needs /proc' }, async (t) => {
  // The kernel shows the name in parentheses unescaped: fields count from the last ')'.
  const dir = await tempDir(t, 'ferry-proc-');
  const odd = path.join(dir, 'a) 1 2 (b');
  await fs.symlink(process.execPath, odd);
  const child = spawn(odd, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore', detached: true });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await once(child, 'spawn');
  t.match(await fs.readFile(`/proc/${child.pid}/stat`, 'utf8'), '(a) 1 2 (b) ', 'the kernel shows the name as is');
  const stat = await readProcStat(child.pid!);
  t.equal(stat?.ppid, process.pid, 'parent');
  t.equal(stat?.pgid, child.pid, 'its own group (detached)');
  t.match(stat?.startTime, /^\d+$/);
});

t.test('readProcStat: a process that is gone', async (t) => {
  const pid = await deadPid();
  t.equal(await readProcStat(pid), null);
  t.equal(readProcStatSync(pid), null);
  t.equal(await processGroup(pid), null);
});

t.test('process identities', { skip: !hasProc && 'needs /proc' }, async (t) => {
  t.ok(await isIdentityAlive(processIdentity()), 'this process is alive');
  t.notOk(await isIdentityAlive(processIdentity(await deadPid())), 'a process that is gone is not');
  const [host, boot, pid] = processIdentity().split(':');
  t.notOk(await isIdentityAlive(`${host}:${boot}:${pid}:1`), 'a recycled pid (another start time) is not');
  t.ok(await isIdentityAlive(`another-host:${boot}:${pid}:1`), 'another host cannot be checked: alive');
});

t.test('treeLeftoversSync: a group left with only a zombie has ended; one with a running member has not', { skip: !hasProc && 'needs /proc' }, async (t) => {
  // With job control, the background `sleep 1` gets a group of its own; the shell then becomes
  // `sleep 30`, which never collects it once it exits: a zombie alone in its group, as a
  // sandbox's init can be. (It outlives the shell's exec by far, so the shell cannot collect it.)
  const child = spawn('bash', ['-c', 'set -m; sleep 1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const zombie = Number(line.toString().trim());
  const living = (pgid: number): boolean => treeLeftoversSync(pgid, 0, []).groupLiving;
  t.ok(living(zombie), 'while the member runs, its group lives');
  for (let i = 0; i < 1000 && (await readProcStat(zombie))?.state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal((await readProcStat(zombie))?.state, 'Z', 'the member has exited and is not collected');
  t.ok(groupAlive(zombie), 'kill(-pgid, 0) still finds the group');
  t.notOk(living(zombie), 'but no member of it runs');
  t.ok(living(await processGroup(child.pid!).then((g) => g!)), 'the group of the running sleep lives');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.notOk(living(zombie), 'a group that is gone does not live either');
});

t.test('treeLeftoversSync finds the marked processes outside the group that started since the leader, as findProcessesByEnv finds them', { skip: !hasProc && 'needs /proc' }, async (t) => {
  const mark = `FERRY_TEST_MARK=${process.pid}-${Date.now()}`;
  const [name, value] = mark.split('=') as [string, string];
  const child = spawn('sleep', ['30'], { stdio: 'ignore', detached: true, env: { ...process.env, [name]: value } });
  t.teardown(() => void child.kill('SIGKILL'));
  await once(child, 'spawn');
  // The environment is in /proc once the child has exec'd sleep.
  for (let i = 0; i < 500 && (await findProcessesByEnv([mark])).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(await findProcessesByEnv([mark]), [child.pid], 'async: the marked child');
  const started = Number((await readProcStat(child.pid!))!.startTime);
  const ownGroup = (await processGroup(process.pid))!;
  t.same(treeLeftoversSync(ownGroup, started, [mark]), { groupLiving: true, strays: [child.pid] }, 'started as the leader did: found, outside this group (which lives)');
  t.same(treeLeftoversSync(ownGroup, 0, [], [`${name}=${process.pid}-`]).strays, [child.pid], 'by a prefix too');
  t.same(treeLeftoversSync(ownGroup, started + 1, [mark]).strays, [], 'started before the leader: not one of its tree, not looked at');
  t.same(treeLeftoversSync(ownGroup, 0, [`${mark}x`], [`${mark}-`]).strays, [], 'neither a longer exact entry nor an unmatched prefix');
  t.same(treeLeftoversSync(child.pid!, 0, [mark]), { groupLiving: true, strays: [] }, 'in the group asked about: a member, not a stray');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.same(treeLeftoversSync(ownGroup, 0, [mark]).strays, [], 'gone once it has exited');
});
