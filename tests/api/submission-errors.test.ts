import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, call, listTree, submit, tempDir, workflowsDir, type FilePart } from '../helper.js';

// Every rejected submission must answer the right status with the WES error
// body, and leave nothing behind: no run, no folder, no file anywhere.

const echoPath = path.join(workflowsDir, 'echo', 'echo.cwl');
const echo = await fs.readFile(echoPath);
const echoFile: FilePart = { filename: 'echo.cwl', content: echo };
const base = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl' };

const MAX_BYTES = 16 * 1024;
const MAX_FILES = 4;
// The app for every rejection: no allowed file roots, no private downloads, small limits.
const app = await buildTestApp(t, { maxAttachmentBytes: MAX_BYTES, maxAttachments: MAX_FILES });
const workDir = app.ferry.config.workDir;

/** Bookkeeping folders the server may keep around; ignored only while empty. */
const BOOKKEEPING = new Set(['.staging', '.locks', 'state_store/.index', 'state_store/.locks']);

/** The work folder's tree, minus bookkeeping folders that are empty. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await listTree(dir);
  const out: string[] = [];
  for (const e of entries) {
    if (BOOKKEEPING.has(e) || path.basename(e) === '.locks') {
      const inside = entries.some((x) => x.startsWith(e + path.sep));
      if (!inside) continue;
    }
    out.push(e);
  }
  return out;
}

interface Expect {
  /** The status, or the statuses either of which is right. */
  status: number | number[];
  msg?: string | RegExp;
}

const RUN_ENTRY = /^(?:state_store\/)?(run-[0-9a-f]{32})(?:\/|$)/;

/** Drops the entries of runs that already existed (they are busy running, not our concern). */
function withoutRuns(tree: string[], runIds: ReadonlySet<string>): string[] {
  return tree.filter((e) => {
    const id = RUN_ENTRY.exec(e)?.[1];
    return !(id && runIds.has(id)) && !(runIds.size > 0 && e.startsWith('state_store/.index/.locks'));
  });
}

/**
 * Sends a submission that must be refused and checks the answer, that the
 * work folder is unchanged, and that the run list stays as it was (empty
 * unless an earlier submission was wrongly accepted — compared to before, so
 * one wrong acceptance does not fail every later check; the last test checks
 * the list is empty).
 */
async function refused(
  t: Test,
  target: FastifyInstance,
  send: () => Promise<{ statusCode: number; json(): unknown; body: string }>,
  expect: Expect,
): Promise<void> {
  const dir = target.ferry.config.workDir;
  const listRuns = async () => ((await call(t, target, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: { run_id: string }[] }).runs;
  const runsBefore = await listRuns();
  const known = new Set(runsBefore.map((r) => r.run_id));
  const before = withoutRuns(await snapshot(dir), known);
  const res = await send();
  const statuses = Array.isArray(expect.status) ? expect.status : [expect.status];
  t.ok(statuses.includes(res.statusCode), `status ${statuses.join(' or ')}, got ${res.statusCode}: ${res.body}`);
  if (res.statusCode >= 400) {
    const body = res.json() as { msg: string; status_code: number };
    t.same(Object.keys(body).sort(), ['msg', 'status_code'], 'WES error body');
    t.equal(body.status_code, res.statusCode);
    if (typeof expect.msg === 'string') t.equal(body.msg, expect.msg);
    else if (expect.msg) t.match(body.msg, expect.msg);
  }
  t.same(withoutRuns(await snapshot(dir), known), before, 'the work folder is unchanged');
  const staging = await listTree(path.join(dir, '.staging'));
  t.same(staging, [], 'nothing is left in .staging');
  t.same((await listRuns()).map((r) => r.run_id), [...known], 'no run is listed');
}

const post = (t: Test, target: FastifyInstance, fields: Record<string, string>, files: FilePart[] = []) => () => submit(t, target, fields, files);

t.test('missing and unresolvable workflow_url', async (t) => {
  await refused(t, app, post(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0' }, [echoFile]), {
    status: 400,
    msg: "Missing 'workflow_url' in submission",
  });
  await refused(t, app, post(t, app, { ...base, workflow_url: '  ' }, [echoFile]), { status: 400, msg: "Missing 'workflow_url' in submission" });
  await refused(t, app, post(t, app, base), { status: 400, msg: "Relative 'workflow_url' but missing 'workflow_attachment'" });
  await refused(t, app, post(t, app, { ...base, workflow_url: 'other.cwl' }, [echoFile]), { status: 400, msg: /other\.cwl/ });
  await refused(t, app, post(t, app, { ...base, workflow_url: '../echo.cwl' }, [echoFile]), { status: 400 });
});

t.test('workflow_type and workflow_type_version', async (t) => {
  await refused(t, app, post(t, app, { ...base, workflow_type: 'foo' }, [echoFile]), { status: 400, msg: "workflow_type 'foo' is not supported." });
  await refused(t, app, post(t, app, { ...base, workflow_type: 'WDL', workflow_type_version: 'v1.0' }, [echoFile]), {
    status: 400,
    msg: "workflow_type 'wdl' requires 'workflow_type_version' to be one of '['draft-2', '1.0']'.  Got 'v1.0' instead.",
  });
  await refused(t, app, post(t, app, { ...base, workflow_type_version: 'v2.0' }, [echoFile]), {
    status: 400,
    msg: "workflow_type 'cwl' requires 'workflow_type_version' to be one of '['v1.0', 'v1.1', 'v1.2']'.  Got 'v2.0' instead.",
  });
  await refused(t, app, post(t, app, { ...base, workflow_type_version: '' }, [echoFile]), { status: 400, msg: /Got '' instead/ });
});

t.test('workflow_params must decode to a JSON object', async (t) => {
  const msg = "Got a 'workflow_params' which does not decode to a JSON object";
  for (const bad of ['[1,2]', '{', '"text"', '42', 'null']) {
    await refused(t, app, post(t, app, { ...base, workflow_params: bad }, [echoFile]), { status: 400, msg });
  }
});

t.test('tags must be an object of strings', async (t) => {
  for (const bad of ['{"a": 1}', '{"a": {"b": "c"}}', '["a"]', '"a"', '{', 'null']) {
    await refused(t, app, post(t, app, { ...base, tags: bad }, [echoFile]), { status: 400, msg: /tags/ });
  }
});

t.test('workflow_engine and workflow_engine_parameters', async (t) => {
  await refused(t, app, post(t, app, { ...base, workflow_engine: 'nextflow' }, [echoFile]), { status: 400, msg: /nextflow/ });
  const cases: [Record<string, unknown>, string | undefined][] = [
    // Options Ferry sets itself (--outdir, --jobStore on Toil…) are dropped, not refused: tests/api/real-clients.test.ts.
    [{ '--basedir': '/tmp/elsewhere' }, undefined],
    [{ '--cachedir': '/tmp/elsewhere' }, undefined],
    [{ '--logFile': '/tmp/log' }, 'toil'],
    [{ '--batchSystem': 'slurm' }, 'toil'],
    [{ '--jobStore': '/tmp/js' }, 'cwltool'],
    [{ '--frobnicate': null }, undefined],
    [{ '--frobnicate': null }, 'toil'],
    [{ '--outdir': '/tmp/x', '--preserve-entire-environment': null }, 'cwltool'],
    [{ '--retryCount': 'many' }, 'toil'],
    [{ 'not a flag': null }, undefined],
    [{ '--debug': ['a'] }, undefined],
  ];
  for (const [params, engine] of cases) {
    const flag = Object.keys(params).at(-1)!;
    await refused(
      t,
      app,
      post(t, app, { ...base, ...(engine ? { workflow_engine: engine } : {}), workflow_engine_parameters: JSON.stringify(params) }, [echoFile]),
      { status: 400, msg: new RegExp(flag.replace(/[-]/g, '\\-')) },
    );
  }
  await refused(t, app, post(t, app, { ...base, workflow_engine_parameters: '[]' }, [echoFile]), { status: 400, msg: /workflow_engine_parameters/ });
  await refused(t, app, post(t, app, { ...base, workflow_engine_parameters: '{' }, [echoFile]), { status: 400, msg: /workflow_engine_parameters/ });
  await refused(t, app, post(t, app, { ...base, workflow_engine_parameters: 'null' }, [echoFile]), { status: 400, msg: /workflow_engine_parameters/ });
});

t.test('attachment names that climb out, are absolute or hold odd characters', async (t) => {
  const parent = path.dirname(workDir);
  const passwdHash = await fs
    .readFile('/etc/passwd')
    .then((b) => createHash('sha256').update(b).digest('hex'))
    .catch(() => null);
  const names: string[] = [];
  const marker = () => {
    const m = `ferry-escape-${randomBytes(6).toString('hex')}`;
    names.push(m);
    return m;
  };
  const badNames = [
    '../../etc/passwd',
    '/etc/passwd',
    `../../../../${marker()}`,
    `../${marker()}`,
    `a/../../${marker()}`,
    `${path.join(parent, marker())}`,
    'a\\b',
    `a\\..\\..\\${marker()}`,
    'a\u0000b',
    'x/\u0000/y',
    'a\u001bb',
    '..',
    '.',
    './echo.cwl',
    '',
  ];
  for (const filename of badNames) {
    await t.test(`refuses ${JSON.stringify(filename)}`, async (t) => {
      // A good file first, so there is something to clean up.
      await refused(t, app, post(t, app, base, [echoFile, { filename, content: 'escaped!' }]), { status: 400 });
      await refused(t, app, post(t, app, { ...base, workflow_url: 'main.cwl' }, [{ filename, content: echo }, { filename: 'main.cwl', content: echo }]), {
        status: 400,
      });
    });
  }
  // Nothing landed where a climbing name points.
  const candidates = new Set<string>();
  for (const m of names) {
    for (const dir of [workDir, parent, path.dirname(parent), '/', path.join(workDir, '.staging'), path.join(workDir, 'state_store'), '/etc']) {
      candidates.add(path.join(dir, m));
    }
  }
  for (const p of [path.join(workDir, 'etc'), path.join(workDir, '.staging', 'etc'), path.join(parent, 'etc'), path.join(workDir, 'b')]) candidates.add(p);
  for (const p of candidates) {
    t.equal(await fs.stat(p).then(() => true, () => false), false, `nothing at ${p}`);
  }
  if (passwdHash) {
    t.equal(createHash('sha256').update(await fs.readFile('/etc/passwd')).digest('hex'), passwdHash, '/etc/passwd is untouched');
  }
});

t.test('attachments that clash', async (t) => {
  // The same name twice with the same bytes is one file (toil-wes-cwl-runner does that: tests/api/real-clients.test.ts).
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'echo.cwl', content: 'second' }]), {
    status: 400,
    msg: "workflow_attachment 'echo.cwl' is attached more than once, with different contents.",
  });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'echo.cwl', content: Buffer.concat([echo, Buffer.from('\n')]) }]), { status: 400, msg: /different contents/ });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'echo.cwl', content: echo.subarray(0, -1) }]), { status: 400, msg: /different contents/ });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'echo.cwl', content: '' }]), { status: 400, msg: /different contents/ });
  await refused(t, app, post(t, app, base, [echoFile, { filename: './echo.cwl', content: echo }]), { status: 400, msg: /may not contain '\.'/ });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'x/y.txt', content: 'a' }, { filename: 'x//y.txt', content: 'b' }]), { status: 400, msg: /'x\/y\.txt' is attached more than once/ });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'a//echo.cwl', content: 'x' }, { filename: 'a/echo.cwl', content: 'y' }]), {
    status: 400,
  });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'd', content: 'x' }, { filename: 'd/e', content: 'y' }]), { status: 400 });
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'd/e', content: 'y' }, { filename: 'd', content: 'x' }]), { status: 400 });
});

t.test('size and count limits', async (t) => {
  const big = Buffer.alloc(MAX_BYTES + 1, 'x');
  await refused(t, app, post(t, app, base, [echoFile, { filename: 'big.txt', content: big }]), { status: 413 });
  await refused(t, app, post(t, app, base, [{ filename: 'big.txt', content: Buffer.alloc(MAX_BYTES * 4, 'y') }, echoFile]), { status: 413 });
  const many: FilePart[] = [echoFile];
  for (let i = 0; i < MAX_FILES; i++) many.push({ filename: `f${i}.txt`, content: String(i) });
  await refused(t, app, post(t, app, base, many), { status: 413 });
});

t.test('file:// workflow_url', async (t) => {
  const url = pathToFileURL(echoPath).href;
  await refused(t, app, post(t, app, { ...base, workflow_url: url }), { status: 403, msg: /outside the folders/ });
  await refused(t, app, post(t, app, { ...base, workflow_url: 'file:///etc/passwd' }), { status: 403 });

  const root = await tempDir(t, 'ferry-root-');
  await fs.copyFile(echoPath, path.join(root, 'echo.cwl'));
  await fs.symlink(echoPath, path.join(root, 'link.cwl'));
  const rooted = await buildTestApp(t, { allowedFileRoots: [root], maxConcurrentRuns: 4 });
  await refused(t, rooted, post(t, rooted, { ...base, workflow_url: url }), { status: 403, msg: /outside the folders/ });
  await refused(t, rooted, post(t, rooted, { ...base, workflow_url: pathToFileURL(path.join(root, 'link.cwl')).href }), { status: 403 });
  await refused(t, rooted, post(t, rooted, { ...base, workflow_url: pathToFileURL(path.join(root, '..', 'x.cwl')).href }), { status: 403 });
  await refused(t, rooted, post(t, rooted, { ...base, workflow_url: pathToFileURL(path.join(root, 'missing.cwl')).href }), { status: 400 });

  const ok = await submit(t, rooted, { ...base, workflow_url: pathToFileURL(path.join(root, 'echo.cwl')).href, workflow_params: '{"message": "hi"}' });
  t.equal(ok.statusCode, 200, ok.body);
  const runId = (ok.json() as { run_id: string }).run_id;
  t.match(runId, /^run-[0-9a-f]{32}$/);
  const copied = path.join(rooted.ferry.config.workDir, runId, 'execution', 'echo.cwl');
  t.equal(await fs.readFile(copied, 'utf8'), echo.toString(), 'the workflow was copied into the run');
  t.notOk((await fs.lstat(copied)).isSymbolicLink(), 'copied, not linked');

  // Inputs under an allowed root are accepted, as a file:// URL or a bare path; others are not.
  const inRoot = path.join(root, 'echo.cwl');
  for (const f of [{ class: 'File', location: pathToFileURL(inRoot).href }, { class: 'File', path: inRoot }]) {
    const res = await submit(t, rooted, { ...base, workflow_params: JSON.stringify({ message: 'x', f }) }, [echoFile]);
    t.equal(res.statusCode, 200, `input ${JSON.stringify(f)} under an allowed root: ${res.body}`);
  }
  // (One whose name is that of an attachment would be read from the attachment: tests/api/real-clients.test.ts.)
  const notAttached = path.join(workflowsDir, 'echo', 'inputs.json');
  await refused(t, rooted, post(t, rooted, { ...base, workflow_params: JSON.stringify({ f: { class: 'File', path: notAttached } }) }, [echoFile]), {
    status: 403,
  });
});

t.test('input locations in workflow_params', async (t) => {
  const withInput = (location: string) =>
    post(t, app, { ...base, workflow_params: JSON.stringify({ message: 'x', f: { class: 'File', location } }) }, [echoFile]);
  await refused(t, app, withInput('file:///etc/passwd'), { status: 403 });
  await refused(t, app, post(t, app, { ...base, workflow_params: JSON.stringify({ d: [{ class: 'Directory', location: 'file:///etc' }] }) }, [echoFile]), {
    status: 403,
  });
  // A bare absolute path is a local file too: refused like its file:// URL.
  await refused(t, app, post(t, app, { ...base, workflow_params: JSON.stringify({ d: { nested: [{ class: 'File', path: '/etc/passwd' }] } }) }, [echoFile]), {
    status: 403,
  });
  await refused(t, app, withInput('data:text/plain,hello'), { status: 400 });
  await refused(t, app, withInput('gs://bucket/key'), { status: 400 });
  await refused(t, app, withInput('../../x'), { status: 400 });
  await refused(t, app, withInput('s3://b/k'), { status: 400 });
  await refused(t, app, withInput('ftp://example.org/x'), { status: 400 });
});

t.test('WDL File inputs are plain path strings, checked the same way', async (t) => {
  // A File and an Array[File] of the workflow, and a File input of its task (Toil reads `<workflow>.<task>.<input>` too).
  const wdlDir = path.join(workflowsDir, 'wdl-file-input');
  const wdlFiles: FilePart[] = [
    { filename: 'main.wdl', content: await fs.readFile(path.join(wdlDir, 'main.wdl')) },
    { filename: 'data/first.txt', content: await fs.readFile(path.join(wdlDir, 'data', 'first.txt')) },
  ];
  const wdl = (params: Record<string, unknown>, fields: Record<string, string> = {}, files = wdlFiles) =>
    post(t, app, { workflow_type: 'WDL', workflow_type_version: '1.0', workflow_url: 'main.wdl', workflow_params: JSON.stringify(params), ...fields }, files);
  const ok = { 'file_input.first': 'data/first.txt', 'file_input.rest': ['data/first.txt'] };
  await refused(t, app, wdl({ ...ok, 'file_input.first': '/etc/hostname' }), { status: 403, msg: "Input location '/etc/hostname' is outside the folders this server may read." });
  await refused(t, app, wdl({ ...ok, 'file_input.rest': ['data/first.txt', '/etc/hostname'] }), { status: 403, msg: /'\/etc\/hostname' is outside the folders/ });
  await refused(t, app, wdl({ ...ok, 'file_input.join.first': 'file:///etc/hostname' }), { status: 403 });
  await refused(t, app, wdl({ ...ok, 'file_input.first': '../../../etc/hostname' }), { status: 400, msg: /climbs out of the run/ });
  await refused(t, app, wdl({ ...ok, 'file_input.rest': ['gs://bucket/key'] }), { status: 400, msg: /scheme 'gs'/ });
  await refused(t, app, wdl({ ...ok, 'file_input.first': 'x" and "/etc/hostname' }), { status: 400, msg: /holds a quote or a backslash/ });
  // The workflow is staged before the inputs are checked: its own problems come first now.
  await refused(t, app, wdl({ ...ok, 'file_input.first': '/etc/hostname' }, {}, []), { status: 400, msg: "Relative 'workflow_url' but missing 'workflow_attachment'" });
});

t.test('workflow_url schemes that are not supported', async (t) => {
  await refused(t, app, post(t, app, { ...base, workflow_url: 's3://b/k' }), { status: 400 });
  await refused(t, app, post(t, app, { ...base, workflow_url: 'ftp://example.org/echo.cwl' }), { status: 400 });
  await refused(t, app, post(t, app, { ...base, workflow_url: 'gopher://example.org/echo.cwl' }, [echoFile]), { status: 400 });
});

t.test('http(s) workflow_url, url-encoded submissions', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/echo.cwl') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(echo);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not here');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const urlencoded = (target: FastifyInstance, fields: Record<string, string>) => () =>
    call(t, target, {
      method: 'POST',
      url: '/ga4gh/wes/v1/runs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form(fields),
    });
  const good = { ...base, workflow_url: `http://127.0.0.1:${port}/echo.cwl`, workflow_params: '{"message": "from the web"}' };

  // Loopback addresses are refused unless allowed.
  await refused(t, app, urlencoded(app, good), { status: 403, msg: /private or loopback/ });
  await refused(t, app, post(t, app, { ...base, workflow_url: `http://localhost:${port}/echo.cwl` }), { status: 403 });
  await refused(t, app, urlencoded(app, { ...base, workflow_params: '[1]', workflow_url: good.workflow_url }), { status: 400 });

  const open = await buildTestApp(t, { allowPrivateDownloads: true, maxConcurrentRuns: 4 });
  await refused(t, open, urlencoded(open, { ...good, workflow_url: `http://127.0.0.1:${port}/missing.cwl` }), { status: 400, msg: /404/ });
  await refused(t, open, urlencoded(open, { ...good, workflow_type: 'foo' }), { status: 400, msg: "workflow_type 'foo' is not supported." });

  const res = await urlencoded(open, good)();
  t.equal(res.statusCode, 200, res.body);
  const runId = (res.json() as { run_id: string }).run_id;
  const fetched = path.join(open.ferry.config.workDir, runId, 'execution', 'echo.cwl');
  t.equal(await fs.readFile(fetched, 'utf8'), echo.toString(), 'the workflow was downloaded into the run');
  const log = await call(t, open, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
  t.equal((log.json() as { request: { workflow_url: string } }).request.workflow_url, good.workflow_url);
});

t.test('workflow_type is matched case-insensitively', async (t) => {
  const fresh = await buildTestApp(t, { maxConcurrentRuns: 4 });
  for (const type of ['cwl', 'Cwl']) {
    const res = await submit(t, fresh, { ...base, workflow_type: type, workflow_params: '{"message": "x"}' }, [echoFile]);
    t.equal(res.statusCode, 200, `${type}: ${res.body}`);
  }
  const runs = await call(t, fresh, { method: 'GET', url: '/ga4gh/wes/v1/runs' });
  t.equal((runs.json() as { runs: unknown[] }).runs.length, 2);
});

t.test('after all the rejections the main app holds no run at all', async (t) => {
  const runs = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' });
  t.same((runs.json() as { runs: unknown[] }).runs, [], 'GET /runs is empty');
  const tree = await snapshot(workDir);
  t.notOk(
    tree.some((e) => /run-[0-9a-f]{32}/.test(e)),
    'no run folder and no state-store record',
  );
  t.same(await listTree(path.join(workDir, '.staging')), []);
});
