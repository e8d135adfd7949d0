import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { UI_CSP } from '../../src/api/ui.js';
import { buildTestApp, call, tempDir } from '../helper.js';
import { builtUi } from '../ui/browser.js';

/**
 * The dashboard's static files: served under /ui only, by exact name (no
 * path reaches outside the built folder), with a strict CSP, to anyone; the
 * API's own answers, authentication and CORS stay as they were.
 */

t.test('the built files, their headers, and nothing else', async (t) => {
  const uiDir = await builtUi(t);
  const app = await buildTestApp(t, {}, { uiDir });

  const bare = await app.inject({ method: 'GET', url: '/ui' });
  t.equal(bare.statusCode, 302);
  t.equal(bare.headers.location, 'ui/', 'relative: it holds behind a path prefix');

  const index = await app.inject({ method: 'GET', url: '/ui/' });
  t.equal(index.statusCode, 200);
  t.match(index.headers['content-type'], /^text\/html/);
  t.equal(index.headers['content-security-policy'], UI_CSP);
  t.notMatch(UI_CSP, /unsafe-inline|unsafe-eval|\*/, 'nothing inline, nothing from elsewhere');
  t.match(UI_CSP, /script-src 'self'/);
  t.equal(index.headers['x-content-type-options'], 'nosniff');
  t.equal(index.headers['x-frame-options'], 'DENY');
  // The page itself needs nothing the policy forbids: no inline script, style or handler.
  t.notMatch(index.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src');
  t.notMatch(index.body, /\sstyle=|\son[a-z]+=|<style/i, 'no inline style or event handler');
  t.notMatch(index.body, /https?:\/\//, 'nothing loaded from another site');

  const js = await app.inject({ method: 'GET', url: '/ui/app.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  t.match(js.body, /ga4gh\/wes\/v1/, 'the typed client is bundled in');
  t.notMatch(js.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)[a-z]/i, 'no CDN or other site in the bundle');
  const css = await app.inject({ method: 'GET', url: '/ui/app.css' });
  t.match(css.headers['content-type'], /^text\/css/);
  t.notMatch(css.body, /@import|url\(|@font-face/, 'no fonts or sheets from elsewhere');

  const again = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': String(js.headers.etag) } });
  t.equal(again.statusCode, 304, 'unchanged files are not sent again');
  const head = await app.inject({ method: 'HEAD', url: '/ui/app.css' });
  t.equal(head.statusCode, 200);
  t.equal(head.body, '');

  // A link inside the folder to a file outside it is not served, nor is anything not a built file.
  await fs.symlink(path.resolve('package.json'), path.join(uiDir, 'leak.txt'));
  await fs.mkdir(path.join(uiDir, 'sub'));
  await fs.writeFile(path.join(uiDir, 'sub', 'x.js'), '');
  for (const url of [
    '/ui/../package.json',
    '/ui/..%2fpackage.json',
    '/ui/%2e%2e/package.json',
    '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/ui/..\\package.json',
    '/ui//etc/passwd',
    '/ui/leak.txt',
    '/ui/sub/x.js',
    '/ui/index.html%00.js',
    '/ui/missing.js',
  ]) {
    const res = await call(t, app, { method: 'GET', url });
    t.not(res.statusCode, 200, `${url} is not served`);
    t.notMatch(res.body, /"dependencies"|root:/, `${url} leaks nothing`);
  }
  t.equal((await app.inject({ method: 'GET', url: '/uix' })).statusCode, 404, 'only /ui and below');
});

t.test('not built: says how to build it', async (t) => {
  const dir = await tempDir(t);
  const app = await buildTestApp(t, {}, { uiDir: path.join(dir, 'none') });
  const res = await call(t, app, { method: 'GET', url: '/ui/' });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { msg: /npm run build/ });
  t.equal((await app.inject({ method: 'GET', url: '/ga4gh/wes/v1/service-info' })).statusCode, 200, 'the API is served all the same');
});

t.test('the files need no credentials; the API still does, and its CORS is as configured', async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${createHash('sha256').update('ann-token').digest('hex')}\n`);
  const uiDir = await builtUi(t);
  const app = await buildTestApp(t, { authTokens: tokens, cors: true, corsOrigins: ['https://portal.example'] }, { uiDir });
  t.equal((await app.inject({ method: 'GET', url: '/ui/' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/ui/app.js' })).statusCode, 200);
  const runs = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' });
  t.equal(runs.statusCode, 401, 'the data behind the page needs credentials');
  t.match(String(runs.headers['www-authenticate']), /Bearer/, 'and names the scheme the page asks for');
  t.equal((await app.inject({ method: 'GET', url: '/ga4gh/wes/v1/runs', headers: { authorization: 'Bearer ann-token' } })).statusCode, 200);
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/ga4gh/wes/v1/runs',
    headers: { origin: 'https://portal.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
  });
  t.equal(preflight.headers['access-control-allow-origin'], 'https://portal.example', 'CORS preflights are answered as before');
  const elsewhere = await app.inject({ method: 'GET', url: '/ga4gh/wes/v1/service-info', headers: { origin: 'https://other.example' } });
  t.equal(elsewhere.headers['access-control-allow-origin'], undefined, 'and other origins are still not allowed');
});
