import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';

/** A claim that makes its bearer an admin: equal to `value`, or (an array claim such as `groups`) containing it. */
export interface AdminClaim {
  claim: string;
  value: string;
}

/** How often the issuer's key set is fetched. */
export interface OidcTiming {
  /** After a successful fetch, a token naming an unknown key fetches again only this much later (default 30 s). */
  cooldownMs: number;
  /** After a failed fetch, the next try waits this long (default 5 s). */
  retryMs: number;
  /** Keys older than this are fetched again before use; kept while the issuer is unreachable (default 10 min). */
  maxAgeMs: number;
  /** One discovery or key-set request gives up after this long (default 5 s). */
  timeoutMs: number;
}

/** Which tokens are taken: whose, for whom, and how the user is named. */
export interface OidcOptions {
  /** The `iss` every token must carry, exactly; its discovery document names the key set. */
  issuer: string;
  /** A value every token's `aud` must be or include. */
  audience: string;
  /** The key set's URL, when it is not to be taken from the discovery document. */
  jwksUri?: string;
  /** The claim that names the user (default `sub`). */
  userClaim?: string;
  adminClaims?: readonly AdminClaim[];
  timing?: Partial<OidcTiming>;
}

/** What a verified token says about its bearer. */
export interface OidcIdentity {
  user: string;
  /** Whether an admin claim matched. */
  admin: boolean;
}

/**
 * Signature algorithms taken: public-key ones only. `none` and HMAC are not
 * among them, so a token "signed" with nothing, or with the issuer's public
 * key used as an HMAC secret, is refused before any key is looked up.
 */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Clocks of the issuer and this server may differ by this much (seconds) for `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 30;
/**
 * How long a verified JWT is taken without checking its signature again (a
 * client polling a run sends the same token many times a second); never past
 * its expiry, and not across a change of the issuer's keys.
 */
const VERIFIED_TTL_MS = 60_000;
/** Most verified JWTs remembered (by their sha256; the least recently used forgotten first). */
const VERIFIED_MAX = 10_000;
/** Discovery documents and key sets are small; a larger answer is refused unread. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const DEFAULT_TIMING: OidcTiming = { cooldownMs: 30_000, retryMs: 5_000, maxAgeMs: 600_000, timeoutMs: 5_000 };

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

/** Whether a bearer value has the shape of a compact JWS: three base64url parts (the last empty for `alg: none`, refused later). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Verifies OpenID Connect JWTs (ID or access tokens) against the issuer's
 * key set, fetched lazily and cached. Fetches are rate-limited whatever
 * the tokens say, so unknown `kid`s cannot make this server hammer the
 * issuer, and an unreachable issuer only refuses tokens (logged once per
 * try) until it answers again. Never logs a token.
 */
export class OidcVerifier {
  private readonly timing: OidcTiming;
  private readonly userClaim: string;
  private keys: LocalKeys | null = null;
  private fetchedAt = -Infinity;
  /** JWTs verified lately, by their sha256: whom they speak for, until when, and under which key set. */
  private readonly verified = new LRUCache<string, { identity: OidcIdentity; until: number; keys: LocalKeys }>({ max: VERIFIED_MAX });
  private lastAttempt = -Infinity;
  private lastFailed = false;
  /** The key set's URL once known (given, or from discovery; forgotten when a fetch fails, so discovery is tried again). */
  private jwksUrl: string | null;
  private pending: Promise<boolean> | null = null;
  private readonly aborter = new AbortController();

  constructor(
    private readonly opts: OidcOptions,
    private readonly logger: Logger,
  ) {
    // An empty audience would match no token: refuse the set-up, not every request.
    if (!opts.issuer || !opts.audience) throw new Error('OIDC needs an issuer and an audience');
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.userClaim = opts.userClaim ?? 'sub';
    this.jwksUrl = opts.jwksUri ?? null;
  }

  /** Who a JWT speaks for, or null when it is not valid (bad signature, unknown key, wrong issuer or audience, expired, no user). Never throws. */
  async verify(token: string): Promise<OidcIdentity | null> {
    const digest = createHash('sha256').update(token).digest('base64url');
    const seen = this.verified.get(digest);
    if (seen && Date.now() < seen.until && seen.keys === this.keys) return seen.identity;
    const identity = await this.check(token);
    if (identity && this.keys) this.verified.set(digest, { ...identity, keys: this.keys });
    return identity?.identity ?? null;
  }

  /** Verifies a token for real: whom it speaks for and until when it may be taken so, or null. */
  private async check(token: string): Promise<{ identity: OidcIdentity; until: number } | null> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, jws) => this.key(header, jws), {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: OIDC_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        // A token without an expiry would be good forever.
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      // jose's codes and messages name the check that failed, never the token.
      this.logger.debug({ scheme: 'oidc', code: (err as errors.JOSEError).code ?? 'ERR_UNKNOWN', err: (err as Error).message }, 'credentials: JWT refused');
      return null;
    }
    const user = payload[this.userClaim];
    if (typeof user !== 'string' || user === '') {
      this.logger.debug({ scheme: 'oidc', claim: this.userClaim }, 'credentials: JWT names no user');
      return null;
    }
    const identity = { user, admin: (this.opts.adminClaims ?? []).some((a) => claimMatches(payload[a.claim], a.value)) };
    // `exp` is required above; the tolerance counts as it does for the check itself.
    return { identity, until: Math.min(((payload.exp ?? 0) + CLOCK_TOLERANCE_S) * 1000, Date.now() + VERIFIED_TTL_MS) };
  }

  /** Fetches the key set now unless one was fetched (or tried) too recently; resolves whether new keys are in use. Never throws. */
  refresh(): Promise<boolean> {
    if (this.pending) return this.pending;
    const wait = this.lastFailed ? this.timing.retryMs : this.timing.cooldownMs;
    if (Date.now() - this.lastAttempt < wait) return Promise.resolve(false);
    this.lastAttempt = Date.now();
    const run = this.fetchKeys().finally(() => {
      if (this.pending === run) this.pending = null;
    });
    this.pending = run;
    return run;
  }

  /** Abandons any fetch under way. */
  close(): void {
    this.aborter.abort();
  }

  /** The key a token's header names, from the cached set: fetched first when there is none or it is old, and again (rate-limited) for an unknown `kid`. */
  private async key(...args: Parameters<LocalKeys>): ReturnType<LocalKeys> {
    if (!this.keys || Date.now() - this.fetchedAt >= this.timing.maxAgeMs) await this.refresh();
    if (!this.keys) throw new errors.JOSEError('the issuer\'s keys are not available');
    try {
      return await this.keys(...args);
    } catch (err) {
      // A rotated key set: fetch it, unless that was done (or tried) moments ago.
      if (!(err instanceof errors.JWKSNoMatchingKey) || !(await this.refresh())) throw err;
      return this.keys(...args);
    }
  }

  private async fetchKeys(): Promise<boolean> {
    let url = this.jwksUrl;
    try {
      url ??= await this.discover();
      const jwks = (await this.fetchJson(url, 'key set')) as JSONWebKeySet;
      // Throws on anything that is not a key set: the old keys stay.
      const keys = createLocalJWKSet(jwks);
      this.keys = keys;
      this.jwksUrl = url;
      this.fetchedAt = Date.now();
      this.lastFailed = false;
      this.logger.info({ url, keys: jwks.keys.length }, 'credentials: OIDC keys fetched');
      return true;
    } catch (err) {
      this.lastFailed = true;
      if (!this.opts.jwksUri) this.jwksUrl = null;
      this.logger.error(
        { issuer: this.opts.issuer, url: url ?? discoveryUrl(this.opts.issuer), err: (err as Error).message, retryInMs: this.timing.retryMs },
        this.keys ? 'credentials: could not refresh the OIDC keys; keeping the last ones' : 'credentials: could not fetch the OIDC keys; JWTs are refused until they are',
      );
      return false;
    }
  }

  /** The key set's URL from the issuer's discovery document, which must name the same issuer. */
  private async discover(): Promise<string> {
    const doc = (await this.fetchJson(discoveryUrl(this.opts.issuer), 'discovery document')) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== this.opts.issuer) throw new Error(`the discovery document names issuer '${String(doc.issuer)}', not '${this.opts.issuer}'`);
    if (typeof doc.jwks_uri !== 'string' || !URL.canParse(doc.jwks_uri)) throw new Error('the discovery document has no jwks_uri');
    return doc.jwks_uri;
  }

  private async fetchJson(url: string, what: string): Promise<unknown> {
    const signal = AbortSignal.any([this.aborter.signal, AbortSignal.timeout(this.timing.timeoutMs)]);
    // No redirects: the key set is trusted for what it says, so it comes from the named URL only.
    const res = await fetch(url, { signal, redirect: 'manual', headers: { accept: 'application/json, application/jwk-set+json' } });
    if (res.status !== 200 || Number(res.headers.get('content-length') ?? 0) > MAX_DOCUMENT_BYTES) {
      await res.body?.cancel();
      throw new Error(res.status !== 200 ? `the ${what} answered HTTP ${res.status}` : `the ${what} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    }
    const text = Buffer.from(await res.arrayBuffer());
    if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`the ${what} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    try {
      return JSON.parse(text.toString('utf8')) as unknown;
    } catch {
      throw new Error(`the ${what} is not JSON`);
    }
  }
}

/** `<issuer>/.well-known/openid-configuration`, as OpenID Connect Discovery builds it (one slash, whatever the issuer ends with). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

function claimMatches(claim: unknown, value: string): boolean {
  return claim === value || (Array.isArray(claim) && claim.includes(value));
}
