/**
 * Where clients find things: a run's logs, the service-info. The API layer
 * makes these (nothing below it knows URLs); the backend only hands them out.
 */
export interface ApiLinks {
  stdout(runId: string): string;
  stderr(runId: string): string;
  taskLogs(runId: string): string;
  /** An output file or folder, by its path inside the run's outputs folder (`/`-separated). */
  output(runId: string, relative: string): string;
  serviceInfo(): string;
}

/**
 * Where an output File or Directory is on this machine, kept beside its URL
 * (a symbol: never serialized as such). The API layer shows it as `path` only
 * to a client on this very machine.
 */
export const LOCAL_PATH: unique symbol = Symbol('ferry.localPath');
