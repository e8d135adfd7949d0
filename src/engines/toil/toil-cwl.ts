import path from 'node:path';
import { CWL_VERSIONS, cwlInputLocations, readCwlOutputs, relocateCwlInputs } from '../cwl.js';
import { renderOption, type Engine, type EngineCommand, type EngineOutcome, type EngineTaskLog, type RunContext } from '../engine.js';
import { toilPaths } from './paths.js';
import { toilPolicy } from './policy.js';
import { ToilEngine } from './toil-engine.js';

/**
 * Toil's CWL runner (`workflow_engine: toil`). Task logs come from replaying
 * its `--writeMessages` log.
 */
export class ToilCwlEngine extends ToilEngine implements Engine {
  readonly id = 'toil-cwl';
  readonly workflowType = 'CWL';
  readonly workflowTypeVersions = CWL_VERSIONS;
  protected readonly policy = toilPolicy;

  constructor(private readonly executable = 'toil-cwl-runner') {
    super();
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
    return {
      argv: [
        this.executable,
        '--no-container',
        '--clean=always',
        `--workDir=${ctx.tmpDir}`,
        `--tmpdir-prefix=${path.join(ctx.tmpDir, 'cwl')}`,
        `--tmp-outdir-prefix=${path.join(ctx.tmpDir, 'out')}`,
        ...ctx.options.map(renderOption),
        `--writeMessages=${toilPaths(ctx).bus}`,
        `--outdir=${ctx.outputsDir}`,
        `--jobStore=${toilPaths(ctx).jobStore}`,
        ctx.workflowPath,
        ctx.inputsPath,
      ],
      env: { TMPDIR: ctx.tmpDir },
      jobStore: toilPaths(ctx).jobStore,
    };
  }

  collectOutputs(ctx: RunContext): Promise<EngineOutcome> {
    return readCwlOutputs(ctx);
  }

  taskLogs(ctx: RunContext): Promise<EngineTaskLog[]> {
    return this.toilJobs(ctx);
  }
}
