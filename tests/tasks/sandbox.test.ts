import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { makeConfig } from '../../src/config/config.js';
import { findBwrap, prepareRunFolder, probeSandbox, UNPRIVILEGED, resolveSandbox, sandboxedLeader, sandboxCommand, sandboxPolicy, SandboxUnavailableError, warmSandbox, type SandboxPolicy } from '../../src/tasks/sandbox.js';
import { tempDir } from '../helper.js';

/** The mounts of a sandbox command, as [flag, ...operands] in order, from after the namespace flags to `--chdir`. */
function mounts(argv: string[]): string[][] {
  const out: string[][] = [];
  const arity: Record<string, number> = { '--ro-bind': 2, '--bind': 2, '--symlink': 2, '--tmpfs': 1, '--proc': 1, '--dev': 1, '--perms': 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--chdir') break;
    const n = arity[flag];
    if (n === undefined) continue;
    out.push(argv.slice(i, i + 1 + n));
    i += n;
  }
  return out;
}

const position = (list: string[][], ...entry: string[]): number => list.findIndex((m) => m.length === entry.length && m.every((v, i) => v === entry[i]));

t.test('sandbox command', async (t) => {
  const dir = await tempDir(t);
  const root = path.join(dir, 'data');
  const workDir = path.join(root, 'work');
  const runDir = path.join(workDir, 'run-1');
  const tokens = path.join(root, 'tokens');
  await fs.mkdir(path.join(runDir, 'tmp'), { recursive: true });
  await fs.writeFile(tokens, 'x 00\n');
  const base: SandboxPolicy = { kind: 'bwrap', bwrap: '/usr/bin/bwrap', network: true, readOnly: [root], hidden: [workDir, tokens] };
  const run = { runDir, tmpDir: path.join(runDir, 'tmp'), cwd: runDir };

  t.test('no sandbox: the command as it is', async (t) => {
    t.same(await sandboxCommand({ ...base, kind: 'none' }, run, ['cwltool', 'x.cwl']), ['cwltool', 'x.cwl']);
  });

  t.test('layers: system read-only, the allowed root read-only with what it must not show masked, the run read-write on top', async (t) => {
    const argv = await sandboxCommand(base, run, ['cwltool', 'x.cwl']);
    t.equal(argv[0], '/usr/bin/bwrap');
    t.same(argv.slice(-5), ['--chdir', runDir, '--', 'cwltool', 'x.cwl']);
    for (const flag of ['--unshare-pid', '--die-with-parent', '--cap-drop']) t.ok(argv.includes(flag), flag);
    t.notOk(argv.includes('--unshare-net'), 'network on');
    const m = mounts(argv);
    const usr = position(m, '--ro-bind', '/usr', '/usr');
    const data = position(m, '--ro-bind', root, root);
    const maskWork = position(m, '--tmpfs', workDir);
    const maskTokens = position(m, '--ro-bind', '/dev/null', tokens);
    const tmp = position(m, '--bind', run.tmpDir, '/tmp');
    const own = position(m, '--bind', runDir, runDir);
    const proc = position(m, '--proc', '/proc');
    t.ok(usr >= 0 && data >= 0 && maskWork >= 0 && maskTokens >= 0 && own >= 0 && tmp >= 0 && proc >= 0, JSON.stringify(m));
    t.ok(usr < data && data < maskWork && data < maskTokens, 'masks go over the allowed root');
    t.ok(maskWork < own, 'the run\'s own folder shows through the masked work folder');
    t.ok(tmp < own, 'the private /tmp goes under a run folder that lies in /tmp');
    t.equal(m[maskWork - 1]?.join(' '), '--perms 0555', 'a masked folder cannot be written');
    t.equal(proc, m.length - 2, 'the sandbox\'s own /proc and /dev last, over anything an allowed root brought');
    t.ok(position(m, '--ro-bind', '/dev/null', '/etc/shadow') > position(m, '--ro-bind', '/etc', '/etc'), 'the machine\'s password hashes are masked');
  });

  t.test('looked at ahead (a standby): what the look found serves the next command, once', async (t) => {
    const late = path.join(dir, 'late-root');
    const policy: SandboxPolicy = { ...base, readOnly: [root, late] };
    await warmSandbox(policy);
    await fs.mkdir(late); // the machine changes after the look
    const lateMount = (argv: string[]): boolean => position(mounts(argv), '--ro-bind', late, late) >= 0;
    t.ok(lateMount(await sandboxCommand({ ...policy }, run, ['true'])), 'another policy object looks for itself');
    const ahead = await sandboxCommand(policy, run, ['cwltool', 'x.cwl']);
    t.notOk(lateMount(ahead), 'the next command of this policy is made of the look ahead');
    t.same(ahead, (await sandboxCommand({ ...base, readOnly: [root] }, run, ['cwltool', 'x.cwl'])), 'the same command a fresh look gave then');
    t.ok(lateMount(await sandboxCommand(policy, run, ['true'])), 'the one after looks again');
    await fs.rm(late, { recursive: true });
  });

  t.test('what no folder shows is not masked: the run sees nothing there anyway', async (t) => {
    const m = mounts(await sandboxCommand({ ...base, readOnly: [] }, run, ['true']));
    t.equal(position(m, '--tmpfs', workDir), -1);
    t.equal(position(m, '--ro-bind', '/dev/null', tokens), -1);
  });

  t.test('an allowed root of / does not bring the machine in', async (t) => {
    const argv = await sandboxCommand({ ...base, readOnly: ['/'], hidden: [workDir, '/root', tokens] }, run, ['true']);
    const m = mounts(argv);
    t.ok(position(m, '--ro-bind', '/', '/') < position(m, '--tmpfs', '/root'), 'the server\'s home masked');
    t.ok(position(m, '--tmpfs', workDir) >= 0);
    t.ok(position(m, '--proc', '/proc') > position(m, '--ro-bind', '/', '/'));
  });

  t.test('a home of / is never masked over the system', async (t) => {
    const m = mounts(await sandboxCommand({ ...base, hidden: ['/'] }, run, ['true']));
    t.equal(position(m, '--tmpfs', '/'), -1);
  });

  t.test('as root: the command becomes the unprivileged user, with only the capabilities for that', async (t) => {
    const argv = await sandboxCommand({ ...base, runAs: { uid: 65534, gid: 65534 } }, run, ['cwltool', 'x.cwl']);
    t.same(argv.slice(-8), ['--', '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'cwltool', 'x.cwl']);
    t.same(argv.slice(argv.indexOf('--cap-drop'), argv.indexOf('--cap-drop') + 6), ['--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID']);
  });

  t.test('network off: a namespace of its own', async (t) => {
    t.ok((await sandboxCommand({ ...base, network: false }, run, ['true'])).includes('--unshare-net'));
  });

  t.test('policy from the configuration', async (t) => {
    const config = makeConfig({ workDir, allowedFileRoots: [root], authTokens: tokens, workflowAllowList: path.join(root, 'allow'), sandbox: 'bwrap', sandboxNetwork: false });
    const policy = sandboxPolicy(config, { kind: 'bwrap', bwrap: '/usr/bin/bwrap' }, '/home/ferry', 1000);
    t.same(policy.hidden, [workDir, config.stateStore, '/home/ferry', tokens, path.join(root, 'allow')]);
    t.same(policy.readOnly, [root]);
    t.equal(policy.network, false);
    t.equal(policy.runAs, undefined, 'a server that is not root: runs are its user');
    t.same(sandboxPolicy(config, { kind: 'bwrap', bwrap: '/usr/bin/bwrap' }, '/root', 0).runAs, { uid: 65534, gid: 65534 }, 'a root server: runs become nobody');
  });
});

t.test('start-up probe', async (t) => {
  const workDir = await tempDir(t);
  const policy = { network: true, readOnly: [], hidden: [workDir] };
  t.test('finds bubblewrap working here (the set-up installs it)', async (t) => {
    const probe = await probeSandbox(policy, workDir);
    t.equal(probe.kind, 'bwrap', probe.reason ?? '');
    t.same(await fs.readdir(workDir), [], 'the probe leaves nothing behind');
  });
  t.test('without bubblewrap: auto falls back to none, saying why; bwrap refuses', async (t) => {
    const config = makeConfig({ workDir, sandbox: 'auto' });
    const found = await resolveSandbox(config, ['/nonexistent']);
    t.equal(found.kind, 'none');
    t.match(found.reason, /bwrap is not installed/);
    await t.rejects(resolveSandbox({ ...config, sandbox: 'bwrap' }, ['/nonexistent']), SandboxUnavailableError);
    t.same(await resolveSandbox({ ...config, sandbox: 'none' }, ['/nonexistent']), { kind: 'none' });
  });
});

t.test('the engine inside a sandbox is found for signals, two generations below bubblewrap', async (t) => {
  const dir = await tempDir(t);
  const run = { runDir: dir, tmpDir: path.join(dir, 'tmp'), cwd: dir };
  await fs.mkdir(run.tmpDir);
  // As the server would have it: as root, the command becomes the unprivileged user (setpriv execs it: same pid).
  const policy: SandboxPolicy = { kind: 'bwrap', bwrap: (await findBwrap()) ?? 'bwrap', network: true, readOnly: [], hidden: [], ...(process.getuid?.() === 0 ? { runAs: UNPRIVILEGED } : {}) };
  await prepareRunFolder(policy, dir);
  const argv = await sandboxCommand(policy, run, ['/bin/sh', '-c', 'trap "echo terminated > ./term; exit 7" TERM; sleep 300 & wait']);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  });
  const exit = once(child, 'exit');
  let leader: number | null = null;
  for (let i = 0; i < 100 && leader === null; i++) {
    leader = await sandboxedLeader(child.pid!);
    if (leader === null) await new Promise((r) => setTimeout(r, 50));
  }
  t.not(leader, null);
  t.match(await fs.readFile(`/proc/${leader}/cmdline`, 'utf8'), /^\/bin\/sh\0-c\0trap/, 'the command itself, not bubblewrap');
  // Let the shell set its trap, then stop it gracefully: its own handler runs, and the sandbox ends with its exit code.
  await new Promise((r) => setTimeout(r, 300));
  process.kill(leader!, 'SIGTERM');
  const [code] = (await exit) as [number | null];
  t.equal(code, 7, "the command's own exit code comes out of the sandbox");
  t.equal(await fs.readFile(path.join(dir, 'term'), 'utf8'), 'terminated\n');
});
