/** Deterministic ids, times and tags of the generated runs (shared by the generator and the index writer). */

/** The i-th generated run's id: `run-` and 32 hex digits. */
export function benchRunId(i: number): string {
  return `run-b0b0${i.toString(16).padStart(28, '0')}`;
}

/** Submission times one second apart, in order. */
export function benchSubmittedAt(i: number): Date {
  return new Date(Date.UTC(2025, 0, 1) + i * 1000);
}

/** A couple of tags per run, as clients set them. */
export function benchTags(i: number): Record<string, string> {
  return { project: `p${i % 10}`, bench: 'listing' };
}
