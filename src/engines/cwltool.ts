import { LRUCache } from 'lru-cache';
import { LineTail } from '../util/line-tail.js';
import { wesTime } from '../util/time.js';
import { CWL_VERSIONS, cwlInputLocations, readCwlOutputs, relocateCwlInputs } from './cwl.js';
import { renderOption, type Engine, type EngineCommand, type EngineOption, type EngineOutcome, type RunContext, type TaskLog } from './engine.js';
import { checkOption, type OptionPolicy } from './option-policy.js';
import { commandVersion } from './version.js';

const policy: OptionPolicy = {
  allowed: {
    '--parallel': 'switch',
    '--debug': 'switch',
    '--verbose': 'switch',
    '--strict': 'switch',
    '--non-strict': 'switch',
    '--strict-memory-limit': 'switch',
    '--strict-cpu-limit': 'switch',
    '--relax-path-checks': 'switch',
    '--skip-schemas': 'switch',
    '--disable-ext': 'switch',
    '--disable-validate': 'switch',
    '--disable-pull': 'switch',
    '--compute-checksum': 'switch',
    '--no-compute-checksum': 'switch',
    '--no-container': 'switch',
    '--no-read-only': 'switch',
    '--no-match-user': 'switch',
    '--on-error': ['stop', 'continue'],
    '--eval-timeout': 'int',
    '--js-console': 'switch',
    '--no-doc-cache': 'switch',
  },
  owned: {
    '--outdir': 'outputs go to the run\'s outputs folder',
    '--tmpdir-prefix': 'temporary files stay in the run\'s scratch folder',
    '--tmp-outdir-prefix': 'temporary files stay in the run\'s scratch folder',
    '--timestamps': 'Ferry reads the timestamps of cwltool\'s log lines for task logs',
    // Harmless for the run, but cwltool would then leave out the job lines task logs are made of.
    '--quiet': 'Ferry reads cwltool\'s job lines (logged at INFO) for task logs',
    '--enable-color': 'Ferry reads cwltool\'s log without colour codes',
    '--disable-color': 'Ferry reads cwltool\'s log without colour codes',
  },
  refused: {
    '--basedir': 'inputs resolve against the run\'s folder',
    '--cachedir': 'it names a folder outside the run',
    '--leave-outputs': 'outputs must be moved into the run\'s outputs folder',
    '--copy-outputs': 'outputs are moved into the run\'s outputs folder',
    '--move-outputs': 'outputs are moved into the run\'s outputs folder',
    '--leave-tmpdir': 'temporary files are removed with the run',
    '--overrides': 'it reads a file outside the run',
    '--preserve-environment': 'the server\'s environment is not passed to tools',
    '--preserve-entire-environment': 'the server\'s environment is not passed to tools',
    '--provenance': 'it writes outside the run',
    '--log-dir': 'it writes outside the run',
    '--print-rdf': 'it replaces the output object',
    '--print-dot': 'it replaces the output object',
    '--print-pre': 'it replaces the output object',
    '--print-deps': 'it replaces the output object',
    '--print-input-deps': 'it replaces the output object',
    '--pack': 'it replaces the output object',
    '--print-subgraph': 'it replaces the output object',
    '--print-targets': 'it replaces the output object',
    '--make-template': 'it replaces the output object',
    '--validate': 'it only validates',
    '--version': 'it only prints the version',
    '--enable-dev': 'development versions of CWL are not offered',
    '--enable-ext': 'extensions can run arbitrary commands',
    '--write-summary': 'it writes outside the run',
    '--js-hint-options-file': 'it reads a file outside the run',
    '--mpi-config-file': 'it reads a file outside the run',
    '--beta-dependency-resolvers-configuration': 'it reads a file outside the run',
    '--beta-dependencies-directory': 'it names a folder outside the run',
    '--cidfile-dir': 'it writes outside the run',
    '--cidfile-prefix': 'it writes outside the run',
    '--udocker': 'no container engine runs here',
    '--target': 'the whole workflow is run',
    '--single-step': 'the whole workflow is run',
    '--single-process': 'the whole workflow is run',
    '--tool-help': 'it replaces the output object',
    '--user-space-docker-cmd': 'no container engine runs here',
    '--singularity': 'no container engine runs here',
    '--podman': 'no container engine runs here',
    '--docker': 'no container engine runs here',
  },
};

/**
 * The CWL reference runner. Default CWL engine: starts fast, runs steps
 * locally, no containers.
 */
export class CwltoolEngine implements Engine {
  readonly id = 'cwltool';
  readonly name = 'cwltool';
  readonly workflowType = 'CWL';
  readonly workflowTypeVersions = CWL_VERSIONS;
  /** Each run's log parser, so a request reads only what was appended since the last; bounded. */
  private readonly tails = new LRUCache<string, CwltoolLogParser>({ max: 256 });

  constructor(private readonly executable = 'cwltool') {}

  detectVersion(): Promise<string | null> {
    return commandVersion(this.executable);
  }

  checkUserOption(option: EngineOption): string | null {
    return checkOption(this.name, policy, option);
  }

  /** File and Directory objects' `location` and `path` (see {@link cwlInputLocations}). */
  async inputLocations(params: Record<string, unknown>): Promise<string[]> {
    return cwlInputLocations(params);
  }

  /** The same File and Directory objects, relocated (see {@link relocateCwlInputs}). */
  async relocateInputs(params: Record<string, unknown>, _workflowPath: string, relocate: (location: string) => string): Promise<Record<string, unknown>> {
    return relocateCwlInputs(params, relocate);
  }

  buildCommand(ctx: RunContext): EngineCommand {
    const tmp = ctx.tmpDir;
    return {
      argv: [
        this.executable,
        '--no-container',
        '--timestamps',
        '--disable-color',
        `--tmpdir-prefix=${tmp}/`,
        `--tmp-outdir-prefix=${tmp}/`,
        ...ctx.options.map(renderOption),
        `--outdir=${ctx.outputsDir}`,
        ctx.workflowPath,
        ctx.inputsPath,
      ],
      env: {},
    };
  }

  collectOutputs(ctx: RunContext): Promise<EngineOutcome> {
    return readCwlOutputs(ctx);
  }

  async taskLogs(ctx: RunContext): Promise<TaskLog[]> {
    let parser = this.tails.get(ctx.runId);
    if (!parser || parser.path !== ctx.stderrPath) {
      parser = new CwltoolLogParser(ctx.stderrPath);
      this.tails.set(ctx.runId, parser);
    }
    return parser.update();
  }
}

// `[2026-11-29 06:35:38] INFO [job upper] completed success`
const LINE = /^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\] (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) \[job (.+?)\] (.*)$/;
const TIMESTAMPED = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /;

/**
 * Builds task logs from cwltool's own log lines (with `--timestamps`): a job
 * starts at its `[job NAME] DIR$ command` line and ends at `completed
 * STATUS`; `exited with status: N` gives its exit code. Read incrementally.
 */
export class CwltoolLogParser {
  private readonly tail: LineTail;
  private readonly tasks = new Map<string, TaskLog>();
  /** The job whose command line is being continued on the following lines. */
  private openCmd: { task: TaskLog; parts: string[] } | null = null;

  constructor(readonly path: string) {
    this.tail = new LineTail(path);
  }

  async update(): Promise<TaskLog[]> {
    const { lines, reset } = await this.tail.read();
    if (reset) {
      this.tasks.clear();
      this.openCmd = null;
    }
    for (const line of lines) this.consume(line);
    return [...this.tasks.values()].map((t) => ({ ...t }));
  }

  private consume(line: string): void {
    if (this.openCmd) {
      if (!TIMESTAMPED.test(line) && line.startsWith('    ')) {
        this.openCmd.parts.push(line.trim());
        this.openCmd.task.cmd = splitCommand(this.openCmd.parts);
        return;
      }
      this.openCmd = null;
    }
    const m = LINE.exec(line);
    if (!m) return;
    const [, y, mo, d, h, mi, s, name, rest] = m as unknown as [string, string, string, string, string, string, string, string, string];
    const when = wesTime(new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
    let task = this.tasks.get(name);
    if (!task) {
      task = { id: String(this.tasks.size + 1), name, start_time: when, system_logs: [] };
      this.tasks.set(name, task);
    }
    const status = /^exited with status: (-?\d+)/.exec(rest);
    const completed = /^completed (\w+)/.exec(rest);
    const cmdStart = /^\S*\$ (.*)$/.exec(rest);
    if (cmdStart) {
      task.start_time = when;
      this.openCmd = { task, parts: [cmdStart[1]!] };
      task.cmd = splitCommand(this.openCmd.parts);
    } else if (status) {
      task.exit_code = Number(status[1]);
    } else if (completed) {
      task.end_time = when;
      if (task.exit_code === undefined) task.exit_code = completed[1] === 'success' ? 0 : 1;
      task.system_logs!.push(`completed ${completed[1]}`);
    } else {
      task.system_logs!.push(rest);
    }
  }
}

/**
 * cwltool prints one argument a line, each but the last ending in ` \`,
 * shell-quoted; the arguments as run are those lines with the quoting undone.
 */
function splitCommand(parts: string[]): string[] {
  return parts.map((p) => unquote(p.endsWith(' \\') ? p.slice(0, -2) : p));
}

/** Undoes POSIX shell quoting: '…' literal, "…" with backslash escapes, bare backslash escapes. */
export function unquote(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) return out + text.slice(i);
      out += text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '$`"\\\n'.includes(text[j + 1]!)) j++;
        out += text[j];
      }
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      out += text[++i];
    } else {
      out += c;
    }
  }
  return out;
}
