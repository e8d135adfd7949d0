/**
 * Section "auth": what checking credentials costs the read path. The same run's status served
 * by a Ferry without authentication, by one that checks a static bearer token on every request,
 * and by one that verifies an OpenID Connect JWT (ES256, against the key set of an issuer served
 * here on loopback), in interleaved rounds.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { load, submit, waitState, type LoadResult } from './client.js';
import { log, ROOT, WES, type BenchContext } from './context.js';
import { startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { median } from './lib.js';

const TOKEN = 'bench-token-0123456789abcdef';
const AUDIENCE = 'ferry-bench';

/** An OpenID Connect issuer on loopback: its discovery document and key set, and a JWT it signed for user `bench`. */
async function issuer(): Promise<{ server: Server; url: string; jwt: string }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-key', alg: 'ES256', use: 'sig' };
  const server = createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration' ? { issuer: url, jwks_uri: `${url}/jwks` } : req.url === '/jwks' ? { keys: [jwk] } : null;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'bench-key' })
    .setIssuer(url)
    .setAudience(AUDIENCE)
    .setSubject('bench')
    .setIssuedAt()
    .setExpirationTime('6h')
    .sign(privateKey);
  return { server, url, jwt };
}

/** GET status with a bearer token against no authentication. */
export async function sectionAuth(ctx: BenchContext): Promise<void> {
  log('auth: starting a Ferry without authentication and one with bearer tokens');
  const tokens = path.join(ctx.tmpRoot, 'bench-tokens');
  await fs.writeFile(tokens, `bench ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
  const oidc = await issuer();
  const open = await startFerry(ctx, 'auth-none', path.join(ctx.tmpRoot, 'auth-none'));
  const locked = await startFerry(ctx, 'auth-token', path.join(ctx.tmpRoot, 'auth-token'), ['--auth-tokens', tokens]);
  const signed = await startFerry(ctx, 'auth-jwt', path.join(ctx.tmpRoot, 'auth-jwt'), ['--oidc-issuer', oidc.url, '--oidc-audience', AUDIENCE]);
  const headers = { none: {}, token: { authorization: `Bearer ${TOKEN}` }, jwt: { authorization: `Bearer ${oidc.jwt}` } };
  const runOn = async (f: Ferry, headers: Record<string, string>): Promise<string> => {
    const dir = path.join(ROOT, 'scripts', 'bench', 'fixtures', 'scatter12');
    const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'scatter12.cwl', workflow_params: await fs.readFile(path.join(dir, 'inputs.json'), 'utf8') };
    const runId = await submit(f, fields, [{ name: 'scatter12.cwl', file: path.join(dir, 'scatter12.cwl') }], headers);
    await waitState(f, runId, ['COMPLETE'], 100, 600_000, headers);
    return runId;
  };
  const servers = { none: open, token: locked, jwt: signed };
  const [noneRun, tokenRun, jwtRun] = await Promise.all([runOn(open, headers.none), runOn(locked, headers.token), runOn(signed, headers.jwt)]);
  const runs = { none: noneRun, token: tokenRun, jwt: jwtRun };
  ctx.notes.push('auth: GET status of a finished run; the token server checks a static bearer token (sha256, constant-time) on every request, the JWT server an ES256 JWT against its issuer\'s key set (cached)');

  const kinds = ['none', 'token', 'jwt'] as const;
  const results: Record<(typeof kinds)[number], LoadResult[]> = { none: [], token: [], jwt: [] };
  for (let r = 0; r < ctx.opts.rounds; r++) {
    // Each round in another order, so no kind always runs first or last.
    const order = kinds.map((_, i) => kinds[(i + r) % kinds.length]!);
    for (const who of order) {
      const res = await load(ctx, `${servers[who].root}${WES}/runs/${runs[who]}/status`, who === 'none' ? {} : { headers: headers[who] });
      if (res.non2xx || res.errors) throw new Error(`auth ${who}: ${res.non2xx} non-2xx answers, ${res.errors} errors`);
      results[who].push(res);
      log(`auth: round ${r + 1} ${who}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99} ms`);
    }
  }
  ctx.raw.auth = results;
  for (const [who, metric] of [['token', 'GET status with a static bearer token, req/s'], ['jwt', 'GET status with an OIDC JWT (ES256), req/s']] as const) {
    const ratio = median(results[who].map((x, i) => x.rps / results.none[i]!.rps));
    ctx.rows.push({
      metric,
      ferry: median(results[who].map((x) => x.rps)),
      baseline: median(results.none.map((x) => x.rps)),
      unit: '/s',
      digits: 0,
      ratio,
      target: '≥ 0.80× no auth',
      ok: ratio >= 0.8,
    });
  }
  await stopFerry(ctx, signed);
  oidc.server.close();
  await stopFerry(ctx, locked);
  await stopFerry(ctx, open);
}
