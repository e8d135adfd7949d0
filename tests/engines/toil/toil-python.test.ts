import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { CwltoolEngine } from '../../../src/engines/cwltool.js';
import type { EngineOption, RunContext } from '../../../src/engines/engine.js';
import { EngineRegistry } from '../../../src/engines/registry.js';
import { ToilCwlEngine } from '../../../src/engines/toil/toil-cwl.js';
import { filesIn, toilPythonPolicy, ToilPythonEngine } from '../../../src/engines/toil/toil-python.js';
import { attachFolder, buildTestApp, call, submit, tempDir, waitForState, workflowsDir, outputPath } from '../../helper.js';

// Toil Python workflows on Debian's Toil 5.9, through the real app.

const run = promisify(execFile);

interface RunLogBody {
  state: string;
  outputs: Record<string, { location: string; size: number; class: string }>;
  run_log: { exit_code?: number; cmd?: string[]; system_logs?: string[] };
  task_logs: { id: string; name: string; exit_code?: number }[];
}
interface TasksBody {
  task_logs: { id: string; name: string; exit_code?: number; start_time?: string; end_time?: string }[];
  next_page_token?: string;
}

/** An interpreter that runs but cannot import Toil: Debian's Python without site-packages. */
async function pythonWithoutToil(dir: string): Promise<string> {
  const file = path.join(dir, 'python-no-site');
  await fs.writeFile(file, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n', { mode: 0o755 });
  return file;
}

t.test('detect', async (t) => {
  t.test('finds Debian\'s python and the version it reports itself', async (t) => {
    const engine = await ToilPythonEngine.detect();
    t.ok(engine, 'an interpreter that imports toil was found');
    const { stdout } = await run('/usr/bin/python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
    t.same(engine!.workflowTypeVersions, [stdout.trim()]);
    t.equal(engine!.python.executable, '/usr/bin/python3');
    t.match(await engine!.detectVersion(), /^\d+\.\d+(\.\d+)?$/);
    t.equal(engine!.id, 'toil-python');
    t.equal(engine!.name, 'toil');
    t.equal(engine!.workflowType, 'PY');
  });

  t.test('skips interpreters that cannot import toil, then takes the first that can', async (t) => {
    const dir = await tempDir(t);
    const noSite = await pythonWithoutToil(dir);
    const garbage = path.join(dir, 'python-garbage');
    await fs.writeFile(garbage, '#!/bin/sh\necho "FERRY-TOIL-PYTHON {not json"\n', { mode: 0o755 });
    const started = Date.now();
    t.equal(await ToilPythonEngine.detect([path.join(dir, 'missing-python'), noSite, garbage, '/bin/false', 'no-such-python-on-path']), null);
    t.ok(Date.now() - started < 10_000, `gave up in ${Date.now() - started} ms`);
    const found = await ToilPythonEngine.detect([noSite, '/usr/bin/python3']);
    t.equal(found?.python.executable, '/usr/bin/python3');
  });

  t.test('the python first on PATH counts only if it can import toil', async (t) => {
    const canImport = await run('python3', ['-c', 'import toil']).then(() => true, () => false);
    const found = await ToilPythonEngine.detect(['python3']);
    if (canImport) t.ok(found && path.isAbsolute(found.python.executable), 'recorded by absolute path');
    else t.equal(found, null);
  });
});

t.test('command line and options', async (t) => {
  const engine = (await ToilPythonEngine.detect())!;
  const ctx: RunContext = {
    runId: 'run-x',
    runDir: '/w/run-x',
    executionDir: '/w/run-x/execution',
    outputsDir: '/w/run-x/outputs',
    workflowPath: '/w/run-x/execution/workflow.py',
    inputsPath: '/w/run-x/execution/wes_inputs.json',
    stdoutPath: '/w/run-x/stdout',
    stderrPath: '/w/run-x/stderr',
    tmpDir: '/w/run-x/tmp',
    options: [{ flag: '--defaultPreemptible', value: null }, { flag: '--clean', value: 'onError' }],
  };
  const cmd = engine.buildCommand(ctx);
  t.same(cmd.argv, [
    '/usr/bin/python3',
    '/w/run-x/execution/workflow.py',
    '--workDir=/w/run-x/tmp',
    '--clean=always',
    '--defaultPreemptible',
    '--clean=onError',
    '--writeMessages=/w/run-x/bus_messages',
    '/w/run-x/toil_job_store',
  ]);
  t.match(cmd.env, { WES_INPUTS: ctx.inputsPath, WES_OUTPUTS: ctx.outputsDir, TMPDIR: ctx.tmpDir });

  // Toil's own parser, not ours, says what it accepts: every allowed option must parse,
  // and the job store must still be the positional argument after them.
  const sample = (shape: unknown): string | null => (shape === 'switch' ? null : Array.isArray(shape) ? String(shape[0]) : '1');
  const options = Object.entries(toilPythonPolicy.allowed).map(([flag, shape]) => ({ flag, value: sample(shape) }));
  t.ok(options.length >= 20, `${options.length} options offered`);
  for (const o of options) t.doesNotThrow(() => engine.checkUserOption(o), o.flag);
  const argv = engine.buildCommand({ ...ctx, options }).argv.slice(2);
  const parse = 'import json, sys\nfrom toil.job import Job\no = Job.Runner.getDefaultArgumentParser().parse_args(sys.argv[1:])\nprint(json.dumps([o.jobStore, o.write_messages, o.workDir]))';
  const { stdout } = await run('/usr/bin/python3', ['-c', parse, ...argv], { cwd: '/' });
  t.same(JSON.parse(stdout.trim().split('\n').pop()!), ['/w/run-x/toil_job_store', '/w/run-x/bus_messages', '/w/run-x/tmp'], 'Toil 5.9 parses every allowed option');

  const refusal = (o: EngineOption): number | null => {
    try {
      engine.checkUserOption(o);
      return null;
    } catch (err) {
      return (err as { statusCode?: number }).statusCode ?? -1;
    }
  };
  t.equal(refusal({ flag: '--eval-timeout', value: '5' }), 400, 'CWL-only options are not offered');
  t.equal(refusal({ flag: '--no-container', value: null }), 400);
  // Where the job store, message log and scratch space go is Ferry's: a user's choice is dropped.
  for (const flag of ['--jobStore', '--writeMessages', '--workDir']) t.type(engine.checkUserOption({ flag, value: '/elsewhere' }), 'string', `${flag} dropped`);
  t.equal(refusal({ flag: '--batchSystem', value: 'slurm' }), 400);
});

t.test('outputs are the files in the outputs folder', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'outputs');
  await fs.mkdir(path.join(out, 'sub', 'deeper'), { recursive: true });
  await fs.writeFile(path.join(out, 'a.txt'), 'abc');
  await fs.writeFile(path.join(out, 'sub', 'deeper', 'b b.txt'), 'hello');
  await fs.writeFile(path.join(dir, 'secret'), 'outside');
  await fs.symlink(path.join(dir, 'secret'), path.join(out, 'escape'));
  await fs.symlink('/etc', path.join(out, 'etc'));
  await fs.symlink('.', path.join(out, 'sub', 'loop'));
  await fs.symlink('a.txt', path.join(out, 'alias'));
  await fs.symlink('missing', path.join(out, 'dangling'));
  const files = await filesIn(out);
  t.same(Object.keys(files), ['a.txt', 'alias', 'sub/deeper/b b.txt']);
  t.same(files['a.txt'], { location: `file://${out}/a.txt`, size: 3, class: 'File' });
  t.equal(fileURLToPath(files['sub/deeper/b b.txt']!.location), path.join(out, 'sub', 'deeper', 'b b.txt'));
  t.equal(files['sub/deeper/b b.txt']!.size, 5);
  t.same(await filesIn(path.join(dir, 'none')), {}, 'no outputs folder, no outputs');
});

t.test('Toil Python runs through the app', async (t) => {
  const python = await ToilPythonEngine.detect();
  if (!python) return t.fail('no python can import toil');
  const version = python.workflowTypeVersions[0]!;
  // Inline runner: the engines handed in here drive the runs (a detached
  // supervisor builds the default registry of its own).
  const app = await buildTestApp(t, { maxConcurrentRuns: 4 }, { engines: new EngineRegistry([new CwltoolEngine(), new ToilCwlEngine(), python]) });

  t.test('service-info offers PY with the detected version', async (t) => {
    const info = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as {
      workflow_type_versions: Record<string, { workflow_type_version: string[] }>;
    };
    t.same(info.workflow_type_versions.PY?.workflow_type_version, [version]);
  });

  t.test('options the workflow\'s parser would reject are refused at submission', async (t) => {
    const res = await submit(t, app, {
      workflow_type: 'PY',
      workflow_type_version: version,
      workflow_url: 'workflow.py',
      workflow_engine_parameters: JSON.stringify({ '--no-container': null }),
    }, await attachFolder(path.join(workflowsDir, 'py-children')));
    t.equal(res.statusCode, 400, res.body);
    t.match((res.json() as { msg: string }).msg, /--no-container/);
  });

  t.test('root, two children and a follow-on reach COMPLETE with greeting.txt', async (t) => {
    const started = Date.now();
    const res = await submit(t, app, {
      workflow_type: 'PY',
      workflow_type_version: version,
      workflow_url: 'workflow.py',
      workflow_params: JSON.stringify({ name: 'ferry' }),
      workflow_engine_parameters: JSON.stringify({ '--logLevel': 'INFO' }),
    }, await attachFolder(path.join(workflowsDir, 'py-children')));
    t.equal(res.statusCode, 200, res.body);
    const runId = (res.json() as { run_id: string }).run_id;
    const state = await waitForState(t, app, runId);
    t.comment(`py-children: ${state} in ${Date.now() - started} ms`);
    const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
    t.equal(state, 'COMPLETE', JSON.stringify(log.run_log.system_logs));
    t.equal(log.run_log.exit_code, 0);
    const runDir = path.join(app.ferry.config.workDir, runId);
    t.same(log.run_log.cmd, [
      python.python.executable,
      path.join(runDir, 'execution', 'workflow.py'),
      `--workDir=${path.join(runDir, 'tmp')}`,
      '--clean=always',
      '--logLevel=INFO',
      `--writeMessages=${path.join(runDir, 'bus_messages')}`,
      path.join(runDir, 'toil_job_store'),
    ]);

    t.same(Object.keys(log.outputs), ['greeting.txt']);
    const greeting = log.outputs['greeting.txt']!;
    const file = outputPath(app, greeting.location);
    t.equal(file, path.join(runDir, 'outputs', 'greeting.txt'));
    t.equal(await fs.readFile(file, 'utf8'), 'Hello, ferry!\n');
    t.equal(greeting.size, Buffer.byteLength('Hello, ferry!\n'));
    t.equal(greeting.class, 'File');

    const tasks = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks` })).json() as TasksBody;
    t.ok(tasks.task_logs.length >= 4, `${tasks.task_logs.length} tasks`);
    t.same(tasks.task_logs.map((task) => task.name).sort(), ['addressee', 'root', 'salutation', 'write_greeting']);
    for (const task of tasks.task_logs) {
      t.equal(task.exit_code, 0, `${task.name} succeeded`);
      t.ok(task.start_time && task.end_time, `${task.name} has its times`);
    }
    t.equal(tasks.task_logs.at(-1)?.name, 'write_greeting', 'the follow-on ran last');
    const one = await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks/${encodeURIComponent(tasks.task_logs[0]!.id)}` });
    t.equal(one.statusCode, 200);
    t.same(log.task_logs.map((task) => task.name), tasks.task_logs.map((task) => task.name), 'run log and tasks agree');
    t.same(await fs.readdir(path.join(runDir, 'toil_job_store')).catch(() => []), [], 'the job store was cleaned');
  });

  t.test('a job that raises ends EXECUTOR_ERROR', async (t) => {
    const started = Date.now();
    const res = await submit(t, app, {
      workflow_type: 'py',
      workflow_type_version: version,
      workflow_url: 'workflow.py',
    }, await attachFolder(path.join(workflowsDir, 'py-fail')));
    t.equal(res.statusCode, 200, res.body);
    const runId = (res.json() as { run_id: string }).run_id;
    t.equal(await waitForState(t, app, runId), 'EXECUTOR_ERROR');
    t.comment(`py-fail: EXECUTOR_ERROR in ${Date.now() - started} ms`);
    const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;
    t.not(log.run_log.exit_code, 0);
    t.same(log.outputs, {});
    t.ok(log.task_logs.some((task) => task.name === 'explode' && task.exit_code !== undefined && task.exit_code !== 0), 'the failed job is in the task logs');
    const stderr = await fs.readFile(path.join(app.ferry.config.workDir, runId, 'stderr'), 'utf8');
    t.match(stderr, /this job fails on purpose/);
  });
});
