import fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';

import { Credentials, type CredentialsOptions } from '../../../src/api/auth/credentials.js';
import type { OidcOptions } from '../../../src/api/auth/oidc.js';
import { buildTestApp, call, multipart, tempDir, workflowsDir } from '../../helper.js';

/**
 * OpenID Connect JWTs against a real issuer: an HTTP server on loopback that
 * serves a discovery document and a key set made here, counting the
 * requests it gets, and tokens signed here with jose.
 */

const AUDIENCE = 'ferry-wes';

interface Issuer {
  issuer: string;
  jwksUri: string;
  /** Requests answered so far, by path. */
  hits: { discovery: number; jwks: number };
  /** The keys the key set serves from now on. */
  serve(keys: JWK[]): void;
  stop(): Promise<void>;
  /** Listens again, on the same port. */
  start(): Promise<void>;
}

/** A discovery document and key set on 127.0.0.1 (an ephemeral port), stopped when the test ends. */
async function startIssuer(t: Test, keys: JWK[]): Promise<Issuer> {
  let served = keys;
  const hits = { discovery: 0, jwks: 0 };
  let port = 0;
  let server: Server | null = null;
  const base = (): string => `http://127.0.0.1:${port}`;
  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => {
      const body =
        req.url === '/.well-known/openid-configuration'
          ? (hits.discovery++, { issuer: base(), jwks_uri: `${base()}/jwks`, id_token_signing_alg_values_supported: ['RS256'] })
          : req.url === '/jwks'
            ? (hits.jwks++, { keys: served })
            : null;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { error: 'not found' }));
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  };
  await listen();
  t.teardown(stop);
  return { issuer: base(), jwksUri: `${base()}/jwks`, hits, serve: (k) => void (served = k), stop, start: listen };
}

interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function keyPair(kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A token signed with `key`: valid for the issuer and audience unless `claims` say otherwise. */
function sign(issuer: Issuer, key: KeyPair, claims: JWTPayload = {}): Promise<string> {
  return new SignJWT({ iss: issuer.issuer, aud: AUDIENCE, sub: 'ann', iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const bearer = (token: string): string => `Bearer ${token}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every log line of every Credentials made here, checked at the end for tokens. */
const logLines: string[] = [];
const issuedTokens: string[] = [];

async function open(t: Test, issuer: Issuer, oidc: Partial<OidcOptions> = {}, more: Partial<CredentialsOptions> = {}): Promise<Credentials> {
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) });
  const c = await Credentials.open({ admins: [], logger, watch: false, oidc: { issuer: issuer.issuer, audience: AUDIENCE, ...oidc }, ...more });
  t.teardown(() => c.close());
  return c;
}

/** The principal a token proves, remembering the token so the logs can be searched for it. */
function auth(c: Credentials, token: string): ReturnType<Credentials['authenticate']> {
  issuedTokens.push(token);
  return c.authenticate(bearer(token));
}

const k1 = await keyPair('k1');

t.test('a good token: the user from sub or another claim; keys fetched once and cached', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const c = await open(t, issuer, {}, { admins: ['root'] });
  t.same(c.challenges, ['Bearer realm="ferry"']);
  t.same(await auth(c, await sign(issuer, k1)), { user: 'ann', admin: false, scheme: 'bearer' });
  t.same(await auth(c, await sign(issuer, k1, { sub: 'root' })), { user: 'root', admin: true, scheme: 'bearer' }, '--admin counts for JWT users');
  t.same(await auth(c, await sign(issuer, k1, { aud: ['other', AUDIENCE] })), { user: 'ann', admin: false, scheme: 'bearer' }, 'aud as an array that includes ours');
  t.same(await auth(c, await sign(issuer, k1, { exp: now() - 10 })), { user: 'ann', admin: false, scheme: 'bearer' }, 'expired within the clock tolerance');
  const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(issuer, k1, { sub: `u${i}` })));
  const principals = await Promise.all(tokens.map((tok) => auth(c, tok)));
  t.same(principals.map((p) => p?.user), tokens.map((_, i) => `u${i}`), 'in parallel');
  t.same(issuer.hits, { discovery: 1, jwks: 1 }, 'one discovery, one key set fetch');

  const byEmail = await open(t, issuer, { userClaim: 'email' });
  t.same(await auth(byEmail, await sign(issuer, k1, { email: 'ann@example.org' })), { user: 'ann@example.org', admin: false, scheme: 'bearer' });
  t.equal(await auth(byEmail, await sign(issuer, k1)), null, 'no such claim: refused, sub is not used instead');

  const noDiscovery = await open(t, issuer, { jwksUri: issuer.jwksUri });
  const before = issuer.hits.discovery;
  t.ok(await auth(noDiscovery, await sign(issuer, k1)), 'with --oidc-jwks-uri');
  t.equal(issuer.hits.discovery, before, 'the discovery document is not read');
});

t.test('admins by claim: a string claim, or an array claim that contains the value', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const c = await open(t, issuer, {
    adminClaims: [
      { claim: 'role', value: 'wes-admin' },
      { claim: 'groups', value: 'admins' },
      { claim: 'https://wes.example/roles', value: 'ops' },
    ],
  });
  const admin = async (claims: JWTPayload): Promise<boolean | undefined> => (await auth(c, await sign(issuer, k1, claims)))?.admin;
  t.equal(await admin({ role: 'wes-admin' }), true, 'string claim');
  t.equal(await admin({ groups: ['users', 'admins'] }), true, 'array claim');
  t.equal(await admin({ 'https://wes.example/roles': ['ops'] }), true, 'a claim named by a URL');
  t.equal(await admin({}), false, 'no claim');
  t.equal(await admin({ role: 'wes-admin-not' }), false, 'another value');
  t.equal(await admin({ role: ['wes-admin-x'] }), false, 'an array without the value');
  t.equal(await admin({ groups: 'users admins' }), false, 'a string is not split');
  t.equal(await admin({ groups: [['admins']] }), false, 'nested arrays are not searched');
});

t.test('refused: time, issuer, audience, claims, algorithms, garbage', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const c = await open(t, issuer);
  /** Refused, and (when `code` is given) for that reason, as the debug log says. */
  const refused = async (label: string, token: string | Promise<string>, code?: string): Promise<void> => {
    const from = logLines.length;
    t.equal(await auth(c, await token), null, label);
    if (code) t.match(logLines.slice(from).join(''), `"code":"${code}"`, `${label}: ${code}`);
  };
  await refused('expired', sign(issuer, k1, { exp: now() - 120 }), 'ERR_JWT_EXPIRED');
  await refused('not yet valid', sign(issuer, k1, { nbf: now() + 120 }), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
  t.ok(await auth(c, await sign(issuer, k1, { nbf: now() + 10 })), 'nbf within the clock tolerance');
  await refused('no exp', new SignJWT({ iss: issuer.issuer, aud: AUDIENCE, sub: 'ann' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(k1.privateKey));
  await refused('wrong issuer', sign(issuer, k1, { iss: 'https://evil.example' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
  await refused('issuer with a trailing slash', sign(issuer, k1, { iss: `${issuer.issuer}/` }));
  await refused('no issuer', sign(issuer, k1, { iss: undefined }));
  await refused('wrong audience', sign(issuer, k1, { aud: 'someone-else' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
  await refused('audiences without ours', sign(issuer, k1, { aud: ['a', 'b'] }));
  await refused('no user claim', sign(issuer, k1, { sub: undefined }));
  await refused('an empty user', sign(issuer, k1, { sub: '' }));
  await refused('a user that is not a string', sign(issuer, k1, { sub: 42 as unknown as string }));
  const good = await sign(issuer, k1);
  const [h, p, s] = good.split('.') as [string, string, string];
  await refused('a tampered payload', `${h}.${b64url({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' })}.${s}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await refused('a signature cut off', `${h}.${p}.`);
  const claims = { iss: issuer.issuer, aud: AUDIENCE, sub: 'root', exp: now() + 300 };
  await refused('alg none', `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  await refused('alg none, kid set', `${b64url({ alg: 'none', kid: 'k1' })}.${b64url(claims)}.`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  // The classic confusion attack: the issuer's public key, which anyone may fetch, used as an HMAC secret.
  const pem = await exportSPKI(k1.publicKey);
  await refused('HS256 with the PEM public key as secret', new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(pem)), 'ERR_JOSE_ALG_NOT_ALLOWED');
  await refused('HS256 with the JWK as secret', new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JSON.stringify(k1.jwk))), 'ERR_JOSE_ALG_NOT_ALLOWED');
  for (const garbage of ['a.b.c', 'eyJ.eyJ.sig', '...', 'not-a-jwt', `${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}.!!.${s}`, 'x'.repeat(9000)]) {
    await refused(`garbage: ${garbage.slice(0, 20)}`, garbage);
  }
  t.ok(await auth(c, good), 'the good token still passes');
  t.same(issuer.hits, { discovery: 1, jwks: 1 }, 'none of it fetched the keys again');
});

t.test('an unknown key: refused, and the key set is fetched again at most once per cooldown', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  // Made before the keys are fetched, so the cooldown is not spent making them on a slow machine.
  const stranger = await keyPair('k-unknown');
  const forged = await sign(issuer, stranger, { sub: 'root' });
  const c = await open(t, issuer, { timing: { cooldownMs: 2000 } });
  t.ok(await auth(c, await sign(issuer, k1)));
  t.equal(issuer.hits.jwks, 1);
  t.equal(await auth(c, forged), null, 'within the cooldown of the first fetch');
  t.equal(issuer.hits.jwks, 1, 'not fetched again so soon');
  await sleep(2100);
  const results = await Promise.all(Array.from({ length: 10 }, () => auth(c, forged)));
  t.same(results, Array(10).fill(null), 'ten at once, after the cooldown');
  for (let i = 0; i < 10; i++) t.equal(await auth(c, forged), null);
  t.equal(issuer.hits.jwks, 2, 'fetched once more, not twenty times');
  const sameKidOtherKey = await sign(issuer, { ...stranger, kid: 'k1' });
  t.equal(await auth(c, sameKidOtherKey), null, 'a known kid with another key: the signature fails');
  t.ok(await auth(c, await sign(issuer, k1)), 'the real key still works');
  t.equal(issuer.hits.jwks, 2);
});

t.test('key rotation: a token with the new kid is taken once the key set has it', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const c = await open(t, issuer, { timing: { cooldownMs: 300 } });
  const old = await sign(issuer, k1);
  t.ok(await auth(c, old));
  t.ok(await auth(c, old), 'taken again (remembered: the same token checked once)');
  const k2 = await keyPair('k2');
  issuer.serve([k2.jwk]);
  await sleep(400);
  t.same(await auth(c, await sign(issuer, k2, { sub: 'bob' })), { user: 'bob', admin: false, scheme: 'bearer' }, 'the new key is fetched');
  t.equal(issuer.hits.jwks, 2);
  t.equal(await auth(c, await sign(issuer, k1)), null, 'the retired key is gone');
  t.equal(await auth(c, old), null, 'a token taken before under the retired key is not remembered across the change of keys');
});

t.test('the issuer down: tokens refused, an error logged, and taken again once it is back', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  await issuer.stop();
  const from = logLines.length;
  const c = await open(t, issuer, { timing: { retryMs: 1000 } });
  const token = await sign(issuer, k1);
  t.equal(await auth(c, token), null, 'no keys: refused');
  for (let i = 0; i < 5; i++) t.equal(await auth(c, token), null);
  const errors = logLines.slice(from).filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
  t.equal(errors.length, 1, 'one error: the retries wait');
  t.match(errors[0], /could not fetch the OIDC keys/);
  t.match(errors[0], issuer.issuer, 'names the issuer');
  await issuer.start();
  await sleep(1100);
  t.same(await auth(c, token), { user: 'ann', admin: false, scheme: 'bearer' }, 'back: taken');
  t.same(issuer.hits, { discovery: 1, jwks: 1 });

  await t.test('a discovery document naming another issuer is refused', async (t) => {
    const other = await startIssuer(t, [k1.jwk]);
    const c = await open(t, other, { issuer: `${other.issuer}/` });
    t.equal(await auth(c, await sign(other, k1, { iss: `${other.issuer}/` })), null);
    t.equal(other.hits.jwks, 0, 'its keys are not fetched');
  });
});

t.test('static tokens are checked first, and share the one Bearer challenge', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const dir = await tempDir(t, 'ferry-oidc-');
  const tokensFile = path.join(dir, 'tokens');
  // A static token may look like a JWT: it is still a static token.
  const jwtShaped = 'aaaa.bbbb.cccc';
  await fs.writeFile(tokensFile, `ci ${createHash('sha256').update(jwtShaped).digest('hex')}\n`);
  const c = await open(t, issuer, {}, { tokensFile });
  t.same(c.challenges, ['Bearer realm="ferry"']);
  t.same(await auth(c, jwtShaped), { user: 'ci', admin: false, scheme: 'bearer' });
  t.same(await auth(c, await sign(issuer, k1)), { user: 'ann', admin: false, scheme: 'bearer' });
  t.equal(await auth(c, 'not-a-static-token'), null);
});

t.test('the real app: JWTs name the owner of a run', async (t) => {
  const issuer = await startIssuer(t, [k1.jwk]);
  const app = await buildTestApp(t, { oidcIssuer: issuer.issuer, oidcAudience: AUDIENCE });
  const as = async (sub: string, claims: JWTPayload = {}): Promise<Record<string, string>> => ({ authorization: bearer(await sign(issuer, k1, { sub, ...claims })) });
  const list = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers: await as('ann') });
  t.equal(list.statusCode, 200);
  const expired = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers: await as('ann', { exp: now() - 600 }) });
  t.equal(expired.statusCode, 401);
  t.same(expired.json(), { msg: 'The credentials sent are not valid.', status_code: 401 });
  t.equal(expired.headers['www-authenticate'], 'Bearer realm="ferry"');

  const body = multipart(
    { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: 'from a JWT' }) },
    [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }],
  );
  const submitted = await call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...(await as('ann')) } });
  t.equal(submitted.statusCode, 200);
  const runId = (submitted.json() as { run_id: string }).run_id;
  let state = '';
  for (let i = 0; i < 1200 && !['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'].includes(state); i++) {
    if (i) await sleep(100);
    state = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status`, headers: await as('ann') })).json().state;
  }
  t.equal(state, 'COMPLETE');
  t.equal((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, headers: await as('bob') })).statusCode, 404, "another user's JWT does not find it");
  const mine = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers: await as('ann') });
  t.same((mine.json() as { runs: { run_id: string }[] }).runs.map((r) => r.run_id), [runId]);
  const theirs = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs', headers: await as('bob') });
  t.same((theirs.json() as { runs: unknown[] }).runs, []);
  const record = await fs.readFile(path.join(app.ferry.config.stateStore, runId, 'record.json'), 'utf8');
  t.match(record, /"owner":"ann"/);
});

t.test('no token reached a log line', async (t) => {
  t.ok(issuedTokens.length > 50);
  const log = logLines.join('');
  // The signature is what makes a token worth stealing; headers and payloads are only base64 of what the logs may say.
  const leaked = issuedTokens.map((token) => token.split('.')[2] ?? '').filter((sig) => sig.length > 10 && log.includes(sig));
  t.same(leaked, [], 'no signature in the log');
  t.notMatch(log, /eyJ[A-Za-z0-9_-]+\.eyJ/, 'no JWT in the log');
});
