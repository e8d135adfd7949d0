import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FerryConfig } from '../config/config.js';
import { serverOptionsFor } from '../engines/option-policy.js';
import type { EngineRegistry } from '../engines/registry.js';
import type { ActiveRuns } from '../runs/active-runs.js';
import type { RunIndex } from '../runs/run-index.js';
import type { PreparedRecord, StateStore } from '../runs/state-store.js';
import { JOURNAL_MAX_BYTES, JOURNAL_MAX_FILES, type SubmissionJournal } from '../runs/submission-journal.js';
import { RunKeys, ToilWorkflow } from '../runs/workflow.js';
import { SlurmKeys } from '../tasks/slurm/slurm-executor.js';
import type { SchedulerPolicy } from './scheduler-options.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import { ServiceUnavailableError, storageError, WesError } from '../util/errors.js';
import type { Caller } from './caller.js';
import { Staging } from './staging.js';
import type { WorkflowAllowList } from './workflow-allow-list.js';
import { acceptSubmission, type SubmissionFields } from './submission.js';
import { stringifyExact } from '../util/exact-json.js';
import { randomHex } from '../util/random.js';

export interface RunSubmissionDeps {
  config: FerryConfig;
  store: StateStore;
  index: RunIndex;
  activeRuns: ActiveRuns;
  engines: EngineRegistry;
  taskRunner: TaskRunner;
  /** Makes small submissions durable in one write (absent: every file is fsynced). */
  journal?: SubmissionJournal;
  logger: Logger;
  /** This server's identity, recorded with each run it accepts. */
  serverId: string;
  /** Registered workflows only (absent: any workflow). */
  allowList?: WorkflowAllowList;
  /** What runs may ask of the scheduler (with `--executor slurm`). */
  scheduler?: SchedulerPolicy;
}

/**
 * Turns an accepted submission into a run: admission against the queue
 * bound, every check before anything exists, then the run made durable and
 * visible all at once, and handed to the task runner. A rejected submission
 * leaves nothing behind.
 */
export class RunSubmission {
  /** Submissions between their admission check and their queueing. */
  private admitting = 0;

  constructor(private readonly deps: RunSubmissionDeps) {}

  /** Submits the form whose attachments are in `staging` (made here when nothing was attached); returns the new run's id. */
  async submit(fields: SubmissionFields, staging: Staging | undefined, caller: Caller): Promise<string> {
    const { taskRunner, config } = this.deps;
    // Admission first: past the queue bound, refuse before anything is created.
    if (taskRunner.queueLength + this.admitting >= config.maxQueuedRuns) {
      await staging?.discard().catch(() => undefined);
      throw new ServiceUnavailableError(`The server has ${config.maxQueuedRuns} runs waiting already; try again later.`, 5);
    }
    this.admitting++;
    try {
      return await this.admit(fields, staging ?? (await Staging.create(config.workDir)), caller?.user);
    } finally {
      this.admitting--;
    }
  }

  /** `owner`: the user the run will belong to (none without authentication). */
  private async admit(fields: SubmissionFields, stage: Staging, owner: string | undefined): Promise<string> {
    const { config, store, index, activeRuns, engines, journal, logger } = this.deps;
    let runId: string | null = null;
    let preparing: Promise<PreparedRecord> | null = null;
    let journaled: string | null = null;
    let journaling: Promise<void> | undefined;
    try {
      const accepted = await acceptSubmission(fields, stage, engines, config, this.deps.allowList, this.deps.scheduler);
      // On a cluster, an engine that can spread its own jobs over it does so (Toil: --batchSystem slurm); server and user options come after.
      const clusterOptions = config.executor === 'slurm' ? (accepted.engine.clusterOptions?.('slurm') ?? []) : [];
      const options = [...clusterOptions, ...serverOptionsFor(config.engineOptions, accepted.engine.name), ...accepted.userOptions];
      // Written plainly: the submission is made durable as a whole below.
      await Promise.all([
        stage.writeKept(`${stage.dir}/request.json`, stringifyExact(accepted.request, 2) + '\n'),
        stage.writeKept(`${stage.executionDir}/wes_inputs.json`, stringifyExact(accepted.params, 2) + '\n'),
      ]);

      runId = `run-${randomHex(16)}`;
      const wf = new ToilWorkflow(config.workDir, store, runId);
      const record = ToilWorkflow.initialRecord({
        [RunKeys.engine]: accepted.engine.id,
        [RunKeys.workflow]: accepted.workflow,
        [RunKeys.engineOptions]: JSON.stringify(options),
        [RunKeys.serverId]: this.deps.serverId,
        [RunKeys.submittedAt]: new Date().toISOString(),
        // What the submission changed of what was asked (options dropped, inputs taken from the attachments).
        ...(accepted.notes.length === 0 ? {} : { [RunKeys.systemLogs]: JSON.stringify(accepted.notes) }),
        ...(owner === undefined ? {} : { [RunKeys.owner]: owner }),
        ...(accepted.schedulerOptions.length === 0 ? {} : { [SlurmKeys.options]: JSON.stringify(accepted.schedulerOptions) }),
      });
      // A small submission is written plainly and made durable by one journal entry holding all of
      // it; a bigger one has every file fsynced. Then the two renames in order: the run folder, then
      // the record (state QUEUED included), which makes the run exist, all at once.
      const contents = journal ? await stage.contents(JOURNAL_MAX_BYTES, JOURNAL_MAX_FILES) : null;
      preparing = store.prepare(runId, record, { durable: contents === null });
      // The journal entry (flushed with those of the other submissions of the moment) is written
      // meanwhile: it holds the record too, and nothing is renamed into place before all is done.
      const id = runId;
      journaling =
        journal && contents
          ? journal
              .write({ v: 1, run_id: id, dirs: contents.dirs, files: Object.fromEntries(Object.entries(contents.files).map(([rel, data]) => [rel, data.toString('base64')])), record })
              .then(() => void (journaled = id))
          : undefined;
      const [prepared] = await Promise.all([preparing, activeRuns.add(runId), contents ? undefined : stage.sync(), journaling]);
      await stage.moveTo(wf.runDir, contents === null);
      await prepared.publish();
      if (journaled) journal?.settled(journaled);
      await index.add(runId, accepted.tags, owner);
      this.deps.taskRunner.run(runId);
      logger.info({ run_id: runId, engine: accepted.engine.name }, 'run accepted');
      return runId;
    } catch (err) {
      await stage.discard().catch(() => undefined);
      await preparing?.then((p) => p.discard(), () => undefined);
      // An entry still being flushed when something else failed must be withdrawn too.
      await journaling?.catch(() => undefined);
      if (journaled) await journal?.withdraw(journaled).catch((e: unknown) => logger.error({ err: e, run_id: journaled }, 'could not withdraw a failed submission from the journal'));
      if (runId !== null && !index.has(runId)) {
        await fs.rm(new ToilWorkflow(config.workDir, store, runId).runDir, { recursive: true, force: true }).catch(() => undefined);
        await store.remove(runId).catch(() => undefined);
        await activeRuns.remove(runId).catch(() => undefined);
      }
      throw (err instanceof WesError ? null : storageError(err, 'store the run')) ?? err;
    }
  }
}
