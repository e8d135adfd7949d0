/**
 * The dashboard's one way to the API: the typed client (src/client), with
 * the credentials the person signed in with, kept for the tab's life in
 * sessionStorage and sent as the Authorization header.
 */
import { FINAL_STATES, ferryClient, type ClientCredentials, type FerryClient, type RunState, type components } from '../../src/client/client.js';

export { FINAL_STATES, type RunState };
export type Schemas = components['schemas'];
export type RunLog = Schemas['RunLog'];
export type TaskLog = Schemas['TaskLog'];
export type RunOutputFile = Schemas['RunOutputFile'];
export type ServiceInfo = Schemas['ServiceInfo'];
export type ErrorResponse = Schemas['ErrorResponse'];

const STORE_KEY = 'ferry.credentials';

/** The server's root: the folder above /ui/ (so a proxy's path prefix is kept). */
export const apiRoot = new URL('..', location.href).href;

/** The credentials kept for this tab, if any. */
export function savedCredentials(): ClientCredentials {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) ?? '{}') as Record<string, unknown>;
    if (typeof saved.token === 'string' && saved.token) return { token: saved.token };
    if (typeof saved.user === 'string' && typeof saved.password === 'string') return { user: saved.user, password: saved.password };
  } catch {
    // Nothing usable kept: none.
  }
  return {};
}

export function hasCredentials(): boolean {
  return Object.keys(savedCredentials()).length > 0;
}

/** Who the kept credentials name (a user; a token names no one the page can tell). */
export function signedInAs(): string | null {
  const c = savedCredentials();
  if ('user' in c && typeof c.user === 'string') return c.user;
  if ('token' in c) return 'token';
  return null;
}

type Unauthorized = (schemes: string[], rejected: boolean) => void;
let onUnauthorized: Unauthorized = () => undefined;

/** What to do when the API answers 401: the schemes it names, and whether credentials sent were refused. */
export function whenUnauthorized(handler: Unauthorized): void {
  onUnauthorized = handler;
}

function makeClient(): FerryClient {
  const credentials = savedCredentials();
  const client = ferryClient({
    url: apiRoot,
    credentials,
    // No cookies, no browser login box on a Basic challenge (the page asks itself), and always fresh answers.
    fetch: (request) => fetch(request, { credentials: 'omit', cache: 'no-store' }),
  });
  client.use({
    onResponse({ response }) {
      if (response.status !== 401) return undefined;
      const header = response.headers.get('www-authenticate') ?? '';
      const schemes = ['Bearer', 'Basic'].filter((scheme) => new RegExp(`(^|,)\\s*${scheme}\\b`, 'i').test(header));
      onUnauthorized(schemes, Object.keys(credentials).length > 0);
      return undefined;
    },
  });
  return client;
}

let current = makeClient();

/** The client for the credentials kept now. */
export function api(): FerryClient {
  return current;
}

/** Keeps `credentials` for this tab and uses them from now on. */
export function signIn(credentials: ClientCredentials): void {
  sessionStorage.setItem(STORE_KEY, JSON.stringify(credentials));
  current = makeClient();
}

/** Forgets the kept credentials. */
export function signOut(): void {
  sessionStorage.removeItem(STORE_KEY);
  current = makeClient();
}

/** A failed call's message, as the API's error body says it, or the status. */
export function problem(result: { error?: unknown; response: Response }): string {
  const body = result.error as Partial<ErrorResponse> | string | undefined;
  const msg = typeof body === 'object' && body && typeof body.msg === 'string' ? body.msg : typeof body === 'string' && body ? body : result.response.statusText;
  return `${result.response.status}: ${msg}`;
}

/** Saves a blob as a file, as a link the person clicked would. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
