/**
 * Format a date the way WES (and Toil's server) reports times:
 * `YYYY-MM-DDTHH:MM:SSZ` in UTC, without fractional seconds.
 *
 * Milliseconds are truncated rather than rounded, like `strftime`, so a
 * timestamp never lands in a second that has not started yet.
 *
 * @throws RangeError when the date is invalid.
 */
export function wesTime(d: Date): string {
  // toISOString throws RangeError on an invalid date, which is what we want:
  // a silently wrong timestamp would be worse than a loud failure.
  const iso = d.toISOString();
  return iso.replace(/\.\d+Z$/, 'Z');
}
