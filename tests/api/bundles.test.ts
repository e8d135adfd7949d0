import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, call, fixturesDir, listTree, submit, waitForState, workflowsDir, type FilePart, outputPath } from '../helper.js';
import { folderEntries, makeZip, type ZipEntrySpec } from '../fixtures/bundles/zip-writer.js';

// workflow.zip bundles through POST /runs: Toil's layouts run to COMPLETE on
// cwltool, attached or fetched; hostile or broken bundles are refused with
// the WES error body and leave nothing behind.

const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));
const greet = await fs.readFile(path.join(fixturesDir, 'bundles', 'greet', 'greet.cwl'));
const twoStepDir = path.join(workflowsDir, 'two-step');
const twoStep = (prefix = '') => folderEntries(twoStepDir, prefix);
const words = await fs.readFile(path.join(twoStepDir, 'data', 'words.txt'), 'utf8');
const base = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'workflow.zip' };
const json = (v: unknown) => JSON.stringify(v);
const zipFile = (entries: ZipEntrySpec[], filename = 'workflow.zip'): FilePart => ({ filename, content: makeZip(entries) });

interface RunLogBody {
  state: string;
  request: { workflow_params?: Record<string, unknown>; workflow_engine_parameters?: Record<string, string>; workflow_url: string };
  outputs: Record<string, { location: string }>;
  run_log: { cmd?: string[] };
}

/** An http server for fetched bundles: path → [content type, body]. */
async function serve(t: Test, files: Record<string, [string, Buffer]>): Promise<string> {
  const server = http.createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': file[0] });
    res.end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('the bundle layouts reach COMPLETE on cwltool', async (t) => {
  const started = Date.now();
  const app = await buildTestApp(t, { maxConcurrentRuns: 4, allowPrivateDownloads: true });
  const greetBundle = (): ZipEntrySpec[] => [
    { name: 'inputs2.json', content: json({ name: 'two' }) },
    { name: 'main.cwl', content: greet },
    { name: 'inputs1.json', content: json({ greeting: 'hello', name: 'one', punctuation: '.' }) },
    { name: 'options.json', content: json({ '--eval-timeout': 20, '--on-error': 'continue' }) },
  ];
  const web = await serve(t, {
    '/bundles/workflow.zip': ['application/zip', makeZip(greetBundle())],
    '/download?id=7': ['application/octet-stream', makeZip([{ name: 'MANIFEST.json', content: json({ mainWorkflowURL: 'echo.cwl' }) }, { name: 'echo.cwl', content: echo }, { name: 'LICENSE', content: 'x' }])],
  });

  interface Case {
    name: string;
    fields: Record<string, string>;
    files: FilePart[];
    /** Output id → its expected content. */
    outputs: Record<string, string>;
    /** What wes_inputs.json must hold. */
    inputs: Record<string, unknown>;
    /** Options the command line must show, and must not. */
    cmdHas?: string[];
    cmdLacks?: string[];
    /** The workflow the run records, relative to execution/. */
    workflowFile: string;
  }
  const wordsIn = (location: string) => ({ words: { class: 'File', location } });
  const twoStepOutputs = { upper_file: words.toUpperCase(), count_file: `${words.split('\n').length - 1}\n` };
  const cases: Case[] = [
    {
      name: 'single member (in a folder)',
      fields: { ...base, workflow_params: json({ message: 'single' }) },
      files: [zipFile([{ name: 'echo/' }, { name: 'echo/echo.cwl', content: echo }])],
      outputs: { output: 'single\n' },
      inputs: { message: 'single' },
      workflowFile: 'echo/echo.cwl',
    },
    {
      name: 'MANIFEST.json with main only',
      fields: { ...base, workflow_params: json({ message: 'manifest' }) },
      files: [
        zipFile([
          { name: 'MANIFEST.json', content: json({ mainWorkflowURL: 'tools/echo.cwl' }) },
          { name: 'tools/echo.cwl', content: echo },
          { name: 'README.md', content: '# echo' },
        ]),
      ],
      outputs: { output: 'manifest\n' },
      inputs: { message: 'manifest' },
      workflowFile: 'tools/echo.cwl',
    },
    {
      name: 'MANIFEST.json with inputs and options',
      fields: { ...base, workflow_type_version: 'v1.2' },
      files: [
        zipFile([
          {
            name: 'MANIFEST.json',
            content: json({ mainWorkflowURL: 'wf/main.cwl', inputFileURLs: ['params/inputs.json'], optionsFileURL: 'params/options.json' }),
          },
          ...(await twoStep('wf/')).filter((e) => !e.name.includes('inputs.json') && !e.name.includes('/data/')),
          { name: 'data/words.txt', content: words },
          { name: 'params/inputs.json', content: json(wordsIn('../data/words.txt')) },
          { name: 'params/options.json', content: json({ '--eval-timeout': '30' }) },
        ]),
      ],
      outputs: twoStepOutputs,
      inputs: wordsIn('data/words.txt'),
      cmdHas: ['--eval-timeout=30'],
      workflowFile: 'wf/main.cwl',
    },
    {
      name: 'main.cwl only',
      fields: { ...base, workflow_type_version: 'v1.2', workflow_params: json(wordsIn('data/words.txt')) },
      files: [zipFile((await twoStep()).filter((e) => e.name !== 'inputs.json'))],
      outputs: twoStepOutputs,
      inputs: wordsIn('data/words.txt'),
      workflowFile: 'main.cwl',
    },
    {
      name: 'main.cwl + inputs.json',
      fields: { ...base, workflow_type_version: 'v1.2' },
      files: [zipFile(await twoStep())],
      outputs: twoStepOutputs,
      inputs: wordsIn('data/words.txt'),
      workflowFile: 'main.cwl',
    },
    {
      name: 'main.cwl + inputs1.json + inputs2.json + options.json, overridden by the request',
      fields: { ...base, workflow_params: json({ punctuation: '!' }), workflow_engine_parameters: json({ '--on-error': 'stop' }) },
      files: [zipFile(greetBundle())],
      outputs: { greeting_file: 'hello two !\n' },
      inputs: { greeting: 'hello', name: 'two', punctuation: '!' },
      cmdHas: ['--eval-timeout=20', '--on-error=stop'],
      cmdLacks: ['--on-error=continue'],
      workflowFile: 'main.cwl',
    },
    {
      name: 'fetched over http',
      fields: { ...base, workflow_url: `${web}/bundles/workflow.zip`, workflow_params: json({ punctuation: '?' }) },
      files: [],
      outputs: { greeting_file: 'hello two ?\n' },
      inputs: { greeting: 'hello', name: 'two', punctuation: '?' },
      cmdHas: ['--eval-timeout=20', '--on-error=continue'],
      workflowFile: 'main.cwl',
    },
    {
      name: 'fetched over http from a URL not ending in .zip',
      fields: { ...base, workflow_url: `${web}/download?id=7`, workflow_params: json({ message: 'sniffed' }) },
      files: [],
      outputs: { output: 'sniffed\n' },
      inputs: { message: 'sniffed' },
      workflowFile: 'echo.cwl',
    },
    {
      name: 'attached together with other attachments',
      fields: { ...base, workflow_type_version: 'v1.2' },
      files: [
        { filename: 'notes/README.txt', content: 'notes' },
        zipFile((await twoStep()).filter((e) => !e.name.startsWith('data/'))),
        { filename: 'data/words.txt', content: words },
      ],
      outputs: twoStepOutputs,
      inputs: wordsIn('data/words.txt'),
      workflowFile: 'main.cwl',
    },
    {
      name: 'attached in a sub-folder: unpacked beside itself, inputs rebased',
      fields: { ...base, workflow_type_version: 'v1.2', workflow_url: 'bundles/workflow.zip' },
      files: [zipFile(await twoStep(), 'bundles/workflow.zip')],
      outputs: twoStepOutputs,
      inputs: wordsIn('bundles/data/words.txt'),
      workflowFile: 'bundles/main.cwl',
    },
  ];

  const submitted: [Case, string][] = [];
  for (const c of cases) {
    const res = await submit(t, app, c.fields, c.files);
    t.equal(res.statusCode, 200, `${c.name}: ${res.body}`);
    if (res.statusCode === 200) submitted.push([c, (res.json() as { run_id: string }).run_id]);
  }
  for (const [c, runId] of submitted) {
    await t.test(c.name, async (t) => {
      const state = await waitForState(t, app, runId);
      const runDir = path.join(app.ferry.config.workDir, runId);
      if (state !== 'COMPLETE') {
        const stderr = await fs.readFile(path.join(runDir, 'stderr'), 'utf8').catch(() => '');
        t.fail(`state ${state}`, { stderr: stderr.slice(-3000) });
        return;
      }
      t.pass('COMPLETE');
      const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
      for (const [id, content] of Object.entries(c.outputs)) {
        const out = log.outputs[id];
        t.ok(out, `output ${id}`);
        if (out) t.equal(await fs.readFile(outputPath(app, out.location), 'utf8'), content, `output ${id} content`);
      }
      t.same(JSON.parse(await fs.readFile(path.join(runDir, 'execution', 'wes_inputs.json'), 'utf8')), c.inputs, 'merged inputs');
      const cmd = log.run_log.cmd ?? [];
      t.ok(cmd.some((a) => a.endsWith(`/execution/${c.workflowFile}`)), `the engine ran ${c.workflowFile}: ${cmd.join(' ')}`);
      for (const a of c.cmdHas ?? []) t.ok(cmd.includes(a), `command has ${a}`);
      for (const a of c.cmdLacks ?? []) t.notOk(cmd.includes(a), `command lacks ${a}`);
      // The run log keeps the request as sent, not the bundle's share.
      t.same(log.request.workflow_params ?? {}, JSON.parse(c.fields.workflow_params ?? '{}'), 'request.workflow_params as sent');
      t.same(log.request.workflow_engine_parameters ?? {}, JSON.parse(c.fields.workflow_engine_parameters ?? '{}'), 'request.workflow_engine_parameters as sent');
    });
  }
  t.comment(`${submitted.length} bundle runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

// ------------------------------------------------------------------ refusals

/** Bookkeeping folders the server may keep around; ignored only while empty. */
const BOOKKEEPING = new Set(['.staging', '.locks', 'state_store/.index', 'state_store/.locks']);

async function snapshot(dir: string): Promise<string[]> {
  const entries = await listTree(dir);
  return entries.filter((e) => !((BOOKKEEPING.has(e) || path.basename(e) === '.locks') && !entries.some((x) => x.startsWith(e + path.sep))));
}

/** Sends a submission that must be refused; checks the WES error, and that nothing at all was left behind. */
async function refused(t: Test, app: FastifyInstance, fields: Record<string, string>, files: FilePart[], status: number, msg: RegExp): Promise<void> {
  const dir = app.ferry.config.workDir;
  const before = await snapshot(dir);
  const res = await submit(t, app, fields, files);
  t.equal(res.statusCode, status, `status ${status}: ${res.body}`);
  if (res.statusCode >= 400) {
    const body = res.json() as { msg: string; status_code: number };
    t.same(Object.keys(body).sort(), ['msg', 'status_code'], 'WES error body');
    t.match(body.msg, msg);
  }
  t.same(await snapshot(dir), before, 'the work folder is unchanged');
  t.same(await listTree(path.join(dir, '.staging')), [], 'nothing is left in .staging');
  const runs = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: unknown[] };
  t.same(runs.runs, [], 'no run is listed');
}

t.test('hostile and broken bundles are refused and leave no trace', async (t) => {
  const app = await buildTestApp(t, { maxZipEntries: 20, maxZipBytes: 64 * 1024, allowPrivateDownloads: true });
  const main = { name: 'main.cwl', content: echo };
  const params = json({ message: 'x' });
  const attached = (entries: ZipEntrySpec[], status: number, msg: RegExp, fields: Record<string, string> = {}, more: FilePart[] = []) =>
    refused(t, app, { ...base, workflow_params: params, ...fields }, [zipFile(entries), ...more], status, msg);

  await t.test('entry names', async () => {
    await attached([main, { name: '../../ferry-escape', content: 'x' }], 400, /entry name "\.\.\/\.\.\/ferry-escape" may not contain '\.\.'/);
    await attached([main, { name: '/tmp/ferry-escape', content: 'x' }], 400, /absolute path/);
    await attached([main, { name: 'a\\..\\..\\ferry-escape', content: 'x' }], 400, /backslash/);
    await attached([main, { name: 'a\u0000b', content: 'x' }], 400, /control character/);
  });
  await t.test('links and special files', async () => {
    await attached([main, { name: 'passwd', content: '/etc/passwd', mode: 0o120777 }], 400, /symbolic link/);
    await attached([main, { name: 'fifo', content: '', mode: 0o010644 }], 400, /not a regular file or folder/);
  });
  await t.test('duplicates', async () => {
    await attached([main, { name: 'main.cwl', content: 'again' }], 400, /more than once/);
    await attached([main, { name: 'd', content: 'x' }, { name: 'd/e', content: 'y' }], 400, /which is a file/);
  });
  await t.test('limits (413)', async () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt`, content: 'x' }));
    await attached([main, ...many], 413, /21 entries; at most 20/);
    await attached([main, { name: 'big.bin', content: Buffer.alloc(64 * 1024) }], 413, /more than 65536 bytes/);
    // A zip bomb that lies about its size is stopped as it inflates.
    await attached([main, { name: 'bomb.bin', content: Buffer.alloc(8 * 1024 * 1024), declaredSize: 100 }], 400, /inflates past the 100 bytes/);
  });
  await t.test('corrupt zips', async () => {
    await refused(t, app, { ...base, workflow_params: params }, [{ filename: 'workflow.zip', content: 'plain text' }], 400, /not a valid zip/);
    const good = makeZip([main, { name: 'x.txt', content: 'x'.repeat(100) }]);
    await refused(t, app, { ...base, workflow_params: params }, [{ filename: 'workflow.zip', content: good.subarray(0, good.length - 10) }], 400, /not a valid zip/);
    await attached([main, { name: 'x.txt', content: 'x', crc: 7 }], 400, /CRC/);
    await refused(t, app, { ...base, workflow_params: params }, [{ filename: 'workflow.zip', content: makeZip([]) }], 400, /empty zip/);
  });
  await t.test('MANIFEST.json that points outside the zip or at nothing', async () => {
    const manifest = (m: unknown) => [{ name: 'MANIFEST.json', content: json(m) }, main];
    await attached(manifest({ mainWorkflowURL: '../../etc/passwd' }), 400, /points outside the bundle/);
    await attached(manifest({ mainWorkflowURL: 'file:///etc/passwd' }), 400, /relative path inside the bundle/);
    await attached(manifest({ mainWorkflowURL: 'missing.cwl' }), 400, /not a file in the bundle/);
    await attached(manifest({ mainWorkflowURL: 'main.cwl', inputFileURLs: ['../secrets.json'] }), 400, /points outside the bundle/);
    await attached(manifest({ mainWorkflowURL: 'main.cwl', optionsFileURL: 'nope.json' }), 400, /not a file in the bundle/);
  });
  await t.test('no main.cwl', async () => {
    await attached([{ name: 'echo.cwl', content: echo }, { name: 'other.cwl', content: echo }], 400, /neither MANIFEST\.json nor 'main\.cwl'/);
  });
  await t.test("the bundle's options pass the engine's option policy", async () => {
    await attached([main, { name: 'options.json', content: json({ '--basedir': '/tmp/elsewhere' }) }], 400, /options\.json in workflow bundle 'workflow\.zip': '--basedir' cannot be set/);
    await attached([main, { name: 'options.json', content: json({ '--frobnicate': null }) }], 400, /options\.json .*'--frobnicate'/);
    await attached([main, { name: 'options.json', content: json({ '--debug': ['a'] }) }], 400, /options\.json .*'--debug' must have a string value/);
    await attached([main, { name: 'options.json', content: json({ 'rm -rf': null }) }], 400, /not an option name/);
    // The request's own options are still checked first, with their own wording.
    await attached([main, { name: 'options.json', content: json({ '--debug': null }) }], 400, /^workflow_engine_parameters: '--basedir'/, {
      workflow_engine_parameters: json({ '--basedir': '/tmp/x' }),
    });
  });
  await t.test("the bundle's input locations are policed like workflow_params", async () => {
    const inputs = (v: unknown) => [main, { name: 'inputs.json', content: json(v) }];
    await attached(inputs({ f: { class: 'File', location: 'file:///etc/passwd' } }), 403, /outside the folders this server may read/);
    await attached(inputs({ f: { class: 'File', path: '/etc/passwd' } }), 403, /outside the folders/);
    await attached(inputs({ f: { class: 'File', location: '../../../etc/passwd' } }), 400, /climbs out of the run/);
    await attached(inputs({ f: { class: 'File', location: 'gs://bucket/key' } }), 400, /scheme 'gs'/);
  });
  await t.test('entries that clash with other attachments', async () => {
    await attached([main, { name: 'data/words.txt', content: 'zip' }], 400, /clashes with an attachment/, {}, [{ filename: 'data/words.txt', content: 'attached' }]);
    await attached([main, { name: 'data', content: 'a file' }], 400, /clashes with an attachment/, {}, [{ filename: 'data/words.txt', content: 'attached' }]);
  });
  await t.test('fetched bundles are checked the same way', async () => {
    const web = await serve(t, {
      '/evil.zip': ['application/zip', makeZip([main, { name: '../../ferry-escape', content: 'x' }])],
      '/link': ['application/zip', makeZip([main, { name: 'l', content: '/etc', mode: 0o120755 }])],
      '/bomb.zip': ['application/zip', makeZip([main, { name: 'b', content: Buffer.alloc(1024 * 1024), declaredSize: 1 }])],
      '/corrupt.zip': ['application/zip', Buffer.from('PK\u0003\u0004 and then nothing')],
    });
    await refused(t, app, { ...base, workflow_params: params, workflow_url: `${web}/evil.zip` }, [], 400, /may not contain '\.\.'/);
    await refused(t, app, { ...base, workflow_params: params, workflow_url: `${web}/link` }, [], 400, /symbolic link/);
    await refused(t, app, { ...base, workflow_params: params, workflow_url: `${web}/bomb.zip` }, [], 400, /inflates past/);
    await refused(t, app, { ...base, workflow_params: params, workflow_url: `${web}/corrupt.zip` }, [], 400, /not a valid zip/);
  });
});
