/**
 * The typed client of Ferry's API, on openapi-fetch over the types generated
 * from the spec: the CLI, the dashboard and the tests use this one, so no
 * second hand-written copy of the API's shapes exists. Runs in Node and in
 * browsers (fetch only).
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from '../../generated/schema.js';

export type { components, paths };
export type FerryClient = Client<paths>;
export type RunState = components['schemas']['State'];

/** How a client proves who it is: a bearer token, or a user and password (HTTP Basic). */
export type ClientCredentials = { token: string } | { user: string; password: string } | Record<string, never>;

export interface FerryClientOptions {
  /** The server's root URL, e.g. `http://localhost:8080` (the API's paths start with /ga4gh/wes/v1). */
  url: string;
  credentials?: ClientCredentials;
  /** A fetch of one's own (tests, proxies); default: the global one. */
  fetch?: ClientOptions['fetch'];
}

/** The Authorization header for a set of credentials, or none. */
export function authorization(credentials: ClientCredentials | undefined): string | undefined {
  if (!credentials) return undefined;
  if ('token' in credentials && typeof credentials.token === 'string') return `Bearer ${credentials.token}`;
  if ('user' in credentials && typeof credentials.user === 'string') {
    const pair = `${credentials.user}:${(credentials as { password: string }).password}`;
    return `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(pair)))}`;
  }
  return undefined;
}

/** A client of the Ferry (or any WES 1.1) server at `url`. */
export function ferryClient(options: FerryClientOptions): FerryClient {
  const auth = authorization(options.credentials);
  return createClient<paths>({
    baseUrl: options.url.replace(/\/+$/, ''),
    ...(auth ? { headers: { authorization: auth } } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** States a run never leaves. */
export const FINAL_STATES: ReadonlySet<RunState> = new Set<RunState>(['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED', 'PREEMPTED']);
