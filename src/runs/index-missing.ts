import type { IndexFacts } from './index-entry.js';
import type { StateStore } from './state-store.js';
import { RunKeys } from './workflow.js';

/** What of the index adding missing runs needs. */
interface IndexToComplete {
  has(runId: string): boolean;
  add(runId: string, tags: Record<string, string>, owner?: string): Promise<void>;
}

/**
 * Adds to the index the runs the store holds that it does not (a crash
 * between a run's record and its index line, or a store older than the
 * index), in the order they were submitted. The store's folder is read in
 * batches, never listed whole.
 */
export async function addMissingRuns(index: IndexToComplete, store: StateStore, readFacts: (runId: string) => Promise<IndexFacts>): Promise<void> {
  const missing: string[] = [];
  for await (const batch of store.runIdBatches()) for (const id of batch) if (!index.has(id)) missing.push(id);
  if (missing.length === 0) return;
  const withTimes = await Promise.all(missing.map(async (id) => ({ id, at: (await store.get(id, RunKeys.submittedAt)) ?? '', exists: await store.has(id) })));
  withTimes.sort((a, b) => a.at.localeCompare(b.at));
  for (const m of withTimes) {
    if (!m.exists) continue;
    const facts = await readFacts(m.id).catch((): IndexFacts => ({ tags: {} }));
    await index.add(m.id, facts.tags, facts.owner);
  }
}
