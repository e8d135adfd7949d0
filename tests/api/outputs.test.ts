import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t from 'tap';
import type { Test } from 'tap';
import yauzl from 'yauzl';
import { buildTestApp, call, submit, waitForState, workflowsDir } from '../helper.js';

/**
 * Outputs over HTTP, from real runs: every File and Directory of the run log
 * located at an absolute URL under the run, fetched by that URL (Range,
 * HEAD, ETag), listed, zipped; no way out of the run's outputs folder.
 */

const sha1 = (b: Buffer): string => `sha1$${createHash('sha1').update(b).digest('hex')}`;
const BASE = 'http://localhost:80';
/** A client's address on another machine. */
const ELSEWHERE = '192.0.2.10';

interface FileOut { class: 'File'; location: string; basename: string; size: number; checksum?: string; path?: string; dirname?: string; secondaryFiles?: FileOut[] }
interface DirOut { class: 'Directory'; location: string; basename: string; listing: (FileOut | DirOut)[]; path?: string }

async function runMix(t: Test, app: FastifyInstance, engine = 'cwltool'): Promise<{ runId: string; outputs: Record<string, unknown>; body: string }> {
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'mix.cwl', workflow_engine: engine }, [
    { filename: 'mix.cwl', content: await fs.readFile(path.join(workflowsDir, 'outputs-mix', 'mix.cwl')) },
  ]);
  t.equal(res.statusCode, 200, res.body);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  // As a client elsewhere sees it (one on this machine gets local paths too: see below).
  const log = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, remoteAddress: ELSEWHERE });
  return { runId, outputs: (log.json() as { outputs: Record<string, unknown> }).outputs, body: log.body };
}

/** GET of an absolute link through the app (its path and query). */
function fetchLink(app: FastifyInstance, link: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<LightMyRequestResponse> {
  const u = new URL(link);
  return app.inject({ method, url: u.pathname + u.search, headers });
}

t.test('outputs over HTTP', async (t) => {
  const app = await buildTestApp(t);
  const { runId, outputs, body } = await runMix(t, app);
  const runDir = path.join(app.ferry.config.workDir, runId);
  const prefix = `${BASE}/ga4gh/wes/v1/runs/${runId}/outputs/`;

  t.test('the run log shows URLs, never server paths', async (t) => {
    t.notOk(JSON.stringify(outputs).includes(app.ferry.config.workDir), 'no path of the server anywhere in the outputs');
    const log = JSON.parse(body) as { run_log: { stdout: string; stderr: string }; task_logs_url: string };
    t.equal(log.run_log.stdout, `${BASE}/toil/wes/v1/logs/${runId}/stdout`);
    t.equal(log.run_log.stderr, `${BASE}/toil/wes/v1/logs/${runId}/stderr`);
    t.equal(log.task_logs_url, `${BASE}/ga4gh/wes/v1/runs/${runId}/tasks`);
    const main = outputs.main as FileOut;
    t.equal(main.location, `${prefix}main.txt`);
    t.same([main.class, main.basename, main.size, main.path, main.dirname], ['File', 'main.txt', 12, undefined, undefined]);
    t.equal(main.secondaryFiles?.[0]?.location, `${prefix}main.txt.idx`);
    t.equal((outputs.odd as FileOut).location, `${prefix}odd%20name%20%231.txt`);
    const folder = outputs.folder as DirOut;
    t.equal(folder.location, `${prefix}dir`);
    t.same(folder.listing.map((e) => e.location).sort(), [`${prefix}dir/a.txt`, `${prefix}dir/sub`]);
  });

  t.test('a client on this machine gets each output\'s local path too, as a local cwl-runner harness checks it', async (t) => {
    const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, remoteAddress: '127.0.0.1' })).json() as { outputs: { main: FileOut; folder: DirOut } };
    const main = log.outputs.main;
    t.equal(main.location, `${prefix}main.txt`, 'the URL all the same');
    t.equal(main.path, path.join(runDir, 'outputs', 'main.txt'));
    t.equal(main.secondaryFiles?.[0]?.path, path.join(runDir, 'outputs', 'main.txt.idx'));
    t.equal(log.outputs.folder.path, path.join(runDir, 'outputs', 'dir'));
    t.equal(await fs.readFile(main.path!, 'utf8'), 'main output\n');
  });

  t.test('each File fetched by its location matches its size and checksum', async (t) => {
    const files: FileOut[] = [];
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(collect);
      if (typeof v !== 'object' || v === null) return;
      if ((v as FileOut).class === 'File') files.push(v as FileOut);
      Object.values(v).forEach(collect);
    };
    collect(outputs);
    t.equal(files.length, 6, 'main, its index, blob, odd, and the two files of the folder');
    for (const f of files) {
      const res = await fetchLink(app, f.location);
      t.equal(res.statusCode, 200, f.basename);
      t.equal(res.headers['content-length'], String(f.size));
      t.equal(sha1(res.rawPayload), f.checksum, `${f.basename} matches its checksum`);
    }
  });

  t.test('Range, HEAD, ETag and Last-Modified', async (t) => {
    const link = (outputs.blob as FileOut).location;
    const whole = await fetchLink(app, link);
    const etag = String(whole.headers.etag);
    t.match(etag, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    t.ok(whole.headers['last-modified']);
    t.equal(whole.headers['content-type'], 'application/octet-stream');
    const head = await fetchLink(app, link, {}, 'HEAD');
    t.same([head.statusCode, head.headers['content-length'], head.headers.etag, head.rawPayload.length], [200, '300000', etag, 0]);
    const part = await fetchLink(app, link, { range: 'bytes=1000-1999' });
    t.same([part.statusCode, part.headers['content-range'], part.rawPayload.length], [206, 'bytes 1000-1999/300000', 1000]);
    t.ok(part.rawPayload.equals(whole.rawPayload.subarray(1000, 2000)));
    const tail = await fetchLink(app, link, { range: 'bytes=-10' });
    t.ok(tail.rawPayload.equals(whole.rawPayload.subarray(-10)));
    const past = await fetchLink(app, link, { range: 'bytes=300000-' });
    t.same([past.statusCode, past.headers['content-range'], (past.json() as { status_code: number }).status_code], [416, 'bytes */300000', 416]);
    t.equal((await fetchLink(app, link, { 'if-none-match': etag })).statusCode, 304);
    t.equal((await fetchLink(app, link, { 'if-none-match': '"other"' })).statusCode, 200);
  });

  t.test('a folder answers its listing', async (t) => {
    const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs/dir` });
    t.equal(res.statusCode, 200);
    const listing = res.json() as DirOut;
    t.same(
      { class: listing.class, basename: listing.basename, location: listing.location, listing: listing.listing },
      {
        class: 'Directory', basename: 'dir', location: `${prefix}dir`,
        listing: [
          { class: 'File', basename: 'a.txt', location: `${prefix}dir/a.txt`, size: 4 },
          { class: 'Directory', basename: 'sub', location: `${prefix}dir/sub` },
        ],
      },
    );
  });

  t.test('the files listed, paged', async (t) => {
    const seen: { path: string; size: number; checksum?: string; location: string }[] = [];
    let token = '';
    for (let pages = 0; pages < 10; pages++) {
      const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs?page_size=2${token ? `&page_token=${token}` : ''}` });
      const page = res.json() as { outputs: typeof seen; next_page_token: string };
      t.ok(page.outputs.length <= 2);
      seen.push(...page.outputs);
      token = page.next_page_token;
      if (!token) break;
    }
    t.same(seen.map((f) => f.path), ['blob.bin', 'dir/a.txt', 'dir/sub/b.txt', 'main.txt', 'main.txt.idx', 'odd name #1.txt']);
    t.equal(seen.find((f) => f.path === 'main.txt')?.checksum, (outputs.main as FileOut).checksum, 'checksums as the engine reported them');
    t.equal(seen.find((f) => f.path === 'dir/a.txt')?.location, `${prefix}dir/a.txt`);
    const bad = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs?page_token=nonsense!` });
    t.equal(bad.statusCode, 400);
  });

  t.test('the whole outputs folder as one zip', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs.zip` });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'application/zip');
    const entries = await unzip(res.rawPayload);
    t.same([...entries.keys()].sort(), ['blob.bin', 'dir/a.txt', 'dir/sub/b.txt', 'main.txt', 'main.txt.idx', 'odd name #1.txt']);
    t.equal(sha1(entries.get('blob.bin')!), (outputs.blob as FileOut).checksum);
  });

  t.test('nothing outside the run\'s outputs folder is reachable', async (t) => {
    const outputsDir = path.join(runDir, 'outputs');
    await fs.symlink('/etc/hostname', path.join(outputsDir, 'escape'));
    await fs.symlink(path.join(runDir, 'request.json'), path.join(outputsDir, 'request-link'));
    await fs.symlink('main.txt', path.join(outputsDir, 'inside-link'));
    for (const url of [
      // (A `..` or `.` segment, also as %2e, is resolved by the client's URL parser before it sends: these reach the server.)
      'escape', 'request-link', '%2e%2e/request.json', 'dir/..%2F..%2Frequest.json', 'dir/%2e%2e/%2e%2e/request.json',
      'dir//a.txt', 'nope', 'main.txt%00', '%2Fetc%2Fhostname', 'dir%2F..%2F..%2Frequest.json',
    ]) {
      const res = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs/${url}` });
      t.equal(res.statusCode, 404, url);
    }
    const inside = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs/inside-link` });
    t.equal(inside.body, 'main output\n', 'a link to a file inside is that file');
    const listed = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs?page_size=100` })).json() as { outputs: { path: string }[] };
    t.notOk(listed.outputs.some((o) => o.path === 'escape' || o.path === 'request-link'), 'links out are not listed');
    const zipped = await unzip((await app.inject({ method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/outputs.zip` })).rawPayload);
    t.notOk(zipped.has('escape') || zipped.has('request-link'), 'nor zipped');
    t.equal(zipped.get('inside-link')?.toString(), 'main output\n');
  });

  t.test('an unknown run: 404 on every outputs route', async (t) => {
    for (const url of ['outputs', 'outputs/main.txt', 'outputs.zip']) {
      t.equal((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/run-00000000000000000000000000000000/${url}` })).statusCode, 404, url);
    }
  });
});

t.test('links on the base clients reach the server at', async (t) => {
  t.test('--public-url', async (t) => {
    const app = await buildTestApp(t, { publicUrl: 'https://wes.example/ferry' });
    const { runId, outputs } = await runMix(t, app);
    t.equal((outputs.main as FileOut).location, `https://wes.example/ferry/ga4gh/wes/v1/runs/${runId}/outputs/main.txt`);
    const viaLocalProxy = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, remoteAddress: '127.0.0.1' })).json() as { outputs: { main: FileOut } };
    t.equal(viaLocalProxy.outputs.main.path, undefined, 'a loopback peer of a server with a public URL is a proxy: no local paths');
  });
  t.test('X-Forwarded-* only with --trust-proxy', async (t) => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'wes.example', 'x-forwarded-prefix': '/wes' };
    for (const trustProxy of [true, false]) {
      const app = await buildTestApp(t, { trustProxy });
      const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"hi"}' }, [
        { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
      ]);
      const runId = (res.json() as { run_id: string }).run_id;
      await waitForState(t, app, runId);
      const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, headers })).json() as { run_log: { stdout: string } };
      t.equal(log.run_log.stdout, `${trustProxy ? 'https://wes.example/wes' : BASE}/toil/wes/v1/logs/${runId}/stdout`, `trustProxy ${trustProxy}`);
    }
  });
});

t.test('a number no double holds comes back digit for digit', async (t) => {
  const app = await buildTestApp(t);
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'big.cwl' }, [
    { filename: 'big.cwl', content: await fs.readFile(path.join(workflowsDir, 'big-number', 'big.cwl')) },
  ]);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  const log = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
  t.match(log.body, /"big":4200000000000000000000000000000000000000000[,}]/);
  t.match(log.body, /"small":7[,}]/);
});

t.test('a number no double holds in workflow_params reaches the engine and the run log digit for digit', async (t) => {
  const app = await buildTestApp(t);
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message": "hi", "n": 4200000000000000000000000000000000000000001}' }, [
    { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
  ]);
  const runId = (res.json() as { run_id: string }).run_id;
  await waitForState(t, app, runId);
  const runDir = path.join(app.ferry.config.workDir, runId);
  t.match(await fs.readFile(path.join(runDir, 'execution', 'wes_inputs.json'), 'utf8'), /"n": 4200000000000000000000000000000000000000001\n/);
  t.match(await fs.readFile(path.join(runDir, 'request.json'), 'utf8'), /"n": 4200000000000000000000000000000000000000001\n/);
  const log = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
  t.match(log.body, /"workflow_params":\{"message":"hi","n":4200000000000000000000000000000000000000001\}/);
});

t.test('outputs of Toil\'s runners are URLs too', async (t) => {
  const app = await buildTestApp(t);
  t.test('toil-cwl-runner', async (t) => {
    // (Toil 5.9 cannot stage an output whose name holds a `#`: the echo tool here.)
    const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_engine: 'toil', workflow_params: '{"message":"from toil"}' }, [
      { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
    ]);
    const runId = (res.json() as { run_id: string }).run_id;
    t.equal(await waitForState(t, app, runId), 'COMPLETE');
    const out = ((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { outputs: { output: FileOut } }).outputs.output;
    t.equal(out.location, `${BASE}/ga4gh/wes/v1/runs/${runId}/outputs/output.txt`);
    t.equal((await fetchLink(app, out.location)).body, 'from toil\n');
  });
  t.test('toil-wdl-runner', async (t) => {
    const dir = path.join(workflowsDir, 'wdl-two-task');
    const res = await submit(t, app, { workflow_type: 'WDL', workflow_type_version: '1.0', workflow_url: 'main.wdl', workflow_params: await fs.readFile(path.join(dir, 'inputs.json'), 'utf8') }, [
      { filename: 'main.wdl', content: await fs.readFile(path.join(dir, 'main.wdl')) },
    ]);
    const runId = (res.json() as { run_id: string }).run_id;
    t.equal(await waitForState(t, app, runId), 'COMPLETE');
    const log = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
    const files: FileOut[] = [];
    JSON.parse(log.body, (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null && (v as FileOut).class === 'File') files.push(v as FileOut);
      return v;
    });
    t.ok(files.length > 0, 'the WDL run has File outputs');
    for (const f of files) {
      t.ok(f.location.startsWith(`${BASE}/ga4gh/wes/v1/runs/${runId}/outputs/`), f.location);
      const got = await fetchLink(app, f.location);
      t.same([got.statusCode, got.rawPayload.length], [200, f.size]);
    }
  });
});

function unzip(buffer: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
