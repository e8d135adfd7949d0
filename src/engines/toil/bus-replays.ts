import { LRUCache } from 'lru-cache';
import type { EngineTaskLog } from '../engine.js';
import { wesTime } from '../../util/time.js';
import { MessageBusReplay } from './message-bus.js';

/**
 * One incremental replay per run's message log, so each request reads only
 * what the engine appended since the last. Bounded: the least recently used
 * runs' replays are dropped (and rebuilt from the file if asked again).
 */
export class BusReplays {
  private readonly replays = new LRUCache<string, MessageBusReplay>({ max: 256 });

  async taskLogs(runId: string, busPath: string): Promise<EngineTaskLog[]> {
    let replay = this.replays.get(runId);
    if (!replay || replay.path !== busPath) {
      replay = new MessageBusReplay(busPath);
      this.replays.set(runId, replay);
    }
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
