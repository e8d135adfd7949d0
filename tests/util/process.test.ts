import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { isIdentityAlive, processGroup, processIdentity, readProcStat, readProcStatSync } from '../../src/util/process.js';
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
