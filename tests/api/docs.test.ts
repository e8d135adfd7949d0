import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import t from 'tap';
import { loadSpec } from '../../src/api/spec.js';
import { buildTestApp, tempDir } from '../helper.js';

// The API's docs: the bundled spec as JSON and Swagger UI, served from the
// installed swagger-ui-dist, open to all like service-info, loaded in a real
// browser (Debian's chromium, driven by playwright-core).

const CHROMIUM = '/usr/bin/chromium';
const BASE = '/ga4gh/wes/v1';
const operationCount = Object.values(loadSpec().paths ?? {}).reduce((n, item) => n + Object.keys(item ?? {}).filter((k) => ['get', 'post', 'put', 'delete', 'patch'].includes(k)).length, 0);

t.test('the spec at openapi.json (and at Toil\'s swagger.json), public, with the ways of signing in', async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${createHash('sha256').update('secret').digest('hex')}\n`);
  const app = await buildTestApp(t, { authTokens: tokens });
  for (const url of [`${BASE}/openapi.json`, `${BASE}/swagger.json`]) {
    const res = await app.inject({ url });
    t.equal(res.statusCode, 200, `${url}: no credentials needed`);
    t.match(res.headers['content-type'], /^application\/json/);
    const spec = res.json() as ReturnType<typeof loadSpec>;
    t.same(Object.keys(spec.paths ?? {}), Object.keys(loadSpec().paths ?? {}), 'every path of the bundled spec');
    t.same(spec.components?.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer' } }, 'the schemes this server takes');
    t.same(spec.security, [{ bearerAuth: [] }]);
    t.same(spec.paths?.[`${BASE}/service-info`]?.get?.security, [], 'service-info needs none');
  }
  t.equal((await app.inject({ url: `${BASE}/docs` })).statusCode, 200, 'the docs page is public too');
  t.equal((await app.inject({ url: `${BASE}/runs` })).statusCode, 401, 'the runs are not');
  const plain = await buildTestApp(t, { publicUrl: 'https://wes.example/ferry' });
  const spec = (await plain.inject({ url: `${BASE}/openapi.json` })).json() as ReturnType<typeof loadSpec>;
  t.same(spec.servers, [{ url: 'https://wes.example/ferry' }], 'behind a proxy: the public URL');
  t.equal(spec.components?.securitySchemes, undefined, 'no authentication: no schemes');
});

t.test('the docs page and its files; Toil\'s path only with --swagger_ui; off with --api-docs off', async (t) => {
  const app = await buildTestApp(t);
  const page = await app.inject({ url: `${BASE}/docs` });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<script src="docs\/swagger-ui-bundle\.js"><\/script>/, 'links relative to the page, so a proxy prefix keeps working');
  t.notMatch(page.body, /https?:\/\//, 'nothing from elsewhere (no CDN)');
  for (const [asset, type] of [['swagger-ui.css', /^text\/css/], ['swagger-ui-bundle.js', /^text\/javascript/], ['ferry-docs.js', /^text\/javascript/], ['favicon-32x32.png', /^image\/png/]] as const) {
    const res = await app.inject({ url: `${BASE}/docs/${asset}` });
    t.equal(res.statusCode, 200, asset);
    t.match(res.headers['content-type'], type);
  }
  for (const other of ['package.json', 'index.html', '..%2Fpackage.json', 'swagger-initializer.js']) {
    const res = await app.inject({ url: `${BASE}/docs/${other}` });
    t.equal(res.statusCode, 404, `${other}: only the page's own files`);
    t.same(Object.keys(res.json() as object).sort(), ['msg', 'status_code'], 'with the WES error body');
  }
  const slashed = await app.inject({ url: `${BASE}/docs/` });
  t.equal(slashed.statusCode, 302);
  t.equal(slashed.headers.location, '../docs');
  t.equal((await app.inject({ url: `${BASE}/ui/` })).statusCode, 404, "Toil's path needs --swagger_ui");

  const toil = await buildTestApp(t, { toilSwaggerUi: true });
  const ui = await toil.inject({ url: `${BASE}/ui/` });
  t.equal(ui.statusCode, 200);
  t.match(ui.body, /src="\.\.\/docs\/swagger-ui-bundle\.js"/);
  t.equal((await toil.inject({ url: `${BASE}/ui` })).headers.location, 'ui/');

  const off = await buildTestApp(t, { apiDocs: false });
  t.equal((await off.inject({ url: `${BASE}/docs` })).statusCode, 404, '--api-docs off');
  t.equal((await off.inject({ url: `${BASE}/openapi.json` })).statusCode, 200, 'the spec stays');
});

t.test('the docs render the operations in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/setup.sh installs it)` }, async (t) => {
  const app = await buildTestApp(t, { toilSwaggerUi: true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-chromium-'));
  t.teardown(() => fs.rm(profile, { recursive: true, force: true }));
  // A fresh profile each time (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const elsewhere: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(base) && !req.url().startsWith('data:')) elsewhere.push(req.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  for (const url of [`${base}${BASE}/docs`, `${base}${BASE}/ui/`]) {
    await page.goto(url);
    await page.locator('.opblock').first().waitFor({ timeout: 60_000 });
    t.equal(await page.locator('.opblock').count(), operationCount, `${url}: every operation listed`);
    t.match(await page.locator('.info .title').innerText(), /Workflow Execution Service/);
    t.ok(await page.locator('.opblock-summary-path[data-path="/ga4gh/wes/v1/runs/{run_id}/status"]').count(), 'GetRunStatus among them');
  }
  // "Try it out" on service-info: the page calls the server itself.
  await page.locator(`.opblock-summary-path[data-path="${BASE}/service-info"]`).first().click();
  await page.locator('.try-out__btn').first().click();
  await page.locator('.execute').first().click();
  await page.locator('.live-responses-table tbody .response-col_status').first().waitFor({ timeout: 60_000 });
  t.match(await page.locator('.live-responses-table tbody .response-col_status').first().innerText(), /200/, 'and its answer shows');
  t.same(errors, [], 'no script errors');
  t.same(elsewhere, [], 'nothing fetched from elsewhere');
});
