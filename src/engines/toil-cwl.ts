import path from 'node:path';
import { MessageBusReplay } from '../runs/message-bus.js';
import { wesTime } from '../util/time.js';
import { CWL_VERSIONS, readCwlOutputs } from './cwl.js';
import { renderOption, type Engine, type EngineCommand, type EngineOption, type EngineOutcome, type EngineTaskLog, type RunContext } from './engine.js';
import { checkOption, type OptionPolicy } from './option-policy.js';
import { commandVersion } from './version.js';

/** Toil options users may set, shared by Toil's runners. */
export const toilPolicy: OptionPolicy = {
  allowed: {
    '--retryCount': 'int',
    '--maxCores': 'amount',
    '--maxMemory': 'amount',
    '--maxDisk': 'amount',
    '--defaultCores': 'amount',
    '--defaultMemory': 'amount',
    '--defaultDisk': 'amount',
    '--defaultPreemptible': 'switch',
    '--logLevel': ['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG', 'critical', 'error', 'warning', 'info', 'debug'],
    '--logCritical': 'switch',
    '--logError': 'switch',
    '--logWarning': 'switch',
    '--logInfo': 'switch',
    '--logDebug': 'switch',
    '--logOff': 'switch',
    '--disableCaching': 'switch',
    '--disableChaining': 'switch',
    '--stats': 'switch',
    '--clean': ['always', 'onError', 'never', 'onSuccess'],
    '--cleanWorkDir': ['always', 'onError', 'never', 'onSuccess'],
    '--rescueJobsFrequency': 'int',
    '--maxJobDuration': 'int',
    '--deadlockWait': 'int',
    '--no-container': 'switch',
    '--strict-memory-limit': 'switch',
    '--bypass-file-store': 'switch',
    '--disable-streaming': 'switch',
    '--eval-timeout': 'int',
  },
  refused: {
    '--jobStore': 'the job store stays in the run\'s folder',
    '--workDir': 'scratch space stays in the run\'s folder',
    '--coordinationDir': 'scratch space stays in the run\'s folder',
    '--outdir': 'outputs always go to the run\'s outputs folder',
    '-o': 'outputs always go to the run\'s outputs folder',
    '--writeMessages': 'Ferry reads the message log from the run\'s folder',
    '--logFile': 'it writes outside the run',
    '--writeLogs': 'it writes outside the run',
    '--writeLogsGzip': 'it writes outside the run',
    '--tmpdir-prefix': 'temporary files stay in the run\'s folder',
    '--tmp-outdir-prefix': 'temporary files stay in the run\'s folder',
    '--basedir': 'inputs resolve against the run\'s folder',
    '--batchSystem': 'runs use the local batch system',
    '--restart': 'each run starts afresh',
    '--preserve-environment': 'the server\'s environment is not passed to tools',
    '--preserve-entire-environment': 'the server\'s environment is not passed to tools',
    '--provisioner': 'no cluster is provisioned from here',
    '--nodeTypes': 'no cluster is provisioned from here',
    '--singularity': 'no container engine runs here',
    '--user-space-docker-cmd': 'no container engine runs here',
    '--udocker': 'no container engine runs here',
    '--podman': 'no container engine runs here',
    '--enable-ext': 'extensions can run arbitrary commands',
    '--enable-dev': 'development versions of CWL are not offered',
    '--setEnv': 'the tools\' environment is set by Ferry',
    '-e': 'the tools\' environment is set by Ferry',
    '--jobstore': 'the job store stays in the run\'s folder',
    '--clusterStats': 'it writes outside the run',
    '--destBucket': 'outputs always go to the run\'s outputs folder',
    '--sseKey': 'it reads a file outside the run',
    '--debugWorker': 'workers must run in their own processes',
    '--parasolCommand': 'it runs another command',
    '--write-summary': 'it writes outside the run',
    '--overrides': 'it reads a file outside the run',
    '--cachedir': 'it names a folder outside the run',
  },
};

/**
 * Toil's CWL runner (`workflow_engine: toil`). Task logs come from replaying
 * its `--writeMessages` log.
 */
export class ToilCwlEngine implements Engine {
  readonly id = 'toil-cwl';
  readonly name = 'toil';
  readonly workflowType = 'CWL';
  readonly workflowTypeVersions = CWL_VERSIONS;
  private readonly replays = new BusReplays();

  constructor(private readonly executable = 'toil-cwl-runner') {}

  detectVersion(): Promise<string | null> {
    return commandVersion('toil', ['--version']);
  }

  checkUserOption(option: EngineOption): void {
    checkOption(this.name, toilPolicy, option);
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
        `--writeMessages=${ctx.busPath}`,
        `--outdir=${ctx.outputsDir}`,
        `--jobStore=${ctx.jobStorePath}`,
        ctx.workflowPath,
        ctx.inputsPath,
      ],
      env: { TMPDIR: ctx.tmpDir },
    };
  }

  collectOutputs(ctx: RunContext): Promise<EngineOutcome> {
    return readCwlOutputs(ctx);
  }

  taskLogs(ctx: RunContext): Promise<EngineTaskLog[]> {
    return this.replays.taskLogs(ctx.runId, ctx.busPath);
  }
}

/**
 * One incremental replay per run's message log, so each request reads only
 * what the engine appended since the last. Bounded: the least recently used
 * runs' replays are dropped (and rebuilt from the file if asked again).
 */
export class BusReplays {
  private readonly replays = new Map<string, MessageBusReplay>();

  constructor(private readonly capacity = 256) {}

  async taskLogs(runId: string, busPath: string): Promise<EngineTaskLog[]> {
    let replay = this.replays.get(runId);
    if (!replay || replay.path !== busPath) replay = new MessageBusReplay(busPath);
    this.replays.delete(runId);
    this.replays.set(runId, replay);
    if (this.replays.size > this.capacity) this.replays.delete(this.replays.keys().next().value!);
    await replay.update();
    return replay.jobs().map((job, i) => {
      const system: string[] = [`toil job ${job.job_store_id}`];
      if (job.batch_system) system.push(`batch system ${job.batch_system}`);
      if (job.toil_batch_id) system.push(`toil batch id ${job.toil_batch_id}`);
      if (job.external_batch_id) system.push(`external batch id ${job.external_batch_id}`);
      for (const [k, v] of Object.entries(job.annotations)) system.push(`${k}: ${v}`);
      return {
        id: String(i + 1),
        name: job.name || job.job_store_id,
        ...(job.exit_code !== -1 ? { exit_code: job.exit_code } : {}),
        start_time: wesTime(new Date(job.issued_at)),
        ...(job.finished_at !== null ? { end_time: wesTime(new Date(job.finished_at)) } : {}),
        system_logs: system,
        externalBatchId: job.external_batch_id,
      };
    });
  }
}
