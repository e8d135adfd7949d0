/**
 * What every client command shares: its flags read with node's parseArgs,
 * the typed client built from `--url`/`FERRY_URL` and the credentials in the
 * environment, and one way to turn a failed call into one line on stderr.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ferryClient, type ClientCredentials, type components, type FerryClient } from '../client/client.js';
import { parseExact, stringifyExact } from '../util/exact-json.js';

/** Where a command writes, and what it reads its settings from: the process's own, or a test's. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** A command that failed: its message is printed as one line, and the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The options every client command takes. */
export const commonOptions = {
  url: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's arguments (its own options and the common ones); an unknown flag is a usage error. */
export function parseCommand<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
}

/** The credentials the environment gives: `FERRY_TOKEN`, or `FERRY_USER` and `FERRY_PASSWORD`. */
export function credentialsFrom(env: NodeJS.ProcessEnv): ClientCredentials {
  if (env.FERRY_TOKEN) return { token: env.FERRY_TOKEN };
  if (env.FERRY_USER) return { user: env.FERRY_USER, password: env.FERRY_PASSWORD ?? '' };
  return {};
}

/** A connected command: its client, the server's URL, where to write, and whether to answer in JSON. */
export interface Session {
  client: FerryClient;
  url: string;
  json: boolean;
  io: CliIo;
}

/** The session for a command's parsed common options. */
export function session(values: { url?: string | undefined; json?: boolean | undefined }, io: CliIo): Session {
  const url = values.url ?? io.env.FERRY_URL ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw new CliError(`not a URL: '${url}' (--url or FERRY_URL)`);
  }
  return { client: ferryClient({ url, credentials: credentialsFrom(io.env) }), url, json: values.json ?? false, io };
}

/** What a call through the typed client resolves to. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits a call through the typed client and returns its data; a refusal
 * becomes a CliError with the server's `msg` and status, a network failure
 * one naming the server and the cause.
 */
export async function answer<T>(s: Session, call: Promise<Answer<T>>): Promise<T> {
  let res: Answer<T>;
  try {
    res = await call;
  } catch (err) {
    throw connectionError(s, err);
  }
  if (res.error !== undefined || !res.response.ok) throw httpError(res.response, res.error);
  return res.data as T;
}

/** A refusal as one line: the WES body's `msg` and the status. */
export function httpError(response: Response, body: unknown): CliError {
  const msg = typeof body === 'object' && body !== null && typeof (body as { msg?: unknown }).msg === 'string' ? (body as { msg: string }).msg : response.statusText;
  return new CliError(`${msg || 'request failed'} (HTTP ${response.status})`);
}

/** A failure to reach the server, as one line. */
export function connectionError(s: Pick<Session, 'url'>, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new CliError(`cannot reach ${s.url}: ${why}`);
}

/** Writes a value as pretty JSON on stdout (numbers read by {@link runLog} as they were written). */
export function printJson(s: Pick<Session, 'io'>, value: unknown, indent = 2): void {
  s.io.stdout.write(`${stringifyExact(value, indent)}\n`);
}

/**
 * A run's log, its numbers kept as the server wrote them: outputs hold what
 * the engine wrote (`4200000000000000000000000000000000000000000`, `1.10`),
 * which a double would change.
 */
export async function runLog(s: Session, runId: string): Promise<components['schemas']['RunLog']> {
  const text = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}', { params: { path: { run_id: runId } }, parseAs: 'text' }));
  return parseExact(text) as components['schemas']['RunLog'];
}

/** A `k=v` tag flag as a pair (`k` alone: an empty value). */
export function tagPair(tag: string): [string, string] {
  const eq = tag.indexOf('=');
  if (eq === 0) throw new CliError(`a tag needs a key: '${tag}' (--tag key=value)`);
  return eq < 0 ? [tag, ''] : [tag.slice(0, eq), tag.slice(eq + 1)];
}

/** The one positional argument a command needs (a run id), or a usage error. */
export function onePositional(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 1) throw new CliError(`${positionals.length === 0 ? `missing ${what}` : `one ${what} only`} (usage: ${usage})`);
  return positionals[0]!;
}

/**
 * Every item of a paged listing, page after page: `page(token, got)` asks for
 * the page after `token` (none: the first), `got` items in; stops when the
 * server gives no next token or `limit` items are in.
 */
export async function allPages<T>(page: (token: string | undefined, got: number) => Promise<{ items: T[]; next_page_token?: string | undefined }>, limit = Infinity): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const next = await page(token, items.length);
    items.push(...next.items);
    token = next.next_page_token || undefined;
  } while (token && items.length < limit);
  return items;
}
