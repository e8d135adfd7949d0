import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fsp from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { parseHtpasswd, parseTokens, type HtpasswdEntry, type TokenEntry } from './credential-files.js';
import { fileSignature, watchFile, type WatchTiming } from './file-watch.js';
// Loaded only with an issuer: jose costs a fifth of a second of start-up.
import type { OidcOptions, OidcVerifier } from './oidc.js';

/** Who a request speaks for. */
export interface Principal {
  user: string;
  admin: boolean;
  scheme: 'basic' | 'bearer';
}

/** Where credentials come from, and who is an admin. */
export interface CredentialsOptions {
  /** Apache htpasswd file of bcrypt entries (`user:$2y$…`), as `htpasswd -B` writes. */
  htpasswdFile?: string;
  /** Static bearer tokens: one `USER SHA256HEX` per line (sha256 of the token, lower or upper hex), `#` comments, blank lines. */
  tokensFile?: string;
  /** OpenID Connect JWTs as bearer tokens: those the issuer signs for the audience. */
  oidc?: OidcOptions;
  /** Users who are admins (whatever the scheme; an OIDC admin claim makes one too). */
  admins: readonly string[];
  logger: Logger;
  /** Re-read the files when they change (default true). `reload()` works either way. */
  watch?: boolean;
  /** How soon a change is noticed (defaults: 200 ms debounce, 10 s poll). */
  watchTiming?: Partial<WatchTiming>;
}

type Kind = 'htpasswd' | 'tokens';

interface Source {
  file: string;
  /** Signature of the version last read, good or bad ('missing' when unreadable), so a bad file is reported once, not on every poll. */
  seen: string | null;
}

/** Longer headers are refused unread: no real credential is this long, and hashing them costs. */
const MAX_AUTHORIZATION = 8192;
/** A cached Basic check lives this long: a polling client skips bcrypt, a changed password is noticed soon. */
const CACHE_TTL_MS = 60_000;
/** Cost of the dummy hash when the htpasswd file is empty: `htpasswd -B`'s default. */
const DEFAULT_COST = 5;
/** Checks are retried at most this often when the users change under them. */
const MAX_TRIES = 3;

const sha256 = (data: string | Buffer): Buffer => createHash('sha256').update(data).digest();

/**
 * Checks `Authorization` headers against an htpasswd file (Basic, bcrypt
 * only), a file of bearer token digests, re-reading both when they
 * change, and an OpenID Connect issuer's JWTs (Bearer too). Never logs a
 * password, token, header or hash.
 */
export class Credentials {
  /** `WWW-Authenticate` challenges for a 401, one per configured scheme: `Basic realm="ferry", charset="UTF-8"`, `Bearer realm="ferry"`. */
  readonly challenges: string[];

  private readonly sources: Partial<Record<Kind, Source>> = {};
  private users = new Map<string, HtpasswdEntry>();
  private tokens: TokenEntry[] = [];
  /** Unknown users are checked against this, so the time taken does not tell which users exist. */
  private dummyHash = '';
  private readonly dummyHashes = new Map<number, string>();
  /** Bumped whenever `users` is replaced: a check that spanned a reload is done again. */
  private generation = 0;
  /** Users of recently proven Basic headers, keyed by the sha256 of the header so no plain header is kept. */
  private readonly cache = new LRUCache<string, string>({ max: 1000, ttl: CACHE_TTL_MS });
  /** Checks under way, so parallel requests with the same header share one bcrypt. */
  private readonly inflight = new Map<string, Promise<string | null>>();
  /** Reads run one at a time, so an older read never overwrites a newer one. */
  private queue: Promise<void> = Promise.resolve();
  private readonly stops: (() => void)[] = [];
  private closed = false;

  private constructor(
    private readonly opts: CredentialsOptions,
    private readonly oidc: { verifier: OidcVerifier; looksLikeJwt: (token: string) => boolean } | null,
  ) {
    if (opts.htpasswdFile) this.sources.htpasswd = { file: opts.htpasswdFile, seen: null };
    if (opts.tokensFile) this.sources.tokens = { file: opts.tokensFile, seen: null };
    this.challenges = [];
    if (this.sources.htpasswd) this.challenges.push('Basic realm="ferry", charset="UTF-8"');
    // Static tokens and JWTs are both Bearer: one challenge says so.
    if (this.sources.tokens || this.oidc) this.challenges.push('Bearer realm="ferry"');
  }

  /** Reads the files (throws a clear Error naming the file and line when one is unreadable or malformed at start-up). */
  static async open(opts: CredentialsOptions): Promise<Credentials> {
    const oidc = opts.oidc ? await import('./oidc.js') : null;
    const c = new Credentials(opts, oidc && opts.oidc ? { verifier: new oidc.OidcVerifier(opts.oidc, opts.logger), looksLikeJwt: oidc.looksLikeJwt } : null);
    for (const kind of ['htpasswd', 'tokens'] as const) {
      if (c.sources[kind]) await c.read(kind);
    }
    if (opts.watch !== false) c.startWatching();
    // Fetched now so a wrong issuer shows in the log at start; a failure only delays JWTs (it is retried).
    void c.oidc?.verifier.refresh();
    return c;
  }

  /** The principal an `Authorization` header value proves, or null (absent, malformed, unknown user, wrong password or token). Never throws on input. */
  async authenticate(authorization: string | undefined): Promise<Principal | null> {
    try {
      if (typeof authorization !== 'string' || authorization.length > MAX_AUTHORIZATION) return null;
      const m = /^([A-Za-z][A-Za-z0-9-]*)[ \t]+([\x21-\x7e]+)$/.exec(authorization.trim());
      if (!m) return null;
      const scheme = m[1]!.toLowerCase();
      if (scheme === 'basic' && this.sources.htpasswd) return this.principal(await this.basic(authorization, m[2]!), 'basic');
      if (scheme === 'bearer') return await this.bearer(m[2]!);
      return null;
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'credentials: checking a header failed');
      return null;
    }
  }

  /** Re-reads both files now (what SIGHUP does). A file that became unreadable or malformed keeps the last good contents and logs an error (the server keeps serving). */
  reload(): Promise<void> {
    return this.serial(async () => {
      this.cache.clear();
      for (const kind of ['htpasswd', 'tokens'] as const) {
        if (this.sources[kind]) await this.reread(kind);
      }
    });
  }

  /** Stops watching the files. */
  close(): void {
    this.closed = true;
    for (const stop of this.stops.splice(0)) stop();
    this.oidc?.verifier.close();
  }

  private principal(user: string | null, scheme: Principal['scheme']): Principal | null {
    return user === null ? null : { user, admin: this.opts.admins.includes(user), scheme };
  }

  private async basic(header: string, payload: string): Promise<string | null> {
    const creds = decodeBasic(payload);
    if (!creds) return null;
    const key = sha256(header).toString('hex');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const shared = this.inflight.get(key);
    if (shared) return shared;
    const check = this.verify(creds.user, creds.password, key);
    this.inflight.set(key, check);
    try {
      return await check;
    } finally {
      if (this.inflight.get(key) === check) this.inflight.delete(key);
    }
  }

  private async verify(user: string, password: string, key: string): Promise<string | null> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const generation = this.generation;
      const entry = this.users.get(user);
      const ok = await bcrypt.compare(password, entry?.hash ?? this.dummyHash);
      if (generation !== this.generation) continue;
      if (ok && entry) {
        this.cache.set(key, user);
        return user;
      }
      // An unknown name may be a password typed in the wrong box: only known names are logged.
      if (entry) this.opts.logger.debug({ user, scheme: 'basic' }, 'credentials: wrong password');
      else this.opts.logger.debug({ scheme: 'basic' }, 'credentials: unknown user');
      return null;
    }
    return null;
  }

  /** A static token first; then, if it has a JWT's shape, the OIDC issuer's word. */
  private async bearer(token: string): Promise<Principal | null> {
    if (this.sources.tokens) {
      const user = this.staticToken(token);
      if (user !== null) return this.principal(user, 'bearer');
    }
    if (this.oidc?.looksLikeJwt(token)) {
      const identity = await this.oidc.verifier.verify(token);
      return identity && { user: identity.user, admin: identity.admin || this.opts.admins.includes(identity.user), scheme: 'bearer' };
    }
    if (this.sources.tokens) this.opts.logger.debug({ scheme: 'bearer' }, 'credentials: unknown token');
    return null;
  }

  private staticToken(token: string): string | null {
    const digest = sha256(token);
    let user: string | null = null;
    // Every digest is compared, so the time taken does not tell which one matched.
    for (const entry of this.tokens) {
      if (timingSafeEqual(digest, entry.digest)) user = entry.user;
    }
    return user;
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Reads one file and puts it in use; throws, naming the file and line, when it is unreadable or malformed. */
  private async read(kind: Kind): Promise<void> {
    const src = this.sources[kind]!;
    let text: string;
    try {
      const fh = await fsp.open(src.file, 'r');
      try {
        // The signature of the very version read, not of whatever is there by the time we stat.
        src.seen = fileSignature(await fh.stat());
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      src.seen = 'missing';
      throw new Error(`Cannot read the ${kind} file ${src.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (kind === 'htpasswd') {
      const users = parseHtpasswd(text, src.file);
      const cost = Math.max(0, ...[...users.values()].map((e) => e.cost)) || DEFAULT_COST;
      this.dummyHash = await this.dummyFor(cost);
      this.users = users;
      this.generation++;
      this.cache.clear();
      this.opts.logger.info({ file: src.file, users: users.size }, 'credentials: htpasswd file read');
    } else {
      this.tokens = parseTokens(text, src.file);
      this.opts.logger.info({ file: src.file, tokens: this.tokens.length }, 'credentials: tokens file read');
    }
  }

  /** `read`, for a running server: a bad file is logged and the last good contents kept. */
  private async reread(kind: Kind): Promise<void> {
    try {
      await this.read(kind);
    } catch (err) {
      this.opts.logger.error({ file: this.sources[kind]!.file, err: (err as Error).message }, 'credentials: keeping the last good contents');
    }
  }

  private async dummyFor(cost: number): Promise<string> {
    let hash = this.dummyHashes.get(cost);
    if (hash === undefined) {
      hash = await bcrypt.hash(randomBytes(18).toString('base64'), cost);
      this.dummyHashes.set(cost, hash);
    }
    return hash;
  }

  private startWatching(): void {
    const timing: WatchTiming = { debounceMs: 200, pollMs: 10_000, ...this.opts.watchTiming };
    for (const kind of ['htpasswd', 'tokens'] as const) {
      const src = this.sources[kind];
      if (!src) continue;
      const check = (): void => {
        void this.serial(async () => {
          if (this.closed) return;
          const now = await fsp.stat(src.file).then(fileSignature, () => 'missing');
          if (now !== src.seen) await this.reread(kind);
        });
      };
      this.stops.push(watchFile(src.file, check, this.opts.logger, timing));
    }
  }
}

/** `user:password` from a Basic payload: strict base64 of UTF-8, split at the first colon; null when malformed. */
function decodeBasic(payload: string): { user: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(payload)) return null;
  if (payload.includes('=') && payload.length % 4 !== 0) return null;
  const bytes = Buffer.from(payload, 'base64');
  // Node skips stray characters and bits; only a payload that encodes back to itself is taken.
  if (bytes.toString('base64').replace(/=+$/, '') !== payload.replace(/=+$/, '')) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
