import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { attachFolder, buildTestApp, call, listTree, multipart, submit, waitForState, workflowsDir, type FilePart } from '../helper.js';

// The exact requests of the real WES clients Ferry serves unchanged, each to
// COMPLETE on a real engine: wes-client (workflow-service) sends every form
// field as a file part, upper-case `CWL`, and every input as an absolute
// file:// URL of the client's machine, the attached ones included;
// toil-wes-cwl-runner sends lower-case `cwl`, a file that the workflow and its
// inputs both name twice, cwltest's `--outdir`/`--quiet` in
// workflow_engine_parameters, `packed.cwl#main` and names such as
// `colon:test.cwl`. The clients themselves run in real-clients-live.test.ts.

interface RunLogBody {
  state: string;
  request: { workflow_engine_parameters?: Record<string, string>; workflow_params?: Record<string, unknown> };
  outputs: Record<string, { size: number; checksum?: string; basename: string }>;
  run_log: { exit_code?: number; cmd?: string[]; system_logs?: string[] };
  task_logs: unknown[];
}

const sha1 = (text: string): string => `sha1$${createHash('sha1').update(text).digest('hex')}`;
// What the two-step workflow makes of data/words.txt (alpha, bravo, charlie, delta).
const UPPER = { basename: 'upper.txt', size: 26, checksum: sha1('ALPHA\nBRAVO\nCHARLIE\nDELTA\n') };
const COUNT = { basename: 'count.txt', size: 2, checksum: sha1('4\n') };

const twoStep = await attachFolder(path.join(workflowsDir, 'two-step'));
const twoStepFile = (name: string): FilePart => twoStep.find((f) => f.filename === name)!;
/** Made by `cwltool --pack two-step/main.cwl`: the workflow `#main` and its tools `#upper.cwl`, `#count.cwl`. */
const packed: FilePart = { filename: 'packed.cwl', content: await fs.readFile(path.join(workflowsDir, 'packed', 'packed.cwl')) };
const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));

/** What the server logs, line by line, to look at the refusals. */
const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);
const app = await buildTestApp(t, { maxConcurrentRuns: 3, maxFieldBytes: 64 * 1024 }, { logger });
const workDir = app.ferry.config.workDir;

/**
 * A form as python-requests builds it from `files=[(name, value), …]`, as
 * wes-client sends it: a text value is a file part named by its field, with
 * that name as its filename; a file is `(filename, bytes)`.
 */
function requestsFiles(parts: [string, string | FilePart][]): { payload: Buffer; headers: Record<string, string> } {
  return multipart(
    {},
    parts.map(([field, value]) => (typeof value === 'string' ? { field, filename: field, content: value } : { field, filename: value.filename, content: value.content })),
  );
}

async function post(t: Test, form: { payload: Buffer; headers: Record<string, string> }): Promise<{ statusCode: number; body: string; json(): unknown }> {
  return call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', ...form });
}

async function runLog(t: Test, runId: string): Promise<RunLogBody> {
  return (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
}

/** Waits for the run and checks it ended COMPLETE with these outputs (by basename, size and checksum). */
async function completes(t: Test, runId: string, outputs: Record<string, { basename: string; size: number; checksum: string }>): Promise<RunLogBody> {
  const state = await waitForState(t, app, runId, undefined, 240_000);
  const log = await runLog(t, runId);
  t.equal(state, 'COMPLETE', `COMPLETE (system logs: ${JSON.stringify(log.run_log.system_logs)})`);
  t.equal(log.run_log.exit_code, 0);
  t.same(Object.keys(log.outputs).sort(), Object.keys(outputs).sort(), 'the outputs asked for, no more');
  for (const [key, want] of Object.entries(outputs)) t.match(log.outputs[key], want, `output ${key}`);
  return log;
}

function accepted(t: Test, res: { statusCode: number; body: string; json(): unknown }): string {
  t.equal(res.statusCode, 200, res.body);
  return (res.json() as { run_id: string }).run_id;
}

t.test('wes-client: fields as file parts, upper-case CWL, attached inputs named by the client\'s file:// URLs', async (t) => {
  // `wes-client --attachments=tools/upper.cwl,tools/count.cwl,data/words.txt main.cwl inputs.json`
  // run in /home/u/two-step: attachments relative to the workflow's folder, inputs absolute.
  const params = { words: { class: 'File', location: 'file:///home/u/two-step/data/words.txt' } };
  const res = await post(
    t,
    requestsFiles([
      ['workflow_params', JSON.stringify(params)],
      ['workflow_type', 'CWL'],
      ['workflow_type_version', 'v1.2'],
      ['workflow_attachment', twoStepFile('main.cwl')],
      ['workflow_url', 'main.cwl'],
      ['workflow_attachment', twoStepFile('tools/upper.cwl')],
      ['workflow_attachment', twoStepFile('data/words.txt')],
      ['workflow_attachment', twoStepFile('tools/count.cwl')],
    ]),
  );
  const runId = accepted(t, res);
  const log = await completes(t, runId, { upper_file: UPPER, count_file: COUNT });
  t.match(log.run_log.system_logs, [/taken from the attachments of the same name: 'file:\/\/\/home\/u\/two-step\/data\/words\.txt' → 'data\/words\.txt'\./]);
  t.same(log.request.workflow_params, params, 'the request is kept as sent');
  const inputs = JSON.parse(await fs.readFile(path.join(workDir, runId, 'execution', 'wes_inputs.json'), 'utf8')) as unknown;
  t.same(inputs, { words: { class: 'File', location: 'data/words.txt' } }, 'the engine reads the attachment');
  t.same((await listTree(path.join(workDir, runId, 'execution'))).filter((e) => !e.startsWith('.')), ['data', 'data/words.txt', 'main.cwl', 'tools', 'tools/count.cwl', 'tools/upper.cwl', 'wes_inputs.json']);
});

t.test('toil-wes-cwl-runner: lower-case cwl, a file attached twice, cwltest\'s --outdir and --quiet', async (t) => {
  const words = twoStepFile('data/words.txt');
  for (const engine of ['cwltool', 'toil'] as const) {
    await t.test(engine, async (t) => {
      const engineParams: Record<string, string | null> = { '--outdir': '/tmp/cwltest-elsewhere', '--quiet': null };
      if (engine === 'toil') Object.assign(engineParams, { '--jobStore': '/tmp/cwltest-jobstore', '--logDebug': null, '--disableCaching': null });
      const res = await submit(
        t,
        app,
        {
          workflow_url: 'main.cwl',
          workflow_params: JSON.stringify({ words: { class: 'File', location: 'data/words.txt' } }),
          workflow_type: 'cwl',
          workflow_type_version: 'v1.2',
          workflow_engine_parameters: JSON.stringify(engineParams),
          // (toil-wes-cwl-runner sends no workflow_engine: cwltool; Ferry's Toil is asked for here to check its options too.)
          ...(engine === 'toil' ? { workflow_engine: 'toil' } : {}),
        },
        // --print-deps names the tools and --print-input-deps the data; the workflow is added last.
        [twoStepFile('tools/upper.cwl'), twoStepFile('tools/count.cwl'), words, { ...words }, twoStepFile('main.cwl')],
      );
      const runId = accepted(t, res);
      const log = await completes(t, runId, { upper_file: UPPER, count_file: COUNT });
      const cmd = log.run_log.cmd ?? [];
      t.notOk(cmd.some((a) => a.includes('cwltest-')), 'the client\'s folders are not in the command');
      t.equal(cmd.filter((a) => a.startsWith('--outdir=')).length, 1, 'one --outdir: Ferry\'s');
      t.ok(cmd.includes(`--outdir=${path.join(workDir, runId, 'outputs')}`));
      t.same(log.request.workflow_engine_parameters, Object.fromEntries(Object.entries(engineParams).map(([k, v]) => [k, v ?? ''])), 'the request is kept as sent');
      const note = (log.run_log.system_logs ?? []).find((l) => l.startsWith('workflow_engine_parameters: '));
      if (engine === 'cwltool') {
        t.equal(note, "workflow_engine_parameters: Ferry sets these options itself and dropped the value given: '--outdir' (outputs go to the run's outputs folder), '--quiet' (Ferry reads cwltool's job lines (logged at INFO) for task logs).");
        t.notOk(cmd.includes('--quiet'));
        t.equal(log.task_logs.length, 2, 'task logs from cwltool\'s job lines, which --quiet would have hidden');
      } else {
        t.match(note, /dropped the value given: '--outdir' \(outputs go to the run's outputs folder\), '--jobStore' \(the job store stays in the run's folder\)\.$/);
        for (const flag of ['--quiet', '--logDebug', '--disableCaching']) t.ok(cmd.includes(flag), `${flag} reaches Toil`);
        t.equal(cmd.filter((a) => a.startsWith('--jobStore=')).length, 1, 'one --jobStore: Ferry\'s');
      }
      t.same(await fs.readdir(path.join(workDir, runId, 'execution', 'data')), ['words.txt'], 'the file attached twice is there once');
    });
  }
});

t.test('toil-wes-cwl-runner: packed.cwl#main, and a fragment naming another object of the document', async (t) => {
  const words = { class: 'File', location: 'data/words.txt' };
  const main = accepted(
    t,
    await submit(t, app, { workflow_url: 'packed.cwl#main', workflow_type: 'cwl', workflow_type_version: 'v1.2', workflow_params: JSON.stringify({ words }) }, [
      twoStepFile('data/words.txt'),
      packed,
    ]),
  );
  // The tool `#upper.cwl` alone, on Toil: only its output comes back, so the fragment reached the engine.
  const tool = accepted(
    t,
    await submit(t, app, { workflow_url: 'packed.cwl#upper.cwl', workflow_type: 'cwl', workflow_type_version: 'v1.2', workflow_engine: 'toil', workflow_params: JSON.stringify({ infile: words }) }, [
      twoStepFile('data/words.txt'),
      packed,
    ]),
  );
  const mainLog = await completes(t, main, { upper_file: UPPER, count_file: COUNT });
  t.equal(mainLog.run_log.cmd?.at(-2), path.join(workDir, main, 'execution', 'packed.cwl#main'), 'cwltool is given the fragment');
  const toolLog = await completes(t, tool, { upper: UPPER });
  t.equal(toolLog.run_log.cmd?.at(-2), path.join(workDir, tool, 'execution', 'packed.cwl#upper.cwl'), 'toil-cwl-runner is given the fragment');
});

t.test('a workflow_url that is exactly the name of an attachment is that attachment: colon:test.cwl', async (t) => {
  const runId = accepted(
    t,
    await submit(t, app, { workflow_url: 'colon:test.cwl', workflow_type: 'cwl', workflow_type_version: 'v1.0', workflow_params: JSON.stringify({ message: 'colon' }) }, [
      { filename: 'colon:test.cwl', content: echo },
    ]),
  );
  await completes(t, runId, { output: { basename: 'output.txt', size: 6, checksum: sha1('colon\n') } });
});

t.test('refusals leave nothing behind', async (t) => {
  const refuses = async (t: Test, send: () => Promise<{ statusCode: number; body: string; json(): unknown }>, status: number, msg: RegExp): Promise<void> => {
    const runsBefore = await listTree(workDir);
    const res = await send();
    t.equal(res.statusCode, status, res.body);
    t.match((res.json() as { msg: string }).msg, msg);
    t.same(await listTree(path.join(workDir, '.staging')), [], 'nothing staged is left');
    t.same((await listTree(workDir)).filter((e) => !runsBefore.includes(e) && !/(^|\/)\.locks(\/|$)/.test(e)), [], 'nothing new in the work folder');
  };
  const base = { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'main.cwl' };
  const files = [twoStepFile('main.cwl'), twoStepFile('tools/upper.cwl'), twoStepFile('tools/count.cwl')];

  await t.test('an input outside the allowed folders that is not attached stays a 403', async (t) => {
    const params = JSON.stringify({ words: { class: 'File', location: 'file:///home/u/two-step/data/words.txt' } });
    await refuses(t, () => submit(t, app, { ...base, workflow_params: params }, files), 403, /'file:\/\/\/home\/u\/two-step\/data\/words\.txt' is outside the folders/);
    // Matching is by whole trailing names: `swords.txt` is not `words.txt`.
    const near = JSON.stringify({ words: { class: 'File', location: 'file:///home/u/two-step/data/swords.txt' } });
    await refuses(t, () => submit(t, app, { ...base, workflow_params: near }, [...files, twoStepFile('data/words.txt')]), 403, /outside the folders/);
  });
  await t.test('one name, different contents: 400', async (t) => {
    const words = twoStepFile('data/words.txt');
    await refuses(t, () => submit(t, app, base, [...files, words, { filename: 'data/words.txt', content: 'other\n' }]), 400, /^workflow_attachment 'data\/words\.txt' is attached more than once, with different contents\.$/);
  });
  await t.test('fragments: only CWL, only ids, never on a bundle', async (t) => {
    await refuses(t, () => submit(t, app, { ...base, workflow_url: 'main.cwl#main wf' }, files), 400, /fragment that is not the id/);
    await refuses(t, () => submit(t, app, { ...base, workflow_url: 'other.cwl#main' }, files), 400, /'other\.cwl' names no attached file/);
    const wdl = { filename: 'main.wdl', content: await fs.readFile(path.join(workflowsDir, 'wdl-draft2', 'main.wdl')) };
    await refuses(t, () => submit(t, app, { workflow_type: 'WDL', workflow_type_version: 'draft-2', workflow_url: 'main.wdl#x' }, [wdl]), 400, /only a CWL workflow takes/);
  });
  await t.test('a field sent as a file part is held to the field size limit, and is never an attachment', async (t) => {
    const big = requestsFiles([['workflow_params', JSON.stringify({ pad: 'x'.repeat(70 * 1024) })], ['workflow_type', 'CWL'], ['workflow_type_version', 'v1.2'], ['workflow_url', 'main.cwl'], ...files.map((f): [string, FilePart] => ['workflow_attachment', f])]);
    await refuses(t, () => post(t, big), 413, /Form field 'workflow_params' is larger than 65536 bytes/);
    // A file part of another name is no attachment: the workflow it carries is not there.
    await refuses(t, () => submit(t, app, { ...base, workflow_url: 'echo.cwl' }, [...files, { field: 'attachment', filename: 'echo.cwl', content: echo }]), 400, /'echo\.cwl' names no attached file/);
  });
  await t.test('the server log gives the reason of a refusal in a field of its own', async (t) => {
    const refused = logLines.filter((l) => l.msg === 'request refused');
    t.ok(refused.length >= 7, `${refused.length} refusals logged`);
    t.ok(refused.some((l) => l.status === 400 && typeof l.reason === 'string' && /different contents/.test(l.reason)), 'status and reason');
    t.ok(logLines.every((l) => l.msg !== undefined && typeof l.msg === 'string'), 'every line keeps its message');
  });
});
