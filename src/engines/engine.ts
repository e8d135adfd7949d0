import type { components } from '../../generated/schema.js';

export type TaskLog = components['schemas']['TaskLog'];

/** A task log as an engine reports it: the spec's, plus the batch system's id of the job where known. */
export type EngineTaskLog = TaskLog & { externalBatchId?: string | null };

/** One engine option: `--flag` (value null) or `--flag=value`. */
export interface EngineOption {
  flag: string;
  value: string | null;
}

/** Everything an engine needs to know about the run it drives. All paths absolute. */
export interface RunContext {
  runId: string;
  runDir: string;
  /** The engine's working folder: attachments, the workflow, `wes_inputs.json`. */
  executionDir: string;
  outputsDir: string;
  workflowPath: string;
  inputsPath: string;
  stdoutPath: string;
  stderrPath: string;
  /** Scratch space for the engine, inside the run; removed once the run is over. */
  tmpDir: string;
  /** Server defaults, then the user's (policed) options: later ones win. */
  options: EngineOption[];
}

/** The command to spawn: an argument vector (never a shell line) and extra environment. */
export interface EngineCommand {
  argv: string[];
  env: Record<string, string>;
  /** Where the engine keeps its own state of the run (Toil's job store), recorded as the run's `job_store`. */
  jobStore?: string;
}

/** What a finished engine produced. */
export interface EngineOutcome {
  outputs: Record<string, unknown>;
  /** A reason the run failed even though the engine exited 0 (e.g. a declared output is missing). */
  failure?: string;
}

/**
 * One workflow engine: how to build its command line, which options users may
 * pass, and how to read what it produced. Adding an engine means one file in
 * this folder and one line in the registry.
 */
export interface Engine {
  /** Unique key of this engine in the registry and in a run's record. */
  readonly id: string;
  /** The `workflow_engine` name clients choose it by (unique per workflow type). */
  readonly name: string;
  /** Upper-case workflow type it runs, e.g. `CWL`. */
  readonly workflowType: string;
  readonly workflowTypeVersions: readonly string[];
  /** Installed version, or null if the engine is not installed. */
  detectVersion(): Promise<string | null>;
  /**
   * Null when a user may pass this option as given; the reason when Ferry
   * sets the option itself and drops the user's (where outputs or scratch
   * space go). Throws a WES error (400) when a user may not pass it: unknown
   * to the engine, or one that would read or write outside the run.
   */
  checkUserOption(option: EngineOption): string | null;
  /**
   * Every string in a run's inputs (`params`, as `wes_inputs.json` will hold
   * them) that the engine will read as the location of a file or folder: a
   * path relative to the execution folder, an absolute path, or a URL. The
   * server checks each before accepting the run, the same way for every
   * engine, so what an engine leaves out here it must never read. Called once
   * the workflow is staged at `workflowPath` (an engine may read it to learn
   * which inputs are files). Throws a WES error (400) for inputs whose
   * locations cannot be told.
   */
  inputLocations(params: Record<string, unknown>, workflowPath: string): Promise<string[]>;
  /**
   * A copy of `params` in which every location {@link inputLocations} names
   * is replaced by `relocate(location)`, everything else kept as it is.
   * Absent: the engine's inputs cannot be rewritten, and a location the
   * server will not read is refused.
   */
  relocateInputs?(params: Record<string, unknown>, workflowPath: string, relocate: (location: string) => string): Promise<Record<string, unknown>>;
  buildCommand(ctx: RunContext): EngineCommand;
  /**
   * Options that make the engine spread its own jobs over a cluster's
   * scheduler when runs go there (Toil: `--batchSystem slurm`). Absent: the
   * engine runs all its work inside the run's one job.
   */
  clusterOptions?(scheduler: 'slurm'): EngineOption[];
  /**
   * Called once the engine has exited, before the run's scratch space is
   * removed: a chance to keep what the engine left there, and to explain a
   * failure. What it returns is added to the run's system logs.
   */
  afterExit?(ctx: RunContext, exitCode: number): Promise<string | undefined>;
  /** Reads the outputs after a successful exit. */
  collectOutputs(ctx: RunContext): Promise<EngineOutcome>;
  /** The run's task logs so far, in the order the tasks were first seen. */
  taskLogs(ctx: RunContext): Promise<EngineTaskLog[]>;
}

/** `--flag=value` / `--flag` as the engine expects them. */
export function renderOption(option: EngineOption): string {
  return option.value === null ? option.flag : `${option.flag}=${option.value}`;
}

/** Parses `--flag[=value]`. */
export function parseOption(text: string): EngineOption {
  const eq = text.indexOf('=');
  return eq === -1 ? { flag: text, value: null } : { flag: text.slice(0, eq), value: text.slice(eq + 1) };
}
