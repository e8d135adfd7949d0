/**
 * Runs sandboxed from each other and from the server, with bubblewrap: each
 * run's engine, and everything it starts, sees the system folders read-only,
 * its own run folder read-write, the allowed file roots read-only, a private
 * /tmp inside the run, its own pid namespace, and nothing else of the
 * machine: not the other runs, the state store, the server's home, nor its
 * configuration and credential files.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { FerryConfig } from '../config/config.js';
import { isInside } from '../util/path-safety.js';
import { readProcStat } from '../util/process.js';

/** What runs are wrapped in: bubblewrap, or nothing. */
export type SandboxKind = 'bwrap' | 'none';

/** How runs are sandboxed, decided once at start-up (see {@link probeSandbox}). */
export interface SandboxPolicy {
  kind: SandboxKind;
  /** The bwrap executable (kind `bwrap`). */
  bwrap?: string;
  /** Whether the run may reach the network (its own namespace, loopback only, when not). */
  network: boolean;
  /** Folders the run may read: the allowed file roots. */
  readOnly: readonly string[];
  /**
   * What the run must not see even where a folder it may read holds it: the
   * work folder (other runs), the state store, the server's home, its
   * configuration and credential files.
   */
  hidden: readonly string[];
  /**
   * The unprivileged user the run becomes inside its sandbox when the server
   * runs as root: root, even without capabilities, owns the machine's files
   * (device nodes among them), and tools act differently as root (tar
   * restoring owners). Its run folder is handed to that user first.
   */
  runAs?: { uid: number; gid: number };
}

/** Who a run is, inside its sandbox, when the server is root: the `nobody` user and group. */
export const UNPRIVILEGED = { uid: 65534, gid: 65534 } as const;

/** What a run may use of the system, read-only, at the same paths. */
const SYSTEM_FOLDERS = ['/usr', '/etc'];
/** Top-level names that are links into /usr on a merged-/usr system and folders on an older one. */
const SYSTEM_TOP_LEVEL = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Secrets of the machine inside the system folders: never shown to a run. */
const SYSTEM_SECRETS = [
  '/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers', '/etc/sudoers.d',
  '/etc/ssh', '/etc/ssl/private', '/etc/munge', '/etc/krb5.keytab', '/etc/security/opasswd',
];

/** The folders of one run that its sandbox is built around. */
export interface SandboxedRun {
  runDir: string;
  /** Mounted as the run's /tmp too. */
  tmpDir: string;
  /** Where the engine starts. */
  cwd: string;
}

interface Mount {
  /** `ro`/`rw`: bind `src` at `dest`; `mask`: hide `dest` (an empty folder, or an unreadable file); `dir`: a folder anyone may pass through. */
  kind: 'ro' | 'rw' | 'mask' | 'dir';
  src: string;
  dest: string;
  directory: boolean;
}

/** Ordering of mounts at the same path: a mask goes over a read-only bind, a run's own folder over both. */
const RANK: Record<Mount['kind'], number> = { ro: 0, mask: 1, dir: 2, rw: 3 };

/** What a sandbox shows of the machine, the same for every run: bubblewrap's first flags, and the mounts of the system, allowed roots and hidden places. */
interface MachineView {
  args: readonly string[];
  /** Folders every run can read. */
  readable: readonly string[];
  mounts: readonly Mount[];
}

/** Views looked at ahead of a run (see {@link warmSandbox}), each for the one next command. */
const warmed = new WeakMap<SandboxPolicy, Promise<MachineView>>();

/**
 * Looks at the machine for `policy` ahead of a run: a standby supervisor
 * does while it waits for its run, so the run's start does not wait for
 * these few dozen looks at the file system. The next {@link sandboxCommand}
 * with this very policy object uses what was found; later ones look again.
 * Resolves once the look is done (it never fails).
 */
export function warmSandbox(policy: SandboxPolicy): Promise<void> {
  if (policy.kind !== 'bwrap') return Promise.resolve();
  let view = warmed.get(policy);
  if (!view) {
    view = machineView(policy);
    warmed.set(policy, view);
  }
  // A failure is looked at again, and reported, by the command that needs the sandbox.
  return view.then(() => undefined, () => undefined);
}

async function machineView(policy: SandboxPolicy): Promise<MachineView> {
  if (!policy.bwrap) throw new Error('the sandbox has no bwrap executable');
  const args = [
    policy.bwrap,
    '--die-with-parent',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    ...(policy.network ? [] : ['--unshare-net']),
    // No capabilities; as root, only those that setpriv needs to become the unprivileged user (it then has none).
    '--cap-drop', 'ALL',
    ...(policy.runAs ? ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID'] : []),
  ];
  const readable: string[] = [];
  for (const folder of SYSTEM_FOLDERS) {
    if (await isDirectory(folder)) {
      args.push('--ro-bind', folder, folder);
      readable.push(folder);
    }
  }
  for (const top of SYSTEM_TOP_LEVEL) {
    const link = await fs.readlink(top).catch(() => null);
    if (link !== null) {
      args.push('--symlink', link, top);
    } else if (await isDirectory(top)) {
      args.push('--ro-bind', top, top);
      readable.push(top);
    }
  }
  const mounts: Mount[] = [];
  for (const root of policy.readOnly) {
    if (!(await exists(root))) continue;
    mounts.push({ kind: 'ro', src: root, dest: root, directory: await isDirectory(root) });
    readable.push(await fs.realpath(root).catch(() => root));
  }
  // A name server list kept outside /etc (a link into /run) must be readable for names to resolve.
  const resolv = await fs.realpath('/etc/resolv.conf').catch(() => null);
  if (resolv !== null && !readable.some((r) => isInside(r, resolv))) mounts.push({ kind: 'ro', src: resolv, dest: resolv, directory: false });

  for (const hidden of [...policy.hidden, ...SYSTEM_SECRETS]) {
    const real = await fs.realpath(hidden).catch(() => null);
    if (real === null) continue; // nothing there to hide
    const directory = await isDirectory(real);
    for (const p of new Set([hidden, real])) {
      // Never over the system itself (a home of `/`).
      if (SYSTEM_FOLDERS.some((f) => isInside(p, f))) continue;
      if (readable.some((r) => isInside(r, p))) mounts.push({ kind: 'mask', src: p, dest: p, directory });
    }
  }
  return { args, readable, mounts };
}

/**
 * The command that runs `argv` in the run's sandbox. Mounts go shallowest
 * first, so that a deeper one wins: the run's folder shows through a hidden
 * work folder, a secret is masked inside a readable folder, and an allowed
 * root inside the hidden home shows again.
 */
export async function sandboxCommand(policy: SandboxPolicy, run: SandboxedRun, argv: readonly string[]): Promise<string[]> {
  if (policy.kind === 'none') return [...argv];
  const ahead = warmed.get(policy);
  warmed.delete(policy);
  const view = (await ahead?.catch(() => undefined)) ?? (await machineView(policy));
  const args = [...view.args];
  const readable = view.readable;
  const mounts = [...view.mounts];
  if (policy.runAs) {
    // The folders on the way to the run's own are made by bubblewrap with the modes of the machine's (a private
    // temporary folder's 0700, say): made passable instead, for the unprivileged user the run becomes.
    const passable = new Set<string>();
    for (let p = path.dirname(run.runDir); p !== path.dirname(p); p = path.dirname(p)) passable.add(p);
    // So are those on the way to a readable file or folder that no readable folder already shows.
    for (const m of mounts.filter((m) => m.kind === 'ro')) {
      for (let p = path.dirname(m.dest); p !== path.dirname(p); p = path.dirname(p)) {
        if (!readable.some((r) => isInside(r, p))) passable.add(p);
      }
    }
    for (const p of passable) mounts.push({ kind: 'dir', src: p, dest: p, directory: true });
  }
  mounts.push({ kind: 'rw', src: run.tmpDir, dest: '/tmp', directory: true });
  mounts.push({ kind: 'rw', src: run.runDir, dest: run.runDir, directory: true });

  const depth = (p: string): number => p.split('/').filter(Boolean).length;
  mounts.sort((a, b) => depth(a.dest) - depth(b.dest) || RANK[a.kind] - RANK[b.kind]);
  for (const m of mounts) {
    if (m.kind === 'ro') args.push('--ro-bind', m.src, m.dest);
    else if (m.kind === 'rw') args.push('--bind', m.src, m.dest);
    else if (m.kind === 'dir') args.push('--perms', '0755', '--dir', m.dest);
    // An empty folder the run cannot write to (deeper mounts are still made in it).
    else if (m.directory) args.push('--perms', '0555', '--tmpfs', m.dest);
    else args.push('--ro-bind', '/dev/null', m.dest);
  }
  // Last, so that not even an allowed root of `/` brings the machine's own in.
  args.push('--proc', '/proc', '--dev', '/dev');
  const as = policy.runAs;
  const become = as ? ['/usr/bin/setpriv', `--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--'] : [];
  args.push('--chdir', run.cwd, '--', ...become, ...argv);
  return args;
}

/**
 * Hands a run's folder to the user the run becomes (see `runAs`), so that it
 * can write there: the folder and everything in it, links themselves, not
 * what they point at. Nothing to do otherwise.
 */
export async function prepareRunFolder(policy: SandboxPolicy, runDir: string): Promise<void> {
  const as = policy.kind === 'bwrap' ? policy.runAs : undefined;
  if (!as) return;
  const walk = async (p: string): Promise<void> => {
    await fs.lchown(p, as.uid, as.gid);
    const entries = await fs.readdir(p, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const full = path.join(p, e.name);
      if (e.isDirectory()) await walk(full);
      else await fs.lchown(full, as.uid, as.gid).catch(() => undefined);
    }
  };
  await walk(runDir);
}

/**
 * The sandbox's outer process (what Ferry spawned) has one child, the
 * namespace's init, whose child is the engine. The engine's pid, or null
 * while the sandbox is still being set up (or is gone).
 */
export async function sandboxedLeader(bwrapPid: number): Promise<number | null> {
  const [init] = await childrenOf(bwrapPid);
  if (init === undefined) return null;
  const [engine] = await childrenOf(init);
  return engine ?? null;
}

async function childrenOf(pid: number): Promise<number[]> {
  const entries = await fs.readdir('/proc').catch((): string[] => []);
  const stats = await Promise.all(
    entries.filter((e) => /^\d+$/.test(e)).map(async (e) => ({ pid: Number(e), stat: await readProcStat(Number(e)) })),
  );
  return stats.filter((s) => s.stat?.ppid === pid).map((s) => s.pid);
}

/** Where bwrap is looked for: PATH, then Debian's place. */
const bwrapDirs = (): string[] => [...(process.env.PATH ?? '').split(':').filter((d) => path.isAbsolute(d)), '/usr/bin'];

/** The bwrap executable in one of `dirs`, or null. */
export async function findBwrap(dirs = bwrapDirs()): Promise<string | null> {
  for (const dir of dirs) {
    const file = path.join(dir, 'bwrap');
    if (await fs.access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return null;
}

/** What the start-up probe found: the sandbox in force, and why it is not bwrap when asked for `auto`. */
export interface SandboxProbe {
  kind: SandboxKind;
  bwrap?: string;
  /** Why bubblewrap cannot be used here (kind `none` only). */
  reason?: string;
}

/**
 * Tries bubblewrap for real before any run needs it: a sandbox around a
 * scratch run folder inside the work folder, whose command must write into
 * the run folder and must not see the work folder's other content.
 */
export async function probeSandbox(policy: Omit<SandboxPolicy, 'kind' | 'bwrap'>, workDir: string, dirs = bwrapDirs()): Promise<SandboxProbe> {
  const bwrap = await findBwrap(dirs);
  if (bwrap === null) return { kind: 'none', reason: 'bwrap is not installed (Debian package bubblewrap)' };
  const runDir = await fs.mkdtemp(path.join(workDir, '.sandbox-probe-'));
  try {
    const run = { runDir: path.join(runDir, 'run'), tmpDir: path.join(runDir, 'run', 'tmp'), cwd: path.join(runDir, 'run') };
    await fs.mkdir(run.tmpDir, { recursive: true });
    await fs.writeFile(path.join(runDir, 'beside'), '');
    await prepareRunFolder({ ...policy, kind: 'bwrap', bwrap }, run.runDir);
    const script = 'echo ok > "$1/probe" && test ! -e "$2" && test -d /proc/self';
    const argv = await sandboxCommand({ ...policy, kind: 'bwrap', bwrap }, run, ['/bin/sh', '-c', script, 'sh', run.runDir, path.join(runDir, 'beside')]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk.slice(0, 2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await Promise.race([once(child, 'exit'), once(child, 'error').then(([err]) => Promise.reject(err as Error))])) as [number | null];
    clearTimeout(timer);
    const wrote = await fs.readFile(path.join(run.runDir, 'probe'), 'utf8').catch(() => '');
    if (code === 0 && wrote === 'ok\n') return { kind: 'bwrap', bwrap };
    return { kind: 'none', reason: stderr.trim() || `a test sandbox exited with code ${code ?? 'none'}` };
  } catch (err) {
    return { kind: 'none', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await fs.rm(runDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then((st) => st.isDirectory(), () => false);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

/** The settings a run's sandbox is made from. */
export type SandboxSettings = Pick<FerryConfig, 'workDir' | 'stateStore' | 'allowedFileRoots' | 'sandboxNetwork' | 'authHtpasswd' | 'authTokens' | 'workflowAllowList'>;

/** What the sandbox of every run keeps out of sight and lets read, from the server's configuration. */
export function sandboxPolicy(
  config: SandboxSettings,
  probe: SandboxProbe,
  home = process.env.HOME,
  uid = process.getuid?.() ?? -1,
): SandboxPolicy {
  const hidden = [config.workDir, config.stateStore, home, config.authHtpasswd, config.authTokens, config.workflowAllowList];
  return {
    kind: probe.kind,
    ...(probe.bwrap ? { bwrap: probe.bwrap } : {}),
    network: config.sandboxNetwork,
    readOnly: config.allowedFileRoots,
    hidden: hidden.filter((p): p is string => typeof p === 'string' && path.isAbsolute(p)),
    ...(uid === 0 ? { runAs: UNPRIVILEGED } : {}),
  };
}

/** Thrown when `--sandbox bwrap` was asked for and bubblewrap does not work here. */
export class SandboxUnavailableError extends Error {
  override name = 'SandboxUnavailableError';
}

/**
 * The sandbox in force for a configuration: `none` as asked; `bwrap` only
 * when the probe shows it works (else SandboxUnavailableError); `auto` as the
 * probe finds, with the reason when it falls back to none.
 */
export async function resolveSandbox(config: SandboxSettings & Pick<FerryConfig, 'sandbox'>, dirs = bwrapDirs()): Promise<SandboxProbe> {
  if (config.sandbox === 'none') return { kind: 'none' };
  const probe = await probeSandbox(sandboxPolicy(config, { kind: 'bwrap' }), config.workDir, dirs);
  if (probe.kind === 'none' && config.sandbox === 'bwrap') throw new SandboxUnavailableError(`--sandbox bwrap: bubblewrap does not work here: ${probe.reason ?? 'unknown reason'}`);
  return probe;
}
