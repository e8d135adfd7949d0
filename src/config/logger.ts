/** The logger the configuration asks for: level, format, and where lines go. */
import { Writable } from 'node:stream';
import { pino, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
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

/** A logger as Fastify hands it to a child logger factory: pino's, whose level can be asked. */
type ParentLogger = Pick<Logger, 'child' | 'isLevelEnabled' | 'level'>;

type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * A request's child logger that is made only when a line is written at a
 * level the parent lets through. Fastify makes a child for every request;
 * pino's child serialises its bindings when made, which is a fair share of
 * the cost of a small GET at the default levels, where most requests write
 * nothing. The lines written are those the child would have written: the
 * same bindings (`bindings()` is called once, when the child is made), the
 * same level. A child with options of its own (a route's log level or
 * serializers) is made at once, as its level may differ from the parent's.
 */
class DeferredChild {
  private made: Logger | undefined;

  constructor(
    private readonly parent: ParentLogger,
    private readonly bindings: () => Record<string, unknown>,
  ) {}

  private logger(): Logger {
    return (this.made ??= this.parent.child(this.bindings()));
  }

  private write(level: LevelName, args: unknown[]): void {
    if (this.made === undefined && !this.parent.isLevelEnabled(level)) return;
    const logger = this.logger();
    (logger[level] as (...a: unknown[]) => void).apply(logger, args);
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  silent(): void {}

  child(bindings: Record<string, unknown>, options?: ChildLoggerOptions): Logger {
    return this.logger().child(bindings, options);
  }
}

/**
 * The child logger of a request: made when it first writes a line (see
 * DeferredChild), or at once when `options` set anything. `bindings` is
 * called at most once, when the child is made.
 */
export function requestChildLogger(parent: ParentLogger, bindings: () => Record<string, unknown>, options: ChildLoggerOptions): Logger {
  if (typeof parent.isLevelEnabled !== 'function') return parent.child(bindings(), options);
  for (const key in options) if (Object.hasOwn(options, key)) return parent.child(bindings(), options);
  return new DeferredChild(parent, bindings) as unknown as Logger;
}
