import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { buildTestApp, tempDir, workflowsDir } from '../helper.js';
import type { FerryConfig } from '../../src/config/config.js';
import { builtUi, launchBrowser, noBrowser, screenshot, watchPage } from './browser.js';

/**
 * The dashboard on a server that needs credentials: the page asks for them
 * (a bearer token; a user and password for Basic), keeps them in the tab's
 * sessionStorage, and every call it makes, downloads included, carries them.
 */

const skip = noBrowser();
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of 4(01|04|16)/];
const TOKEN = 'dashboard-token-0123456789';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** What the page keeps in the tab's sessionStorage (the test code has no DOM types: a string to evaluate). */
const keptCredentials = (page: Page): Promise<string | null> => page.evaluate<string | null>("sessionStorage.getItem('ferry.credentials')");

async function listening(t: Parameters<typeof buildTestApp>[0], config: Partial<FerryConfig>): Promise<{ app: FastifyInstance; base: string }> {
  const uiDir = await builtUi(t);
  const app = await buildTestApp(t, config, { uiDir });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

t.test('bearer token: asked for, kept for the tab, sent with every call', { skip: skip ?? false }, async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${sha256(TOKEN)}\n`);
  const { app, base } = await listening(t, { authTokens: tokens });
  const context = await launchBrowser(t);
  const page = context.pages()[0] ?? (await context.newPage());
  watchPage(t, page, EXPECTED_CONSOLE);
  page.setDefaultTimeout(30_000);

  await page.goto(`${base}/ui/`);
  await page.locator('#login #login-token').waitFor();
  t.equal(await page.locator('#login-user').count(), 0, 'a token only: the server takes no passwords');
  await screenshot(page, 'sign-in');

  await page.fill('#login-token', 'not-the-token');
  await page.click('#login-submit');
  await page.locator('#login .error', { hasText: 'not accepted' }).waitFor();
  t.pass('a wrong token is refused, and the page asks again');

  await page.fill('#login-token', TOKEN);
  await page.click('#login-submit');
  await page.locator('#runs td.empty').waitFor();
  t.match(await page.textContent('#who'), /signed in with a token/);
  const kept = await keptCredentials(page);
  t.same(JSON.parse(kept ?? '{}'), { token: TOKEN }, 'kept in sessionStorage');
  await page.reload();
  await page.locator('#runs td.empty').waitFor();
  t.equal(await page.locator('#login').count(), 0, 'a reload of the tab keeps it');

  await page.click('nav a[data-nav=submit]');
  await page.locator('#workflow_type option[value=CWL]').waitFor({ state: 'attached', timeout: 60_000 });
  await page.setInputFiles('#workflow_attachment', path.join(workflowsDir, 'echo', 'echo.cwl'));
  await page.selectOption('#workflow_type_version', 'v1.0');
  await page.fill('#workflow_params', '{"message": "with a token"}');
  await page.click('#submit');
  await page.waitForURL(/#\/runs\/run-/);
  const runId = decodeURIComponent(/#\/runs\/([^/?]+)/.exec(page.url())![1]!);
  await page.locator('#run-state [data-state=COMPLETE]').waitFor({ timeout: 180_000 });
  const owner = await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(owner.statusCode, 200, 'the run was submitted as the token\'s user');
  await page.locator('#log-stderr', { hasText: 'Final process status is success' }).waitFor();
  t.pass('its log is read with the token');

  // A plain link cannot carry the header: the page fetches the file through the client.
  const link = page.locator('#run-outputs a.download[data-path="output.txt"]');
  await link.waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  t.equal(download.suggestedFilename(), 'output.txt');
  t.equal(await fs.readFile((await download.path())!, 'utf8'), 'with a token\n', 'the output downloads with the token');

  const other = await context.newPage();
  watchPage(t, other, EXPECTED_CONSOLE);
  await other.goto(`${base}/ui/`);
  await other.locator('#login #login-token').waitFor();
  t.pass('another tab has to sign in itself');
  await other.close();

  await page.click('#sign-out');
  await page.locator('#login #login-token').waitFor();
  t.equal(await keptCredentials(page), null, 'signing out forgets the token');
});

t.test('Basic: user and password, beside tokens', { skip: skip ?? false }, async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${sha256(TOKEN)}\n`);
  const htpasswd = path.join(dir, 'htpasswd');
  await promisify(execFile)('htpasswd', ['-B', '-c', '-b', htpasswd, 'carol', 'pa:ss wörd']);
  const { base } = await listening(t, { authTokens: tokens, authHtpasswd: htpasswd });
  const context = await launchBrowser(t);
  const page = context.pages()[0] ?? (await context.newPage());
  watchPage(t, page, EXPECTED_CONSOLE);
  page.setDefaultTimeout(30_000);

  await page.goto(`${base}/ui/`);
  await page.locator('#login #login-user').waitFor();
  t.equal(await page.locator('#login-token').count(), 1, 'both ways the server takes are offered');
  await page.fill('#login-user', 'carol');
  await page.fill('#login-password', 'wrong');
  await page.click('#login-submit');
  await page.locator('#login .error', { hasText: 'not accepted' }).waitFor();
  await page.fill('#login-user', 'carol');
  await page.fill('#login-password', 'pa:ss wörd');
  await page.click('#login-submit');
  await page.locator('#runs td.empty').waitFor();
  t.match(await page.textContent('#who'), /signed in as carol/);
  t.same(JSON.parse((await keptCredentials(page)) ?? '{}'), { user: 'carol', password: 'pa:ss wörd' });
});
