/**
 * A run's engine as one Slurm batch job: named `ferry-<run_id>`, working in
 * the run's execution folder, its stdout and stderr into the run's log files,
 * in the run's sandbox on the node. The run's supervisor stays on the Ferry
 * host and watches the job through the shared queue snapshot; the job id is
 * part of the run's record, so a later supervisor picks the job up again.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SlurmSettings } from '../../config/config.js';
import type { RunContext } from '../../engines/engine.js';
import type { ToilWorkflow } from '../../runs/workflow.js';
import type { EngineLaunch, Execution, ExecutionEnd, Executor } from '../executor.js';
import { killRunProcesses } from '../run-processes.js';
import { prepareRunFolder, sandboxCommand, type SandboxPolicy } from '../sandbox.js';
import { batchScript } from './batch-script.js';
import { jobDetails, sbatch, scancel, type QueuedJob } from './commands.js';
import type { SlurmQueue } from './queue.js';

/** Run-record keys of the Slurm executor. */
export const SlurmKeys = {
  /** The run's job id. */
  jobId: 'slurm_job_id',
  /** The run's own sbatch options (from its workflow_engine_parameters), a JSON array. */
  options: 'slurm_options',
} as const;

/** States of a job that is not over (it may still run, or run again). */
const ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);
/** States of a job whose processes have started. */
const STARTED = new Set(['RUNNING', 'COMPLETING', 'SUSPENDED', 'SIGNALING', 'STAGE_OUT', 'STOPPED']);
/**
 * Why a job waits that no waiting mends: it asks for more than its partition
 * allows (CPUs, time, nodes) or for what the cluster does not have. Slurm
 * keeps such a job pending for ever; Ferry ends the run instead.
 */
const NEVER_RUNS = new Set(['PartitionConfig', 'PartitionTimeLimit', 'PartitionNodeLimit', 'BadConstraints', 'InvalidAccount', 'InvalidQOS', 'QOSMaxCpuPerJobLimit', 'QOSMaxWallDurationPerJobLimit', 'QOSMaxMemoryPerJob', 'AccountNotAllowed']);
/** The longest a stop waits for the scheduler to let go of a run's jobs. */
const STOP_WAIT_MS = 120_000;

/** The job name and comment that tie jobs to a run (Toil's own jobs get the comment through TOIL_SLURM_ARGS). */
export const jobTag = (runId: string): string => `ferry-${runId}`;

/** Where the job's script leaves the engine's exit code. */
export const exitFile = (runDir: string): string => path.join(runDir, 'slurm-job.exit');

export interface SlurmExecutorOptions {
  workflow: ToilWorkflow;
  settings: SlurmSettings;
  queue: SlurmQueue;
  sandbox?: SandboxPolicy;
}

export class SlurmExecutor implements Executor {
  readonly kind = 'slurm';
  readonly queues = true;

  constructor(private readonly opts: SlurmExecutorOptions) {}

  async launch({ ctx, argv, env }: EngineLaunch): Promise<Execution> {
    const { sandbox, settings, workflow: wf } = this.opts;
    if (sandbox) await prepareRunFolder(sandbox, ctx.runDir);
    const policy = sandbox ? await withSlurmClient(sandbox) : undefined;
    const command = policy ? await sandboxCommand(policy, { runDir: ctx.runDir, tmpDir: ctx.tmpDir, cwd: ctx.executionDir }, argv) : [...argv];
    const runOptions = await this.runOptions();
    // Toil's runners submit their own jobs: tied to the run by its comment, with the deployment's options and the run's partition.
    const partition = runOptions.filter((o) => o.startsWith('--partition='));
    const jobEnv: Record<string, string> = { ...env, TOIL_SLURM_ARGS: [`--comment=${jobTag(ctx.runId)}`, ...settings.options, ...partition].join(' ') };
    if (process.env.SLURM_CONF) jobEnv.SLURM_CONF = process.env.SLURM_CONF;
    const script = batchScript({ runId: ctx.runId, argv: command, env: jobEnv, cwd: ctx.executionDir, exitFile: exitFile(ctx.runDir), leaderDepth: policy?.kind === 'bwrap' ? 2 : 0 });
    // Kept beside the run's logs: what ran, for whoever looks into the run.
    await fs.writeFile(path.join(ctx.runDir, 'slurm-job.sh'), script, { mode: 0o644 });
    const jobId = await sbatch(
      [
        `--job-name=${jobTag(ctx.runId)}`,
        `--comment=${jobTag(ctx.runId)}`,
        `--chdir=${ctx.executionDir}`,
        `--output=${ctx.stdoutPath}`,
        `--error=${ctx.stderrPath}`,
        '--export=ALL',
        ...settings.options,
        ...runOptions,
      ],
      script,
    );
    // Snapshots from now on hold the job: the controller knew it when sbatch answered.
    const submittedAt = Date.now();
    await wf.set(SlurmKeys.jobId, jobId);
    await wf.addSystemLog(`Ferry submitted the run to Slurm as job ${jobId} (${jobTag(ctx.runId)}).`);
    return new SlurmExecution(this.opts, ctx, jobId, submittedAt);
  }

  async reattach(ctx: RunContext): Promise<Execution | null> {
    const wf = this.opts.workflow;
    let jobId = await wf.get(SlurmKeys.jobId);
    if (jobId === null) {
      // A supervisor that died between sbatch and recording the id: its job carries the run's name.
      if ((await wf.get('cmd')) === null) return null;
      const snap = await this.opts.queue.snapshot(Date.now());
      jobId = snap.jobs.find((j) => j.name === jobTag(ctx.runId) && ACTIVE.has(j.state))?.id ?? null;
      if (jobId === null) return null;
      await wf.set(SlurmKeys.jobId, jobId);
    }
    await wf.addSystemLog(`Ferry watches the run's Slurm job ${jobId} again (its earlier supervisor stopped).`);
    return new SlurmExecution(this.opts, ctx, jobId, 0);
  }

  async killRun(runId: string, runDir: string): Promise<void> {
    await stopJobs(this.opts.queue, runId, null, this.opts.settings.pollMs);
    await killRunProcesses(runId, runDir);
  }

  /** The run's own sbatch options, as its submission recorded them. */
  private async runOptions(): Promise<string[]> {
    const raw = await this.opts.workflow.get(SlurmKeys.options);
    if (raw === null) return [];
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? parsed.filter((o): o is string => typeof o === 'string') : [];
  }
}

/**
 * The sandbox with what Slurm's client commands need inside (Toil's leader
 * submits its jobs from there): the cluster's configuration file and the
 * authentication daemon's socket, read-only.
 */
async function withSlurmClient(policy: SandboxPolicy): Promise<SandboxPolicy> {
  if (policy.kind !== 'bwrap') return policy;
  const extra: string[] = [];
  const conf = process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf';
  extra.push(conf);
  const text = await fs.readFile(conf, 'utf8').catch(() => '');
  // The socket alone: the folder beside it may hold munged's key.
  extra.push(/^\s*AuthInfo\s*=.*\bsocket=([^,\s]+)/im.exec(text)?.[1] ?? '/run/munge/munge.socket.2');
  return { ...policy, readOnly: [...policy.readOnly, ...extra] };
}

/** The run's jobs still in the queue: its own and those its engine submitted. */
function jobsOfRun(jobs: readonly QueuedJob[], runId: string, mainId: string | null): QueuedJob[] {
  const tag = jobTag(runId);
  return jobs.filter((j) => ACTIVE.has(j.state) && (j.id === mainId || j.name === tag || j.comment === tag));
}

/**
 * Cancels a run's jobs (its own and its engine's) and waits until none is
 * left in the queue: pending ones are dropped, running ones get SIGKILL.
 */
async function stopJobs(queue: SlurmQueue, runId: string, mainId: string | null, pollMs: number, signal = 'KILL', except?: string): Promise<void> {
  const deadline = Date.now() + STOP_WAIT_MS;
  for (let since = Date.now(); ; since = Date.now()) {
    const left = jobsOfRun((await queue.snapshot(since)).jobs, runId, mainId).filter((j) => j.id !== except);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`Slurm still holds the run's jobs ${left.map((j) => j.id).join(', ')} after ${STOP_WAIT_MS / 1000} s`);
    const pending = left.filter((j) => !STARTED.has(j.state)).map((j) => j.id);
    const started = left.filter((j) => STARTED.has(j.state) && j.state !== 'COMPLETING').map((j) => j.id);
    await scancel(pending);
    await scancel(started, { signal });
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

class SlurmExecution implements Execution {
  readonly started: Promise<void>;
  readonly ended: Promise<ExecutionEnd>;
  private markStarted!: () => void;
  private stopRequested = false;
  private running = false;

  constructor(
    private readonly opts: SlurmExecutorOptions,
    private readonly ctx: RunContext,
    readonly jobId: string,
    private readonly submittedAt: number,
  ) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
    this.ended = this.watch().catch((err: unknown): ExecutionEnd => ({
      kind: 'failed', state: 'SYSTEM_ERROR', exitCode: null, reason: `Ferry lost track of the run's Slurm job ${jobId}: ${(err as Error).message}`,
    })).finally(() => this.markStarted());
  }

  /** Follows the job through the shared snapshots until it leaves the active states. */
  private async watch(): Promise<ExecutionEnd> {
    const pollMs = this.opts.settings.pollMs;
    let failures = 0;
    for (;;) {
      let job: QueuedJob | undefined;
      try {
        job = (await this.opts.queue.snapshot(this.submittedAt)).jobs.find((j) => j.id === this.jobId);
        failures = 0;
      } catch (err) {
        // The controller may be restarting: keep watching, and say so now and then.
        if (failures++ % 30 === 0) await this.opts.workflow.addSystemLog(`Ferry could not read Slurm's queue (${(err as Error).message}); it keeps trying.`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, pollMs));
        continue;
      }
      // Not in the snapshot: the controller is asked about the job itself before it counts as over.
      const details = job ? null : await jobDetails(this.jobId).catch(() => null);
      if (!job && details?.JobState && ACTIVE.has(details.JobState)) job = { id: this.jobId, state: details.JobState, reason: details.Reason ?? '', nodes: details.NodeList ?? '', name: details.JobName ?? '', comment: '' };
      if (job && job.state === 'PENDING' && NEVER_RUNS.has(job.reason)) {
        await stopJobs(this.opts.queue, this.ctx.runId, this.jobId, pollMs);
        return { kind: 'failed', state: 'EXECUTOR_ERROR', exitCode: null, reason: `Slurm would never start the run's job ${this.jobId} (${job.reason}): it asks for more than its partition allows. The job was cancelled.` };
      }
      if (job && ACTIVE.has(job.state)) {
        if (STARTED.has(job.state) && !this.running) {
          this.running = true;
          await this.opts.workflow.addSystemLog(`Slurm job ${this.jobId} started${job.nodes ? ` on ${job.nodes}` : ''}.`).catch(() => undefined);
          this.markStarted();
        }
        await new Promise((r) => setTimeout(r, pollMs));
        continue;
      }
      return this.outcome(job);
    }
  }

  /** How the job ended, from the scheduler's word and the exit code its script left. */
  private async outcome(job: QueuedJob | undefined): Promise<ExecutionEnd> {
    const code = await readExitCode(this.ctx.runDir);
    const details = job?.state === 'COMPLETED' ? null : await jobDetails(this.jobId).catch(() => null);
    const state = job?.state ?? details?.JobState?.replace(/\+$/, '');
    const id = this.jobId;
    const exited = (exitCode: number): ExecutionEnd => ({ kind: 'exited', exitCode });
    const failed = (s: 'EXECUTOR_ERROR' | 'SYSTEM_ERROR' | 'PREEMPTED', reason: string): ExecutionEnd => ({ kind: 'failed', state: s, exitCode: code, reason });
    switch (state) {
      case 'COMPLETED':
        return exited(code ?? 0);
      case 'FAILED':
        return code !== null ? exited(code) : failed('EXECUTOR_ERROR', `The run's Slurm job ${id} failed before its engine could run (exit code ${details?.ExitCode ?? 'unknown'}${job?.reason ? `, ${job.reason}` : ''}).`);
      case 'CANCELLED':
        if (this.stopRequested) return exited(code ?? 143);
        return failed('SYSTEM_ERROR', `The run's Slurm job ${id} was cancelled outside Ferry (scancel by a user or an administrator).`);
      case 'TIMEOUT':
        return failed('EXECUTOR_ERROR', `The run's Slurm job ${id} reached its time limit${details?.TimeLimit ? ` (${details.TimeLimit})` : ''} and was stopped.`);
      case 'OUT_OF_MEMORY':
        return failed('EXECUTOR_ERROR', `The run's Slurm job ${id} ran out of memory and was stopped.`);
      case 'DEADLINE':
        return failed('EXECUTOR_ERROR', `The run's Slurm job ${id} reached its deadline and was stopped.`);
      case 'NODE_FAIL':
      case 'BOOT_FAIL':
        return failed('SYSTEM_ERROR', `The node of the run's Slurm job ${id} failed (${state})${details?.NodeList && details.NodeList !== '(null)' ? `: ${details.NodeList}` : ''}.`);
      case 'PREEMPTED':
        return failed('PREEMPTED', `The run's Slurm job ${id} was preempted by the scheduler; Ferry does not restart it.`);
      case undefined:
        if (code !== null) return exited(code);
        return failed('SYSTEM_ERROR', `The run's Slurm job ${id} vanished from the queue with no word on how it ended.`);
      default:
        return failed('SYSTEM_ERROR', `The run's Slurm job ${id} ended ${state}.`);
    }
  }

  /** SIGTERM to the engine through the job's script (which forwards it); a job still waiting is just dropped. */
  async terminate(): Promise<void> {
    this.stopRequested = true;
    const job = (await this.opts.queue.snapshot(Date.now())).jobs.find((j) => j.id === this.jobId);
    if (!job || !ACTIVE.has(job.state)) return;
    if (STARTED.has(job.state)) await scancel([this.jobId], { signal: 'TERM', batchOnly: true });
    else await scancel([this.jobId]);
  }

  async kill(): Promise<void> {
    this.stopRequested = true;
    await stopJobs(this.opts.queue, this.ctx.runId, this.jobId, this.opts.settings.pollMs);
    await killRunProcesses(this.ctx.runId, this.ctx.runDir);
    await this.ended;
  }

  /** The engine's own jobs it left in the queue: SIGTERM, then after the grace period everything. */
  async reap(graceMs: number): Promise<void> {
    const { queue, settings } = this.opts;
    // The run's own job is over (it may still show as completing); what else the run left is the engine's.
    const engineJobs = async (): Promise<QueuedJob[]> => jobsOfRun((await queue.snapshot(Date.now())).jobs, this.ctx.runId, null).filter((j) => j.id !== this.jobId);
    const left = await engineJobs();
    if (left.length === 0) return;
    await scancel(left.map((j) => j.id), { signal: 'TERM' });
    const deadline = Date.now() + Math.min(graceMs, 10_000);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, settings.pollMs));
      if ((await engineJobs()).length === 0) return;
    }
    await stopJobs(queue, this.ctx.runId, null, settings.pollMs, 'KILL', this.jobId);
  }
}

/** The exit code the job's script left, or null (it never got that far). */
async function readExitCode(runDir: string): Promise<number | null> {
  const text = await fs.readFile(exitFile(runDir), 'utf8').catch(() => null);
  const code = text === null ? NaN : Number(text.trim());
  return Number.isInteger(code) ? code : null;
}
