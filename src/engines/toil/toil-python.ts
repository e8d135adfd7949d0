import { execFile } from 'node:child_process';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { errnoCode } from '../../util/errors.js';
import { inBackground } from '../../util/process.js';
import { cwlInputLocations, relocateCwlInputs } from '../cwl.js';
import { renderOption, type Engine, type EngineCommand, type EngineOutcome, type EngineTaskLog, type RunContext } from '../engine.js';
import type { OptionPolicy } from '../option-policy.js';
import { toilPaths } from './paths.js';
import { toilPolicy } from './policy.js';
import { ToilEngine } from './toil-engine.js';

/** Environment variable holding the absolute path of the run's `wes_inputs.json` (the workflow_params). */
const WES_INPUTS_ENV = 'WES_INPUTS';
/** Environment variable holding the absolute path of the run's outputs folder; every file left there is an output. */
const WES_OUTPUTS_ENV = 'WES_OUTPUTS';

/** Interpreters {@link ToilPythonEngine.detect} tries by default, in order. */
const DEFAULT_PYTHON_CANDIDATES: readonly string[] = ['/usr/bin/python3', 'python3', 'python'];

/**
 * Every option string of Toil's standard `Job.Runner.getDefaultArgumentParser()`
 * (read from Toil 5.9). A Toil Python script's parser rejects anything else,
 * so of the options Toil's runners share only these are offered here: the
 * CWL runner's own (`--no-container`, `--eval-timeout`…) would make the
 * script exit with a usage error.
 */
const JOB_RUNNER_FLAGS: ReadonlySet<string> = new Set([
  '--logCritical', '--logError', '--logWarning', '--logDebug', '--logInfo', '--logOff', '--logLevel', '--logFile',
  '--rotatingLogging', '--workDir', '--coordinationDir', '--noStdOutErr', '--stats', '--clean', '--cleanWorkDir',
  '--clusterStats', '--restart', '--batchSystem', '--disableHotDeployment', '--disableAutoDeployment', '--maxLocalJobs',
  '--manualMemArgs', '--runCwlInternalJobsOnWorkers', '--coalesceStatusCalls', '--statePollingWait', '--awsBatchRegion',
  '--awsBatchQueue', '--awsBatchJobRoleArn', '--parasolCommand', '--parasolMaxBatches', '--scale', '--dont_allocate_mem',
  '--allocate_mem', '--linkImports', '--noLinkImports', '--moveExports', '--noMoveExports', '--disableCaching', '--caching',
  '--provisioner', '-p', '--nodeTypes', '--minNodes', '--maxNodes', '--targetTime', '--betaInertia', '--scaleInterval',
  '--preemptibleCompensation', '--preemptableCompensation', '--nodeStorage', '--nodeStorageOverrides', '--metrics',
  '--assumeZeroOverhead', '--maxServiceJobs', '--maxPreemptibleServiceJobs', '--deadlockWait', '--deadlockCheckInterval',
  '--defaultMemory', '--defaultCores', '--defaultDisk', '--defaultAccelerators', '--defaultPreemptible',
  '--defaultPreemptable', '--maxCores', '--maxMemory', '--maxDisk', '--retryCount', '--enableUnlimitedPreemptibleRetries',
  '--enableUnlimitedPreemptableRetries', '--doubleMem', '--maxJobDuration', '--rescueJobsFrequency', '--maxLogFileSize',
  '--writeLogs', '--writeLogsGzip', '--writeLogsFromAllJobs', '--writeMessages', '--realTimeLogging', '--disableChaining',
  '--disableJobStoreChecksumVerification', '--sseKey', '--setEnv', '-e', '--servicePollingInterval',
  '--forceDockerAppliance', '--statusWait', '--disableProgress', '--debugWorker', '--disableWorkerOutputCapture',
  '--badWorker', '--badWorkerFailInterval',
]);

/**
 * What users may pass to a Toil Python workflow: Toil's shared policy,
 * narrowed to the options a `Job.Runner` parser accepts. Refusals (and their
 * reasons) are Toil's shared ones.
 */
export const toilPythonPolicy: OptionPolicy = {
  allowed: Object.fromEntries(Object.entries(toilPolicy.allowed).filter(([flag]) => JOB_RUNNER_FLAGS.has(flag))),
  owned: toilPolicy.owned,
  refused: toilPolicy.refused,
};

/** What {@link ToilPythonEngine.detect} learnt about an interpreter that can import Toil. */
export interface ToilPython {
  /** Absolute path of the interpreter (its `sys.executable`). */
  executable: string;
  /** `major.minor`, e.g. `3.11`. */
  version: string;
  /** Toil's version as that interpreter imports it, e.g. `5.9.0`; null if it has none. */
  toilVersion: string | null;
  /**
   * A folder to put first on PATH so that Toil finds its own `_toil_worker`
   * (Toil runs workers by that name through PATH); null when PATH already
   * leads to it.
   */
  workerDir: string | null;
}

const PROBE_MARK = 'FERRY-TOIL-PYTHON ';
// Printed as one JSON line after a mark, so nothing `import toil` prints can be mistaken for it.
const PROBE = [
  'import json, os, shutil, sys',
  'import toil, toil.version',
  'worker = os.path.join(os.path.dirname(sys.executable), "_toil_worker")',
  'found = shutil.which("_toil_worker")',
  'print()',
  `print(${JSON.stringify(PROBE_MARK)} + json.dumps({"executable": sys.executable, "version": "%d.%d" % sys.version_info[:2], "toil": getattr(toil.version, "version", None), "worker": worker if os.access(worker, os.X_OK) else None, "found": found}))`,
].join('\n');

/**
 * Toil Python workflows (WES `workflow_type: PY`, `workflow_engine: toil`),
 * run the way Toil's WES server runs them:
 * `<python> <workflow.py> <options…> <job store>`.
 *
 * The workflow finds its inputs (the run's `workflow_params`) in the JSON file
 * named by `$WES_INPUTS`, and writes its results into the folder named by
 * `$WES_OUTPUTS`: every file it leaves there is an output. Task logs come from
 * Toil's message log, as for Toil's CWL runner.
 *
 * The interpreter is found at start-up ({@link detect}): the first one that
 * can `import toil`, which need not be the `python3` first on PATH.
 */
export class ToilPythonEngine extends ToilEngine implements Engine {
  readonly id = 'toil-python';
  readonly workflowType = 'PY';
  readonly workflowTypeVersions: readonly string[];
  protected readonly policy = toilPythonPolicy;

  constructor(readonly python: ToilPython) {
    super();
    this.workflowTypeVersions = [python.version];
  }

  /**
   * The engine for the first of `candidates` (paths or names looked up on
   * PATH) that can `import toil`; null when none can, and then the server
   * does not offer PY. The probe runs with the environment a run gets (no
   * PYTHONPATH, no user site-packages), so what it finds is what runs.
   */
  static async detect(candidates: readonly string[] = DEFAULT_PYTHON_CANDIDATES): Promise<ToilPythonEngine | null> {
    for (const candidate of candidates) {
      const found = await probePython(candidate);
      if (found) return new ToilPythonEngine(found);
    }
    return null;
  }

  /** Toil's version as the detected interpreter imports it. */
  override detectVersion(): Promise<string | null> {
    return Promise.resolve(this.python.toilVersion);
  }

  /**
   * A Toil Python workflow reads its inputs however its author wrote it, so
   * no key or type says which strings are files. Ferry takes the WES
   * convention the other engines share: CWL-style File and Directory objects
   * (`{"class": "File", "location": …}`) name files, and are checked; any
   * other string is the workflow's own business, like the rest of its code.
   */
  async inputLocations(params: Record<string, unknown>): Promise<string[]> {
    return cwlInputLocations(params);
  }

  /** The same File and Directory objects, relocated (see {@link relocateCwlInputs}). */
  async relocateInputs(params: Record<string, unknown>, _workflowPath: string, relocate: (location: string) => string): Promise<Record<string, unknown>> {
    return relocateCwlInputs(params, relocate);
  }

  buildCommand(ctx: RunContext): EngineCommand {
    const env: Record<string, string> = {
      TMPDIR: ctx.tmpDir,
      [WES_INPUTS_ENV]: ctx.inputsPath,
      [WES_OUTPUTS_ENV]: ctx.outputsDir,
      // What detect() checked: the interpreter's own site-packages, not the (scratch) HOME's.
      PYTHONNOUSERSITE: '1',
    };
    if (this.python.workerDir) env.PATH = [this.python.workerDir, process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter);
    return {
      argv: [
        this.python.executable,
        ctx.workflowPath,
        `--workDir=${ctx.tmpDir}`,
        '--clean=always',
        ...ctx.options.map(renderOption),
        // After the options: Ferry reads this log, and an option with an
        // optional value (`--defaultPreemptible`) must not swallow the job store.
        `--writeMessages=${toilPaths(ctx).bus}`,
        toilPaths(ctx).jobStore,
      ],
      env,
      jobStore: toilPaths(ctx).jobStore,
    };
  }

  async collectOutputs(ctx: RunContext): Promise<EngineOutcome> {
    return { outputs: await filesIn(ctx.outputsDir) };
  }

  taskLogs(ctx: RunContext): Promise<EngineTaskLog[]> {
    return this.toilJobs(ctx);
  }
}

/** Asks one interpreter whether it can import Toil; null when it cannot (or is missing). */
function probePython(candidate: string): Promise<ToilPython | null> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: process.env.LANG ?? 'C.UTF-8',
    PYTHONNOUSERSITE: '1',
  };
  // Shims (pyenv) need HOME to find their settings; user site-packages stay off regardless.
  if (process.env.HOME) env.HOME = process.env.HOME;
  return new Promise((resolve) => {
    // cwd '/': `python -c` imports from its working folder first, and the server's must not count.
    // At a low priority: it runs beside a starting server (see inBackground).
    const child = execFile(candidate, ['-c', PROBE], { cwd: '/', env, timeout: 60_000, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve(null);
      const line = stdout.split('\n').reverse().find((l) => l.startsWith(PROBE_MARK));
      if (!line) return resolve(null);
      try {
        const info = JSON.parse(line.slice(PROBE_MARK.length)) as { executable?: unknown; version?: unknown; toil?: unknown; worker?: unknown; found?: unknown };
        const executable = typeof info.executable === 'string' && path.isAbsolute(info.executable) ? info.executable : path.isAbsolute(candidate) ? candidate : null;
        if (!executable || typeof info.version !== 'string' || !/^\d+\.\d+$/.test(info.version)) return resolve(null);
        const toilVersion = typeof info.toil === 'string' ? (/(\d+\.\d+(?:\.\d+)*)/.exec(info.toil)?.[1] ?? null) : null;
        const worker = typeof info.worker === 'string' ? info.worker : null;
        const workerDir = worker !== null && worker !== info.found ? path.dirname(worker) : null;
        resolve({ executable, version: info.version, toilVersion, workerDir });
      } catch {
        resolve(null);
      }
    });
    inBackground(child);
  });
}

/**
 * The files under `dir` as WES outputs, keyed by their path relative to it
 * (`/`-separated, sorted). Sub-folders are walked; a symbolic link counts
 * only if it leads to a regular file inside `dir` (links to folders are not
 * walked, so no loop and no escape). Anything else (fifos, sockets) is left out.
 */
export async function filesIn(outputsDir: string): Promise<Record<string, { location: string; size: number; class: 'File' }>> {
  const dir = path.resolve(outputsDir);
  let root: string;
  try {
    root = await fs.realpath(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return {};
    throw err;
  }
  const found: [string, { location: string; size: number; class: 'File' }][] = [];
  const inside = (p: string): boolean => {
    const rel = path.relative(root, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  const walk = async (folder: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
        continue;
      }
      let file = full;
      if (entry.isSymbolicLink()) {
        const target = await fs.realpath(full).catch(() => null);
        if (target === null || !inside(target)) continue;
        file = target;
      } else if (!entry.isFile()) {
        continue;
      }
      const stat = await fs.stat(file).catch(() => null);
      if (!stat?.isFile()) continue;
      const key = path.relative(dir, full).split(path.sep).join('/');
      found.push([key, { location: pathToFileURL(full).href, size: stat.size, class: 'File' }]);
    }
  };
  await walk(dir);
  found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(found);
}
