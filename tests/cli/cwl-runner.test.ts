import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { tempDir, workflowsDir } from '../helper.js';
import { ferry, listeningApp } from './cli-helper.js';

/**
 * `ferry cwl-runner` called as cwltest calls a runner (`TOOL --outdir=DIR
 * --quiet WORKFLOW JOB`, relative paths, from the tests' folder) prints the
 * same output object as cwltool run directly, its files downloaded into the
 * outdir; and exits as cwltool does.
 */

/** cwltool run directly: its output object. */
function cwltool(args: string[], cwd: string): Promise<unknown> {
  const child = spawn('cwltool', ['--no-container', '--quiet', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`cwltool exited ${code}: ${stderr}`)))),
  );
}

/**
 * An output object with its `location` and `path` made relative to the
 * outdir, and each File checked: there, of its size and checksum.
 */
async function relativeTo(t: Test, node: unknown, outdir: string): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => relativeTo(t, n, outdir)));
  if (typeof node !== 'object' || node === null) return node;
  const o = { ...(node as Record<string, unknown>) };
  for (const [k, v] of Object.entries(o)) o[k] = await relativeTo(t, v, outdir);
  if (typeof o.location === 'string' && o.location.startsWith('file://')) {
    const local = fileURLToPath(o.location);
    t.equal(o.path, local, `path and location name the same file: ${local}`);
    t.ok(local.startsWith(outdir + path.sep), `${local} is in the outdir`);
    if (o.class === 'File') {
      const bytes = await fs.readFile(local);
      t.equal(bytes.length, o.size, `${o.basename}: its size`);
      t.equal(`sha1$${createHash('sha1').update(bytes).digest('hex')}`, o.checksum, `${o.basename}: its checksum`);
    } else t.ok((await fs.stat(local)).isDirectory(), `${o.basename} is a folder`);
    o.location = path.relative(outdir, local);
    o.path = path.relative(outdir, local);
  }
  return o;
}

const cases: { name: string; dir: string; args: string[]; random?: string[] }[] = [
  { name: 'echo', dir: 'echo', args: ['echo.cwl', 'inputs.json'] },
  { name: 'a two-step workflow with its tools and inputs in sub-folders', dir: 'two-step', args: ['main.cwl', 'inputs.json'] },
  // blob.bin is random bytes: its checksum differs from run to run (it is still checked against the downloaded file).
  { name: 'a Directory output and secondaryFiles, names with spaces and #', dir: 'outputs-mix', args: ['mix.cwl'], random: ['blob'] },
  { name: 'inputs in a sibling folder: a secondary file found by pattern, a Directory in and out', dir: 'cli-layout', args: ['wf/main.cwl', 'wf/inputs.yaml'] },
];

t.test('cwl-runner prints what cwltool prints, the files downloaded into --outdir', async (t) => {
  const { url } = await listeningApp(t);
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const cwd = path.join(workflowsDir, c.dir);
      const direct = await tempDir(t);
      const viaFerry = await tempDir(t);
      const expected = await cwltool(['--outdir', direct, ...c.args], cwd);
      const res = await ferry(['cwl-runner', `--outdir=${viaFerry}`, '--quiet', ...c.args], { cwd, env: { FERRY_URL: url } });
      t.equal(res.code, 0, res.stderr);
      t.equal(res.stderr, '', '--quiet: nothing on stderr');
      const got = JSON.parse(res.stdout) as Record<string, unknown>;
      const want = (await relativeTo(t, expected, direct)) as Record<string, Record<string, unknown>>;
      const ours = (await relativeTo(t, got, viaFerry)) as Record<string, Record<string, unknown>>;
      for (const key of c.random ?? []) {
        delete want[key]!.checksum;
        delete ours[key]!.checksum;
      }
      t.same(ours, want, 'the output object: classes, basenames, sizes, checksums, secondaryFiles, listings, layout');
      t.strictSame(Object.keys(ours).sort(), Object.keys(want).sort());
    });
  }
});

t.test('cwl-runner exits as cwltool: 1 when the workflow fails, 33 for an unsupported requirement; status on stderr', async (t) => {
  const { url } = await listeningApp(t);
  const env = { FERRY_URL: url };
  const outdir = await tempDir(t);
  const failed = await ferry(['cwl-runner', '--outdir', outdir, path.join(workflowsDir, 'fail', 'fail.cwl')], { env });
  t.equal(failed.code, 1);
  t.equal(failed.stdout, '', 'no output object');
  t.match(failed.stderr, /^ferry: run run-[0-9a-f]+ submitted to /, 'status on stderr without --quiet');
  t.match(failed.stderr, /ferry: run run-[0-9a-f]+ ended EXECUTOR_ERROR \(ferry logs --stderr run-[0-9a-f]+\)\n$/);

  const dir = await tempDir(t);
  await fs.writeFile(
    path.join(dir, 'docker.cwl'),
    'cwlVersion: v1.2\nclass: CommandLineTool\nrequirements:\n  DockerRequirement:\n    dockerPull: debian:stable-slim\nbaseCommand: echo\ninputs: []\noutputs: []\n',
  );
  const unsupported = await ferry(['cwl-runner', `--outdir=${outdir}`, '--quiet', 'docker.cwl'], { cwd: dir, env });
  t.equal(unsupported.code, 33, 'the server runs without containers: cwltool says the feature is unsupported');
  t.match(unsupported.stderr, /the workflow uses a feature the engine does not support/);
  t.same(await fs.readdir(outdir), [], 'nothing downloaded');
});
