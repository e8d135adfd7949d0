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

/** The j-th bench user's name, as it appears in the tokens file and as a run's owner. */
export function benchUser(j: number): string {
  return `user${String(j).padStart(3, '0')}`;
}

/** The i-th run's owner when runs are spread round robin over `owners` users; none (no authentication) when `owners` is 0. */
export function benchOwner(i: number, owners: number): string | undefined {
  return owners > 0 ? benchUser(i % owners) : undefined;
}

/** The ids of user `j`'s runs among `n` spread over `owners` users, oldest first. */
export function benchOwnerRunIds(n: number, owners: number, j: number): string[] {
  const ids: string[] = [];
  for (let i = j; i < n; i += owners) ids.push(benchRunId(i));
  return ids;
}
