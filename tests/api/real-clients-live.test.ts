import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { buildTestApp, call, tempDir, workflowsDir } from '../helper.js';

// The real clients, unchanged, as subprocesses against Ferry listening on a
// real port: wes-client (common-workflow-language/workflow-service) and
// Toil's toil-wes-cwl-runner (Debian's toil), which imports wes-client too.
// wes-client is in no Debian or npm package: it is read from
// FERRY_WES_CLIENT_DIR, by default the copy in ../shared/third_party/wes-service
// beside the repository. Its Python dependencies are Debian's
// (python3-requests, python3-schema-salad, python3-yaml, python3-werkzeug; scripts/setup.sh).
// The exact requests each sends are checked in real-clients.test.ts.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const clientDir = process.env.FERRY_WES_CLIENT_DIR ?? path.join(repo, '..', 'shared', 'third_party', 'wes-service');
const PYTHON = '/usr/bin/python3';
const TOIL_WES = '/usr/bin/toil-wes-cwl-runner';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client to its end (at most 5 minutes) with Debian's Python and the client on PYTHONPATH. */
function run(cmd: string, args: string[], cwd: string): Promise<Ran> {
  const env = { ...process.env, PYTHONPATH: clientDir, PATH: `/usr/bin:/bin:${process.env.PATH ?? ''}` };
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Why the clients cannot run here, or null when they can. */
async function missing(): Promise<string | null> {
  if (!(await fs.stat(path.join(clientDir, 'wes_client', 'wes_client_main.py')).then(() => true, () => false))) {
    return `wes-client not found in ${clientDir} (set FERRY_WES_CLIENT_DIR to a copy of workflow-service)`;
  }
  if (!(await fs.access(TOIL_WES).then(() => true, () => false))) return `${TOIL_WES} is not installed (Debian's toil)`;
  const probe = await run(PYTHON, ['-c', 'import requests, schema_salad, yaml, ruamel.yaml, wes_client.util'], repo);
  return probe.code === 0 ? null : `Debian's Python cannot import the clients' modules: ${probe.stderr.trim().split('\n').pop() ?? ''}`;
}

const why = await missing();
if (why !== null) {
  t.test('the real clients', { skip: why }, () => undefined);
} else {
  const sha1 = (text: string): string => `sha1$${createHash('sha1').update(text).digest('hex')}`;
  const app = await buildTestApp(t, { maxConcurrentRuns: 3 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const host = `127.0.0.1:${port}`;

  /** A client's folder: copies of fixture folders side by side, as a user has them. */
  const folder = async (t: Test, ...fixtures: string[]): Promise<string> => {
    const dir = await tempDir(t, 'ferry-client-');
    for (const f of fixtures) await fs.cp(path.join(workflowsDir, f), dir, { recursive: true });
    return dir;
  };
  const outputsOf = (t: Test, ran: Ran): Record<string, { basename: string; size: number; checksum: string }> => {
    try {
      return JSON.parse(ran.stdout) as Record<string, { basename: string; size: number; checksum: string }>;
    } catch {
      t.fail(`no output object on stdout: ${ran.stdout}\n${ran.stderr}`);
      return {};
    }
  };
  const systemLogs = async (t: Test, runId: string): Promise<string[]> =>
    ((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as { run_log: { system_logs?: string[] } }).run_log.system_logs ?? [];
  const wesClient = (args: string[], cwd: string): Promise<Ran> => run(PYTHON, ['-m', 'wes_client.wes_client_main', `--host=${host}`, '--proto=http', ...args], cwd);
  const toilWes = (args: string[], cwd: string): Promise<Ran> => run(TOIL_WES, [`--wes_endpoint=http://${host}`, ...args], cwd);

  const UPPER = { basename: 'upper.txt', size: 26, checksum: sha1('ALPHA\nBRAVO\nCHARLIE\nDELTA\n') };
  const COUNT = { basename: 'count.txt', size: 2, checksum: sha1('4\n') };

  t.test('wes-client: --info, a run with attachments to COMPLETE, --list', async (t) => {
    const dir = await folder(t, 'two-step');
    const info = await wesClient(['--info'], dir);
    t.equal(info.code, 0, info.stderr);
    t.match(JSON.parse(info.stdout), { workflow_type_versions: { CWL: {} } }, 'service-info');

    // Every input becomes file://<dir>/data/words.txt, a path of this "client machine" outside the server's folders.
    const ran = await wesClient(['--attachments=tools/upper.cwl,tools/count.cwl,data/words.txt', 'main.cwl', 'inputs.json'], dir);
    t.equal(ran.code, 0, `wes-client exits 0: ${ran.stderr}`);
    t.match(ran.stderr, /State is COMPLETE/);
    const outputs = outputsOf(t, ran);
    t.match(outputs, { upper_file: UPPER, count_file: COUNT }, 'it prints the outputs');
    const runId = /Workflow run id is (run-[0-9a-f]{32})/.exec(ran.stderr)?.[1] ?? '';
    t.match(await systemLogs(t, runId), [new RegExp(`'file://${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/data/words\\.txt' → 'data/words\\.txt'`)], 'the input was read from the attachment');

    const list = await wesClient(['--list'], dir);
    t.equal(list.code, 0, list.stderr);
    t.ok((JSON.parse(list.stdout) as { runs: { run_id: string }[] }).runs.some((r) => r.run_id === runId), 'the run is listed');
  });

  t.test('toil-wes-cwl-runner as cwltest runs it: a file attached twice, --outdir and --quiet', async (t) => {
    // count.cwl's default names data/words.txt and so does its job: the client attaches it twice.
    const dir = await folder(t, 'default-input');
    const elsewhere = await tempDir(t, 'ferry-cwltest-');
    const ran = await toilWes(['count.cwl', 'inputs.json', `--outdir=${elsewhere}`, '--quiet'], dir);
    t.equal(ran.code, 0, `exits with the run's exit code: ${ran.stderr}`);
    t.match(outputsOf(t, ran), { count: { basename: 'count.txt', size: 2, checksum: sha1('3\n') } });
    t.same(await fs.readdir(elsewhere), [], 'nothing was written to the client\'s --outdir');
  });

  t.test('toil-wes-cwl-runner: packed.cwl#main', async (t) => {
    const dir = await folder(t, 'two-step', 'packed');
    const ran = await toilWes(['packed.cwl#main', 'inputs.json'], dir);
    t.equal(ran.code, 0, ran.stderr);
    t.match(outputsOf(t, ran), { upper_file: UPPER, count_file: COUNT });
  });

  t.test('toil-wes-cwl-runner: colon:test.cwl', async (t) => {
    const dir = await folder(t, 'echo');
    await fs.rename(path.join(dir, 'echo.cwl'), path.join(dir, 'colon:test.cwl'));
    // As cwltest names it: an absolute path (a relative `colon:test.cwl` reads as a URL to the client itself).
    const ran = await toilWes([path.join(dir, 'colon:test.cwl'), 'inputs.json'], dir);
    t.equal(ran.code, 0, ran.stderr);
    t.match(outputsOf(t, ran), { output: { basename: 'output.txt', size: 12, checksum: sha1('hello ferry\n') } });
  });
}
