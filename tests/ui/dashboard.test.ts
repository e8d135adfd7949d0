import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Page } from 'playwright-core';
import { attachFolder, buildTestApp, submit, waitForState, workflowsDir } from '../helper.js';
import { builtUi, launchBrowser, noBrowser, screenshot, watchPage } from './browser.js';

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core)
 * against the real app listening on loopback, with real cwltool runs: submit
 * through the form, watch the run reach COMPLETE, read its logs, download an
 * output, see the runs table update and filter, cancel a slow run and delete it.
 */

const skip = noBrowser();
// Chromium reports every answer of 4xx as a failed load; the logs' first read of an empty file is a 416.
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of 4(04|16)/];

/** The run id the page's address names (`#/runs/ID`). */
async function runIdOf(page: Page): Promise<string> {
  await page.waitForURL(/#\/runs\/run-/);
  return decodeURIComponent(/#\/runs\/([^/?]+)/.exec(page.url())![1]!);
}

t.test('the dashboard, end to end', { skip: skip ?? false }, async (t) => {
  const uiDir = await builtUi(t);
  const app = await buildTestApp(t, {}, { uiDir });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const context = await launchBrowser(t);
  const page = context.pages()[0] ?? (await context.newPage());
  watchPage(t, page, EXPECTED_CONSOLE);
  page.setDefaultTimeout(30_000);

  await page.goto(`${base}/ui/`);
  await page.locator('#runs td.empty', { hasText: 'No runs.' }).waitFor();
  t.pass('an empty server lists no runs');

  let done: string;
  await t.test('submit through the form, watch it complete, read its log, download its output', async (t) => {
    await page.click('nav a[data-nav=submit]');
    await page.locator('#workflow_type option[value=CWL]').waitFor({ state: 'attached', timeout: 60_000 });
    await page.setInputFiles('#workflow_attachment', path.join(workflowsDir, 'echo', 'echo.cwl'));
    t.equal(await page.inputValue('#workflow_url'), 'echo.cwl', 'the workflow is the attachment chosen');
    await page.selectOption('#workflow_type', 'CWL');
    await page.selectOption('#workflow_type_version', 'v1.0');
    await page.fill('#workflow_params', '{"message": "hello from the dashboard"}');
    await page.fill('#tags', 'project=ui-test\nkind=echo');
    await screenshot(page, 'submit-form');
    await page.click('#submit');
    done = await runIdOf(page);
    t.match(done, /^run-/, 'the form took us to the new run');

    await page.locator('#run-state [data-state=COMPLETE]').waitFor({ timeout: 180_000 });
    t.pass('the page showed the run reach COMPLETE without a reload');
    t.match(await page.textContent('.facts'), /CWL v1\.0: echo\.cwl/);
    t.match(await page.textContent('.facts'), /project=ui-test/);
    t.match(await page.textContent('#run-cmd'), /cwltool/, 'the command the engine ran');
    t.match(await page.textContent('#run-system-logs'), /\S/);
    await page.locator('svg.timeline g.task rect.bar').first().waitFor();
    t.ok((await page.locator('svg.timeline g.task').count()) >= 1, 'a bar for the task on the timeline');
    t.ok(await page.isDisabled('#cancel'), 'a finished run cannot be canceled');
    t.ok(await page.isEnabled('#delete'), 'it can be deleted');

    await page.locator('#log-stderr', { hasText: 'Final process status is success' }).waitFor();
    t.pass('the engine log (stderr) is shown');
    await page.click('#tab-stdout');
    await page.locator('#log-stdout', { hasText: '"output"' }).waitFor();
    t.pass('and its stdout (the outputs object cwltool printed)');

    const link = page.locator('#run-outputs a.download[data-path="output.txt"]');
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    t.equal(download.suggestedFilename(), 'output.txt');
    t.equal(await fs.readFile((await download.path())!, 'utf8'), 'hello from the dashboard\n', 'the output downloads with its content');
    const [zip] = await Promise.all([page.waitForEvent('download'), page.click('#download-zip')]);
    t.equal((await fs.readFile((await zip.path())!)).subarray(0, 2).toString(), 'PK', 'and all outputs as a zip');
    await screenshot(page, 'run-complete');
  });

  await t.test('a workflow folder with sub-folders, and the timeline of its two tasks', async (t) => {
    await page.goto(`${base}/ui/#/submit`);
    await page.locator('#workflow_type option[value=CWL]').waitFor({ state: 'attached' });
    await page.setInputFiles('#workflow_folder', path.join(workflowsDir, 'two-step'));
    t.equal(await page.inputValue('#workflow_url'), 'main.cwl', 'the workflow at the folder\'s top');
    await page.selectOption('#workflow_type_version', 'v1.2');
    await page.fill('#workflow_params', await fs.readFile(path.join(workflowsDir, 'two-step', 'inputs.json'), 'utf8'));
    await page.fill('#tags', '{"project": "ui-test-folder"}');
    await page.click('#submit');
    const runId = await runIdOf(page);
    await page.locator('#run-state [data-state=COMPLETE]').waitFor({ timeout: 180_000 });
    const request = (await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { outputs: Record<string, unknown> };
    t.ok(request.outputs.count_file, 'the run found tools/ and data/ where main.cwl points');
    await page.locator('svg.timeline g.task').nth(1).waitFor();
    t.equal(await page.locator('svg.timeline g.task').count(), 2, 'two bars: upper, then count');
    const labels = await page.locator('svg.timeline g.task text.label').allTextContents();
    t.same(labels.map((l) => l.replace(/^.*?(upper|count).*$/, '$1')), ['upper', 'count'], 'in the order they started');
    const link = page.locator('#run-outputs a.download', { hasText: /upper/ });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    t.equal(await fs.readFile((await download.path())!, 'utf8'), 'ALPHA\nBRAVO\nCHARLIE\nDELTA\n');
    await screenshot(page, 'run-two-step');
  });

  await t.test('the runs table: live, filtered by tag and state, paged', async (t) => {
    await page.goto(`${base}/ui/#/`);
    await page.locator(`#runs tr[data-run-id="${done}"] [data-state=COMPLETE]`).waitFor();
    // A run submitted elsewhere shows up without a reload.
    const other = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message": "other"}', tags: '{"project":"other"}' }, await attachFolder(path.join(workflowsDir, 'echo')));
    const otherId = (other.json() as { run_id: string }).run_id;
    await page.locator(`#runs tr[data-run-id="${otherId}"]`).waitFor();
    t.pass('a new run appears in the open table');
    await waitForState(t, app, otherId);
    await page.locator(`#runs tr[data-run-id="${otherId}"] [data-state=COMPLETE]`).waitFor();
    t.pass('and its state follows');

    await page.fill('#filter-tag-key', 'project');
    await page.fill('#filter-tag-value', 'ui-test');
    await page.click('.filters button[type=submit]');
    await page.waitForURL(/tag_key=project&tag_value=ui-test/);
    await page.locator(`#runs tr[data-run-id="${done}"]`).waitFor();
    t.equal(await page.locator('#runs tbody tr').count(), 1, 'the tag filter leaves the one run tagged so');

    await page.goto(`${base}/ui/#/?state=EXECUTOR_ERROR`);
    await page.locator('#runs td.empty').waitFor();
    t.pass('no run failed');
    await page.goto(`${base}/ui/#/?state=COMPLETE`);
    await page.locator(`#runs tr[data-run-id="${otherId}"]`).waitFor();
    t.equal(await page.locator('#runs tbody tr').count(), 3, 'the three runs are COMPLETE');

    await page.goto(`${base}/ui/#/?page_size=1`);
    await page.locator(`#runs tr[data-run-id="${otherId}"]`).waitFor();
    t.ok(await page.isDisabled('#page-prev'), 'the first page has none before it');
    await page.click('#page-next');
    await page.locator('.pager', { hasText: 'page 2' }).waitFor();
    await page.click('#page-next');
    await page.locator(`#runs tr[data-run-id="${done}"]`).waitFor();
    t.equal(await page.locator('#runs tbody tr').count(), 1, 'one run a page, the oldest on page 3');
    t.match(await page.textContent('.pager'), /page 3/);
    t.ok(await page.isDisabled('#page-next'), 'and no page after it');
    await page.click('#page-prev');
    await page.locator('.pager', { hasText: 'page 2' }).waitFor();
    await page.click('#page-prev');
    await page.locator(`#runs tr[data-run-id="${otherId}"]`).waitFor();
    await screenshot(page, 'runs');
  });

  await t.test('cancel a slow run, follow its log meanwhile, then delete it', async (t) => {
    await page.goto(`${base}/ui/#/submit`);
    await page.locator('#workflow_type option[value=CWL]').waitFor({ state: 'attached' });
    await page.setInputFiles('#workflow_attachment', path.join(workflowsDir, 'sleep', 'sleep.cwl'));
    await page.selectOption('#workflow_type_version', 'v1.0');
    await page.fill('#workflow_params', '{"seconds": 300}');
    await page.click('#submit');
    const slow = await runIdOf(page);
    await page.locator('#run-state [data-state=RUNNING]').waitFor({ timeout: 60_000 });
    // The log grows while the page is open: the tail follows it.
    await page.locator('#log-stderr', { hasText: '[job sleep.cwl]' }).waitFor({ timeout: 60_000 });
    t.pass('the running run\'s engine log is followed');
    t.ok(await page.isDisabled('#delete'), 'a running run cannot be deleted');
    await screenshot(page, 'run-running');

    await page.click('#cancel');
    await page.locator('#run-state [data-state=CANCELED]').waitFor({ timeout: 60_000 });
    t.pass('canceled from the page');
    t.equal(await waitForState(t, app, slow), 'CANCELED');

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#delete');
    await page.waitForURL(/#\/$/);
    t.equal((await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs/${slow}` })).statusCode, 404, 'the run is gone');
    await page.locator(`#runs tr[data-run-id="${done}"]`).waitFor();
    t.equal(await page.locator(`#runs tr[data-run-id="${slow}"]`).count(), 0, 'and out of the table');
    await page.goto(`${base}/ui/#/runs/${slow}`);
    await page.locator('#run-error', { hasText: 'No run' }).waitFor();
    t.pass('its page says it is gone');
  });
});
