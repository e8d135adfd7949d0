import fs from 'node:fs/promises';
import path from 'node:path';
import { inFolder } from '../util/atomic-file.js';
import { fileBatches } from '../util/file-batch.js';
import { isRunId, runIdsIn } from './state-store.js';

/**
 * The runs that have not reached a terminal state, as empty marker files in
 * `<store>/.active/`. A server starting up reads only these, not every run
 * ever stored, to find the runs it must resume, adopt or declare lost.
 */
export class ActiveRuns {
  readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = path.join(storeRoot, '.active');
  }

  async add(runId: string): Promise<void> {
    const marker = path.join(this.dir, checked(runId));
    await inFolder(this.dir, () => fileBatches().run([{ op: 'touch', path: marker }]));
  }

  async remove(runId: string): Promise<void> {
    await fs.rm(path.join(this.dir, checked(runId)), { force: true });
  }

  list(): Promise<string[]> {
    return runIdsIn(this.dir);
  }
}

function checked(runId: string): string {
  if (!isRunId(runId)) throw new Error(`invalid run id '${runId}'`);
  return runId;
}
