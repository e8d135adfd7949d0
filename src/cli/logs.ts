/**
 * `ferry logs RUN [-f] [--stderr]`: the engine's stdout (or stderr) of a run;
 * with -f, follows it while the run goes on, asking only for the bytes not yet
 * shown (Range), until the run ends.
 */
import { FINAL_STATES } from '../client/client.js';
import { answer, connectionError, httpError, onePositional, parseCommand, session, type CliIo, type Session } from './context.js';

const usage = 'ferry logs RUN [-f|--follow] [--stderr] [--json]';

/**
 * The run's log from byte `from` on: the bytes, or none when nothing is new.
 * The typed route is the one `run_log.stdout`/`stderr` point at; going through
 * it keeps the credentials on the server the client was given.
 */
async function logFrom(s: Session, runId: string, stream: 'stdout' | 'stderr', from: number, following: boolean): Promise<Buffer> {
  const route = stream === 'stdout' ? '/toil/wes/v1/logs/{run_id}/stdout' : '/toil/wes/v1/logs/{run_id}/stderr';
  let res;
  try {
    res = await s.client.GET(route, { params: { path: { run_id: runId } }, parseAs: 'arrayBuffer', ...(from > 0 ? { headers: { range: `bytes=${from}-` } } : {}) });
  } catch (err) {
    throw connectionError(s, err);
  }
  // 416: nothing new; 404 while following a run that exists: its engine has not started yet.
  if (res.response.status === 416 || (following && res.response.status === 404)) return Buffer.alloc(0);
  if (!res.response.ok) throw httpError(res.response, res.error);
  // openapi-fetch gives no data for an empty body (Content-Length: 0): an empty log, not an error.
  const bytes = res.data ? Buffer.from(res.data as ArrayBuffer) : Buffer.alloc(0);
  // A server that ignores Range answers the whole log: skip what was shown.
  return res.response.status === 200 && from > 0 ? bytes.subarray(from) : bytes;
}

/** The run's log; with `follow`, written as it grows until the run ends. */
export async function showLog(s: Session, runId: string, stream: 'stdout' | 'stderr', follow: boolean, out: NodeJS.WritableStream, intervalMs = 1000): Promise<void> {
  let offset = 0;
  for (;;) {
    // The state is read before the log: a run found ended has written all its log by then.
    const state = follow ? (await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}/status', { params: { path: { run_id: runId } } }))).state : undefined;
    const bytes = await logFrom(s, runId, stream, offset, follow);
    if (bytes.length) out.write(bytes);
    offset += bytes.length;
    if (!follow || (state !== undefined && FINAL_STATES.has(state))) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function logsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { follow: { type: 'boolean', short: 'f', default: false }, stderr: { type: 'boolean', default: false } });
  if (values.help) {
    io.stdout.write(`usage: ${usage}\n`);
    return 0;
  }
  const runId = onePositional(positionals, 'RUN', usage);
  const s = session(values, io);
  const stream = values.stderr ? 'stderr' : 'stdout';
  if (!s.json) {
    await showLog(s, runId, stream, values.follow, io.stdout);
    return 0;
  }
  // --json: the whole log as one object; followed, one object a chunk (JSON lines).
  const chunks: Buffer[] = [];
  const sink = {
    write: (b: Buffer) => (values.follow ? io.stdout.write(`${JSON.stringify({ run_id: runId, stream, text: b.toString('utf8') })}\n`) : chunks.push(b)),
  } as unknown as NodeJS.WritableStream;
  await showLog(s, runId, stream, values.follow, sink);
  if (!values.follow) io.stdout.write(`${JSON.stringify({ run_id: runId, stream, text: Buffer.concat(chunks).toString('utf8') }, null, 2)}\n`);
  return 0;
}
