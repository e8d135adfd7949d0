/** The logger the configuration asks for: level, format, and where lines go. */
import { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';
import { RotatingFile } from '../util/rotating-file.js';
import type { FerryConfig } from './config.js';

/** Toil's `--rotatingLogging` size (Python's RotatingFileHandler with maxBytes=1000000, one backup). */
export const LOG_ROTATE_BYTES = 1_000_000;

/**
 * A pino logger per `config`: JSON lines, or pretty ones for people
 * (`--log-format pretty`, or `auto` on a terminal), on stdout, and also in
 * `--log-file` when given (JSON unless `pretty` is asked outright), rotated
 * with `--log-rotate`. Credentials never reach a line, whatever a log call
 * passes along.
 */
export async function createLogger(config: Pick<FerryConfig, 'logLevel' | 'logFormat' | 'logFile' | 'logRotate'>): Promise<Logger> {
  const options = { level: config.logLevel, redact: ['req.headers.authorization', 'headers.authorization', 'authorization'] };
  const prettyOut = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  const stdout: DestinationStream = prettyOut ? await prettyStream(1, process.stdout.isTTY === true) : pino.destination({ dest: 1, sync: true });
  if (config.logFile === undefined) return pino(options, stdout);
  const file = new RotatingFile(config.logFile, config.logRotate ? LOG_ROTATE_BYTES : undefined);
  // pino-pretty writes to a stream of Node's kind.
  const asStream = (): Writable => new Writable({ write: (chunk: Buffer, _encoding, done) => done(void file.write(chunk.toString())) });
  const toFile: DestinationStream = config.logFormat === 'pretty' ? await prettyStream(asStream() as unknown as DestinationStream, false) : file;
  // Each stream takes every line the logger's level lets through.
  return pino(options, pino.multistream([{ level: 'trace', stream: stdout }, { level: 'trace', stream: toFile }]));
}

/** pino-pretty in this thread (no worker), loaded only when asked for. */
async function prettyStream(destination: number | DestinationStream, colorize: boolean): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({
    destination: destination as never,
    sync: true,
    colorize,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    // One line a request event: its id, its run, what was asked and answered; other fields beneath.
    messageFormat: '{if reqId}{reqId} {end}{if run_id}{run_id} {end}{msg}{if req.method} {req.method} {req.url}{end}{if res.statusCode} {res.statusCode}{end}',
    ignore: 'pid,hostname,reqId,run_id,req,res',
  });
}
