/**
 * Debian's Chromium, driven by playwright-core (no browser download): the
 * flags keep it off the network it would otherwise try to reach at start,
 * and each browser gets a fresh profile folder.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { buildUi } from '../../scripts/build-ui.js';
import { tempDir } from '../helper.js';

export const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function noBrowser(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (scripts/setup.sh installs Debian's chromium)`;
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** A headless Chromium with a profile of its own, closed when the test ends. */
export async function launchBrowser(t: Pick<Test, 'teardown' | 'fail'>): Promise<BrowserContext> {
  const profile = await tempDir(t, 'ferry-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  t.teardown(() => context.close());
  return context;
}

/** The dashboard built from ui/ into a folder of the test's own. */
export async function builtUi(t: Pick<Test, 'teardown' | 'fail'>): Promise<string> {
  const dir = path.join(await tempDir(t, 'ferry-ui-'), 'ui');
  await buildUi(dir);
  return dir;
}

/** Where screenshots go: .tap/screenshots (kept after the run, not committed). */
export const screenshotDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.tap', 'screenshots');

export async function screenshot(page: Page, name: string): Promise<string> {
  await fs.mkdir(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Fails the test on anything the page logs as an error, a script error, or a
 * Content-Security-Policy violation (the page must need nothing inline).
 */
export function watchPage(t: Pick<Test, 'fail'>, page: Page, allowed: RegExp[] = []): void {
  page.on('pageerror', (err) => t.fail(`script error on the page: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (allowed.some((re) => re.test(text))) return;
    t.fail(`the page logged an error: ${text}`);
  });
}

