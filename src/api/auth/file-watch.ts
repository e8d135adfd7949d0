import fs, { type FSWatcher, type Stats } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

/** A file's identity and version: a change in any part means it was rewritten or replaced. */
export function fileSignature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** How a watched file is checked. */
export interface WatchTiming {
  /** Quiet time after the last event before checking: editors and `htpasswd` touch a file several times. */
  debounceMs: number;
  /** A slow stat poll beside `fs.watch`, which misses events on some file systems (NFS, some containers). */
  pollMs: number;
}

/**
 * Calls `check` soon after a file may have changed: on `fs.watch` events of
 * its folder (editors replace files by rename, which a watch on the file
 * itself stops seeing) and on a slow poll. `check` decides whether it did
 * change. Keeps no process alive. Returns the function that stops it.
 */
export function watchFile(file: string, check: () => void, logger: Logger, timing: WatchTiming): () => void {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let watcher: FSWatcher | null = null;
  let debounce: NodeJS.Timeout | null = null;
  let closed = false;
  // Warn once when the watch is lost, not on every poll that fails to restore it.
  let warned = false;

  const schedule = (): void => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = null;
      if (!closed) check();
    }, timing.debounceMs);
    debounce.unref();
  };

  const startWatch = (): void => {
    try {
      watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms give no name: then any event in the folder counts.
        if (name === null || name === base) schedule();
      });
      warned = false;
      watcher.on('error', (err) => {
        logger.warn({ file, err: err.message }, 'credentials: watching the folder failed; polling only');
        warned = true;
        watcher?.close();
        watcher = null;
      });
    } catch (err) {
      if (!warned) logger.warn({ file, err: (err as Error).message }, 'credentials: cannot watch the folder; polling only');
      warned = true;
      watcher = null;
    }
  };

  startWatch();
  const poll = setInterval(() => {
    // A folder removed and made again loses its watch: try again.
    if (!watcher) startWatch();
    check();
  }, timing.pollMs);
  poll.unref();

  return () => {
    closed = true;
    clearInterval(poll);
    if (debounce) clearTimeout(debounce);
    watcher?.close();
    watcher = null;
  };
}
