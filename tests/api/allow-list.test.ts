import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { WorkflowAllowList } from '../../src/backend/workflow-allow-list.js';
import { buildTestApp, call, listTree, submit, tempDir, waitForRunTidy, waitForState, workflowsDir } from '../helper.js';

/** `--workflow-allow-list`: only registered workflows run, by digest or by URL prefix. */

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

t.test('only listed workflows are accepted', async (t) => {
  const dir = await tempDir(t);
  const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
  const shared = path.join(dir, 'shared');
  await fs.mkdir(shared);
  await fs.writeFile(path.join(shared, 'echo.cwl'), echo);
  await fs.mkdir(path.join(dir, 'other'));
  await fs.writeFile(path.join(dir, 'other', 'echo.cwl'), echo + '\n# changed\n');
  const list = path.join(dir, 'allowed');
  await fs.writeFile(list, `# the echo tool, by digest\nsha256:${sha256(echo)}\n${pathToFileURL(shared).href}/\n`);
  const workDir = path.join(dir, 'work');
  const app = await buildTestApp(t, { workDir, workflowAllowList: list, allowedFileRoots: [dir] });
  const fields = (url: string): Record<string, string> => ({ workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: url, workflow_params: '{"message":"listed"}' });

  const listed = await submit(t, app, fields('echo.cwl'), [{ filename: 'echo.cwl', content: echo }]);
  t.equal(listed.statusCode, 200, 'an attached workflow whose digest is listed');
  const listedId = (listed.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, listedId), 'COMPLETE');
  const byUrl = await submit(t, app, fields(pathToFileURL(path.join(shared, 'echo.cwl')).href));
  t.equal(byUrl.statusCode, 200, 'a URL under a listed prefix');
  const byUrlId = (byUrl.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, byUrlId), 'COMPLETE');
  for (const id of [listedId, byUrlId]) await waitForRunTidy(workDir, path.join(workDir, 'state_store'), id);

  const before = await listTree(workDir);
  const changed = Buffer.concat([echo, Buffer.from('\n# one more line\n')]);
  const refused = await submit(t, app, fields('echo.cwl'), [{ filename: 'echo.cwl', content: changed }]);
  t.equal(refused.statusCode, 403, 'a changed workflow is not the listed one');
  t.match((refused.json() as { msg: string }).msg, `sha256:${sha256(changed)}`, 'the refusal names its digest, for registering it');
  const walkedOut = pathToFileURL(path.join(shared, '..', 'other', 'echo.cwl')).href.replace('/other/', '/shared/../other/');
  t.equal((await submit(t, app, fields(walkedOut))).statusCode, 403, 'a URL that walks out of the prefix');
  t.equal((await submit(t, app, fields(pathToFileURL(path.join(dir, 'other', 'echo.cwl')).href))).statusCode, 403, 'a URL under no prefix, unlisted digest');
  t.same(await listTree(workDir), before, 'the refusals left nothing behind');

  // The list is read again when it changes.
  await fs.appendFile(list, `${sha256(changed)}\n`);
  const now = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' });
  t.equal(now.statusCode, 200);
  const added = await submit(t, app, fields('echo.cwl'), [{ filename: 'echo.cwl', content: changed }]);
  t.equal(added.statusCode, 200, 'a digest added to the list');
  await waitForState(t, app, (added.json() as { run_id: string }).run_id);
});

t.test('a malformed list is refused, naming the line', async (t) => {
  const dir = await tempDir(t);
  for (const [line, why] of [
    ['https://example.org', 'a prefix without the / after the host'],
    ['sha256:1234', 'a short digest'],
    ['s3://bucket/wf/', 'another scheme'],
    ['echo.cwl', 'a bare name'],
  ] as const) {
    const file = path.join(dir, 'list');
    await fs.writeFile(file, `# ok\nsha256:${'a'.repeat(64)}\n${line}\n`);
    await t.rejects(WorkflowAllowList.open(file), { message: /line 3/ }, why);
  }
});

t.test('a prefix admits only URLs below it', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'list');
  await fs.writeFile(file, 'https://example.org/workflows/\n');
  const staged = path.join(dir, 'wf.cwl');
  await fs.writeFile(staged, 'cwlVersion: v1.0\n');
  const list = await WorkflowAllowList.open(file);
  await t.resolves(list.check('https://example.org/workflows/a/wf.cwl', staged));
  await t.resolves(list.check('https://EXAMPLE.org/workflows/wf.cwl', staged), 'the host compared in its parsed form');
  for (const url of [
    'https://example.org.evil.net/workflows/wf.cwl',
    'https://example.org/workflowsX/wf.cwl',
    'https://example.org/workflows/../admin/wf.cwl',
    'https://example.org/workflows/%2e%2e/admin/wf.cwl',
    'http://example.org/workflows/wf.cwl',
    'wf.cwl',
  ]) {
    await t.rejects(list.check(url, staged), /not on this server's list of allowed workflows/, url);
  }
});
