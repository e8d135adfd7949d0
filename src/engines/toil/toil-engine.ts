import type { EngineOption, EngineTaskLog, RunContext } from '../engine.js';
import { checkOption, type OptionPolicy } from '../option-policy.js';
import { commandVersion } from '../version.js';
import { BusReplays } from './bus-replays.js';
import { toilPaths } from './paths.js';

/**
 * What Toil's runners share: the public name `toil`, Toil's version, an
 * option policy, and task logs replayed from the run's message log.
 */
export abstract class ToilEngine {
  readonly name = 'toil';
  /** The options users may pass to this runner. */
  protected abstract readonly policy: OptionPolicy;
  private readonly replays = new BusReplays();

  detectVersion(): Promise<string | null> {
    return commandVersion('toil', ['--version']);
  }

  /** On a cluster, Toil submits each of its jobs to the scheduler itself. */
  clusterOptions(scheduler: 'slurm'): EngineOption[] {
    return [{ flag: '--batchSystem', value: scheduler }];
  }

  checkUserOption(option: EngineOption): string | null {
    return checkOption(this.name, this.policy, option);
  }

  /** The run's Toil jobs so far, from its `--writeMessages` log. */
  protected toilJobs(ctx: RunContext): Promise<EngineTaskLog[]> {
    return this.replays.taskLogs(ctx.runId, toilPaths(ctx).bus);
  }
}
