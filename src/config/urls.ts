/** The settings that are URLs or addresses, checked. */
import { ConfigError } from './config-error.js';

/** The OIDC settings, checked: an issuer needs an audience, the other flags need an issuer, URLs are https (or http to loopback). */
export function oidcConfig(
  given: { issuer: string | undefined; audience: string | undefined; jwksUri: string | undefined; userClaim: string | undefined },
  adminClaims: string[],
): { oidcIssuer?: string; oidcAudience?: string; oidcJwksUri?: string; oidcUserClaim?: string; oidcAdminClaims?: { claim: string; value: string }[] } {
  const { issuer, audience, jwksUri, userClaim } = given;
  if (issuer === undefined) {
    if ([audience, jwksUri, userClaim].some((v) => v !== undefined) || adminClaims.length) throw new ConfigError('--oidc-audience, --oidc-jwks-uri, --oidc-user-claim and --oidc-admin-claim need --oidc-issuer');
    return {};
  }
  if (!audience) throw new ConfigError('--oidc-issuer needs --oidc-audience: the value tokens meant for this server carry in their aud');
  for (const [flag, url] of [['--oidc-issuer', issuer], ['--oidc-jwks-uri', jwksUri ?? 'https://x']] as const) {
    // Keys fetched in the clear could be swapped on the way: plain http only where nothing is on the way.
    const u = URL.canParse(url) ? new URL(url) : undefined;
    if (!(u?.protocol === 'https:' || (u?.protocol === 'http:' && isLoopbackHost(u.hostname)))) throw new ConfigError(`${flag} must be an https URL (or http to a loopback address), got '${url}'`);
  }
  const oidcAdminClaims = adminClaims.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new ConfigError(`--oidc-admin-claim must look like NAME=VALUE, got '${spec}'`);
    return { claim: spec.slice(0, eq), value: spec.slice(eq + 1) };
  });
  return { oidcIssuer: issuer, oidcAudience: audience, ...(jwksUri ? { oidcJwksUri: jwksUri } : {}), oidcUserClaim: userClaim || 'sub', oidcAdminClaims };
}

/** `--public-url`: an http(s) URL without query or fragment, kept without its trailing slash. */
export function publicUrlConfig(value: string | undefined): { publicUrl?: string } {
  if (value === undefined) return {};
  const u = URL.canParse(value) ? new URL(value) : undefined;
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.hash || u.username || u.password) {
    throw new ConfigError(`--public-url must be an http(s) URL without query, fragment or credentials, got '${value}'`);
  }
  return { publicUrl: `${u.origin}${u.pathname.replace(/\/+$/, '')}` };
}

/** Whether a listen address reaches only this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}
