import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { readCwlOutputs } from '../../src/engines/cwl.js';
import { CwltoolEngine, CwltoolLogParser } from '../../src/engines/cwltool.js';
import type { EngineOption, RunContext } from '../../src/engines/engine.js';
import { checkOption, type OptionPolicy } from '../../src/engines/option-policy.js';
import { ToilCwlEngine } from '../../src/engines/toil/toil-cwl.js';
import { WesError } from '../../src/util/errors.js';
import { tempDir } from '../helper.js';

// cwltool's `--timestamps` are local time; run in a zone off UTC (with a half
// hour) so that a parser that ignored the zone, or applied it twice, shows.
process.env.TZ = 'Asia/Kolkata'; // UTC+05:30, no daylight saving

type Tap = Parameters<typeof tempDir>[0];

/** What cwltool 3.1 prints on stderr with `--timestamps`, verbatim. */
const UPPER = `[2026-11-29 06:35:38] INFO [workflow ] start
[2026-11-29 06:35:38] INFO [step upper] start
[2026-11-29 06:35:38] INFO [job upper] /tmp/mciwawx0$ tr \\
    a-z \\
    A-Z < /tmp/4afd/words.txt > /tmp/mciwawx0/upper.txt
[2026-11-29 06:35:38] INFO [job upper] completed success
[2026-11-29 06:35:38] INFO [step upper] completed success
`;
const FAIL = `[2026-11-29 06:35:43] INFO [job fail.cwl] /tmp/83tovs24$ sh \\
    -c \\
    'echo '"'"'about to fail'"'"' 1>&2; exit 3'
about to fail
[2026-11-29 06:35:43] WARNING [job fail.cwl] exited with status: 3
[2026-11-29 06:35:43] WARNING [job fail.cwl] completed permanentFail
`;

async function logFile(t: Tap, content: string): Promise<string> {
  const dir = await tempDir(t, 'ferry-cwllog-');
  const file = path.join(dir, 'stderr');
  await fs.writeFile(file, content);
  return file;
}

t.test('local timestamps become WES UTC times', async (t) => {
  t.equal(new Date(2026, 10, 29, 6, 35, 38).toISOString(), '2026-11-29T01:05:38.000Z', 'the test runs in UTC+05:30');
});

t.test('task logs from a complete stderr', async (t) => {
  const file = await logFile(t, UPPER + FAIL);
  const tasks = await new CwltoolLogParser(file).update();
  t.equal(tasks.length, 2, 'one task per job; workflow and step lines are not tasks');
  const [upper, fail] = tasks;

  t.equal(upper!.id, '1');
  t.equal(upper!.name, 'upper');
  t.equal(upper!.exit_code, 0, 'success: exit 0');
  t.equal(upper!.start_time, '2026-11-29T01:05:38Z');
  t.equal(upper!.end_time, '2026-11-29T01:05:38Z');
  t.same(upper!.cmd!.slice(0, 2), ['tr', 'a-z'], 'one argument per continuation line, without the trailing backslash');
  t.match(upper!.cmd![2], /^A-Z\b/, 'the last argument');
  t.equal(upper!.cmd!.length, 3);
  t.notOk(upper!.cmd!.some((a) => a.endsWith('\\')), 'no continuation backslashes left');

  t.equal(fail!.id, '2');
  t.equal(fail!.name, 'fail.cwl');
  t.equal(fail!.exit_code, 3, 'the code from `exited with status`');
  t.equal(fail!.start_time, '2026-11-29T01:05:43Z');
  t.equal(fail!.end_time, '2026-11-29T01:05:43Z');
  t.equal(fail!.cmd!.length, 3, 'tool output after the command is not part of it');
  t.same(fail!.cmd!.slice(0, 2), ['sh', '-c']);
  for (const task of tasks) {
    t.match(task.start_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'YYYY-MM-DDTHH:MM:SSZ');
    t.match(task.end_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
});

t.test('cmd holds the arguments as run, not as shell-quoted text', async (t) => {
  // cwltool quotes each argument for the shell when it logs it; the task log's
  // cmd is the argument vector, so the quoting must be undone.
  const file = await logFile(t, FAIL);
  const [fail] = await new CwltoolLogParser(file).update();
  t.same(fail!.cmd, ['sh', '-c', "echo 'about to fail' 1>&2; exit 3"]);
});

t.test('exit codes', async (t) => {
  const file = await logFile(
    t,
    `[2026-11-29 07:00:00] INFO [job a] /tmp/a$ true
[2026-11-29 07:00:01] WARNING [job a] completed permanentFail
[2026-11-29 07:00:02] INFO [job b] /tmp/b$ false
[2026-11-29 07:00:03] WARNING [job b] exited with status: 1
[2026-11-29 07:00:03] WARNING [job b] completed permanentFail
[2026-11-29 07:00:04] INFO [job c] /tmp/c$ x
[2026-11-29 07:00:05] WARNING [job c] exited with status: 0
[2026-11-29 07:00:05] WARNING [job c] completed permanentFail
[2026-11-29 07:00:06] INFO [job d] /tmp/d$ y
[2026-11-29 07:00:07] WARNING [job d] completed temporaryFail
[2026-11-29 07:00:08] INFO [job e] /tmp/e$ sleep \\
    100
[2026-11-29 07:00:09] INFO [job f] /tmp/f$ echo \\
    hi
[2026-11-29 07:00:10] INFO [job f] completed success
`,
  );
  const tasks = await new CwltoolLogParser(file).update();
  const byName = Object.fromEntries(tasks.map((task) => [task.name, task]));
  t.same(tasks.map((task) => task.id), ['1', '2', '3', '4', '5', '6'], 'ids in order of first appearance');
  t.equal(byName.a!.exit_code, 1, 'permanentFail without a status: 1');
  t.equal(byName.b!.exit_code, 1);
  t.equal(byName.c!.exit_code, 0, 'the reported status is kept even when 0');
  t.equal(byName.d!.exit_code, 1, 'temporaryFail: 1');
  t.equal(byName.e!.exit_code, undefined, 'still running: no exit code');
  t.equal(byName.e!.end_time, undefined, 'still running: no end time');
  t.same(byName.e!.cmd, ['sleep', '100']);
  t.equal(byName.f!.exit_code, 0);
  t.equal(byName.a!.start_time, '2026-11-29T01:30:00Z');
  t.equal(byName.a!.end_time, '2026-11-29T01:30:01Z');
  t.equal(byName.f!.start_time, '2026-11-29T01:30:09Z');
  t.equal(byName.f!.end_time, '2026-11-29T01:30:10Z');
});

t.test('incremental reading', async (t) => {
  const file = await logFile(t, '');
  const parser = new CwltoolLogParser(file);
  t.same(await parser.update(), [], 'empty log: no tasks');

  const lines = (UPPER + FAIL).split('\n');
  // Up to and including the first command line and one continuation.
  await fs.appendFile(file, lines.slice(0, 4).join('\n') + '\n');
  let tasks = await parser.update();
  t.equal(tasks.length, 1);
  t.same(tasks[0]!.cmd, ['tr', 'a-z'], 'the command so far');
  t.equal(tasks[0]!.exit_code, undefined);

  // The rest of the command, then a half-written line.
  await fs.appendFile(file, lines[4] + '\n' + '[2026-11-29 06:35:38] INFO [job upper] compl');
  tasks = await parser.update();
  t.equal(tasks[0]!.cmd!.length, 3, 'the continuation across reads joins the same command');
  t.equal(tasks[0]!.exit_code, undefined, 'a half-written line is not read');
  t.equal(tasks[0]!.end_time, undefined);
  t.same(await parser.update(), tasks, 'nothing new: same answer');

  await fs.appendFile(file, 'eted success\n');
  tasks = await parser.update();
  t.equal(tasks[0]!.exit_code, 0, 'completed once the line is');
  t.equal(tasks[0]!.end_time, '2026-11-29T01:05:38Z');

  // The failing job, its command line torn in the middle of an argument.
  const rest = lines.slice(6).join('\n');
  const cut = rest.indexOf('about to fail') - 10;
  await fs.appendFile(file, rest.slice(0, cut));
  tasks = await parser.update();
  t.equal(tasks.length, 2);
  t.same(tasks[1]!.cmd, ['sh', '-c'], 'only the complete lines of the command');
  await fs.appendFile(file, rest.slice(cut));
  tasks = await parser.update();
  t.equal(tasks[1]!.cmd!.length, 3);
  t.equal(tasks[1]!.exit_code, 3);

  // Returned objects are copies: changing them changes nothing inside.
  tasks[0]!.name = 'changed';
  t.equal((await parser.update())[0]!.name, 'upper');

  // The whole log in one go gives the same answer.
  t.same(await new CwltoolLogParser(file).update(), await parser.update(), 'incremental = all at once');
});

t.test('a truncated or replaced log starts over', async (t) => {
  const file = await logFile(t, UPPER + FAIL);
  const parser = new CwltoolLogParser(file);
  t.equal((await parser.update()).length, 2);

  await fs.truncate(file, 0);
  t.same(await parser.update(), [], 'truncated: no tasks');
  await fs.writeFile(file, FAIL);
  let tasks = await parser.update();
  t.equal(tasks.length, 1);
  t.equal(tasks[0]!.name, 'fail.cwl');
  t.equal(tasks[0]!.id, '1', 'ids start again');

  // Rewritten shorter without an empty read in between.
  await fs.writeFile(file, '[2026-11-29 08:00:00] INFO [job z] /tmp/z$ true\n');
  tasks = await parser.update();
  t.same(tasks.map((x) => [x.id, x.name]), [['1', 'z']]);

  // Replaced by another file (rename), even if longer.
  const other = `${file}.new`;
  await fs.writeFile(other, UPPER + FAIL + '\n\n');
  await fs.rename(other, file);
  tasks = await parser.update();
  t.same(tasks.map((x) => x.name), ['upper', 'fail.cwl']);

  await fs.rm(file);
  t.same(await new CwltoolLogParser(file).update(), [], 'no log yet: no tasks');
});

t.test('CwltoolEngine.taskLogs follows the run\'s stderr', async (t) => {
  const file = await logFile(t, UPPER);
  const engine = new CwltoolEngine();
  const ctx = { runId: 'run-0123456789abcdef0123456789abcdef', stderrPath: file } as RunContext;
  t.equal((await engine.taskLogs(ctx)).length, 1);
  await fs.appendFile(file, FAIL);
  const tasks = await engine.taskLogs(ctx);
  t.same(tasks.map((x) => [x.id, x.name, x.exit_code]), [['1', 'upper', 0], ['2', 'fail.cwl', 3]]);
});

// ---------------------------------------------------------------- option policies

function refused(t: Tap & Pick<import('tap').Test, 'ok' | 'equal' | 'match' | 'fail'>, fn: () => void, flag: string, label = flag): void {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.ok(err instanceof WesError, `${label}: WesError`);
    t.equal((err as WesError).statusCode, 400, `${label}: 400`);
    t.match((err as Error).message, `'${flag}'`, `${label}: the message names the flag`);
  }
}

const opt = (flag: string, value: string | null = null): EngineOption => ({ flag, value });

t.test('checkOption shapes', async (t) => {
  const policy: OptionPolicy = {
    allowed: { '--sw': 'switch', '--val': 'value', '--n': 'int', '--mem': 'amount', '--mode': ['fast', 'slow'] },
    owned: { '--place': 'the place is ours' },
    refused: { '--out': 'outputs stay in the run' },
  };
  const ok = (o: EngineOption): void => {
    t.equal(checkOption('eng', policy, o), null, `${o.flag}=${String(o.value)} accepted as given`);
  };
  const no = (o: EngineOption, label = `${o.flag}=${JSON.stringify(o.value)}`): void => refused(t, () => checkOption('eng', policy, o), o.flag, label);

  ok(opt('--sw'));
  ok(opt('--sw', ''));
  no(opt('--sw', 'yes'));
  no(opt('--sw', 'true'));

  ok(opt('--val', 'hello'));
  ok(opt('--val', 'a.b-c_d=e'));
  no(opt('--val'));
  no(opt('--val', ''));
  for (const bad of ['/etc/passwd', 'a/b', '..', '../x', 'x..y', '~', '~root', '~/x']) no(opt('--val', bad));
  for (const ctl of ['a\0b', 'a\nb', 'a\rb', 'a\tb', 'a\x1bb', 'a\x01b', 'a\x7fb', '\x1b[31mred']) {
    no(opt('--val', ctl), `--val with control character ${JSON.stringify(ctl)}`);
  }

  ok(opt('--n', '0'));
  ok(opt('--n', '42'));
  for (const bad of ['-1', '1.5', 'abc', '1e3', '', ' 1', '1 ', '0x10', '9999999999']) no(opt('--n', bad));
  no(opt('--n'));

  for (const good of ['2', '2G', '1.5', '512Mi', '2GB', '100KiB', '8gi']) ok(opt('--mem', good));
  for (const bad of ['2 G', '-2G', 'G', '2X', '1.', '.5', '2G;x']) no(opt('--mem', bad));

  ok(opt('--mode', 'fast'));
  ok(opt('--mode', 'slow'));
  for (const bad of ['FAST', 'medium', 'fast,slow', '']) no(opt('--mode', bad));
  no(opt('--mode'));

  no(opt('--out', 'x'));
  no(opt('--out'));
  try {
    checkOption('eng', policy, opt('--out', 'x'));
  } catch (err) {
    t.match((err as Error).message, /outputs stay in the run/, 'the refusal says why');
    t.match((err as Error).message, /eng/, 'and names the engine');
  }
  // Owned options are dropped whatever their value, with the reason; never refused.
  for (const value of [null, '', '/anywhere', '../x', 'a\nb']) t.equal(checkOption('eng', policy, opt('--place', value)), 'the place is ours', `--place=${JSON.stringify(value)} dropped`);
  no(opt('--unknown'));
  no(opt('--sw=1'), 'a flag with = in it is not the switch');
  no(opt('-sw'));
  no(opt('sw'));
  no(opt(''), 'empty flag');
});

t.test('cwltool options', async (t) => {
  const engine = new CwltoolEngine();
  const ok = (o: EngineOption): void => {
    t.equal(engine.checkUserOption(o), null, `${o.flag}=${String(o.value)} accepted as given`);
  };
  const no = (o: EngineOption): void => refused(t, () => engine.checkUserOption(o), o.flag, `${o.flag}=${String(o.value)}`);

  for (const sw of ['--parallel', '--debug', '--strict', '--no-container', '--relax-path-checks']) ok(opt(sw));
  no(opt('--parallel', '4'));
  ok(opt('--on-error', 'continue'));
  ok(opt('--on-error', 'stop'));
  no(opt('--on-error', 'kill'));
  ok(opt('--eval-timeout', '30'));
  no(opt('--eval-timeout', 'soon'));
  no(opt('--eval-timeout', '-1'));
  no(opt('--eval-timeout'));

  // What Ferry sets itself is dropped, with the reason (cwltest sends --outdir and --quiet on every run).
  for (const [flag, value, why] of [
    ['--outdir', '/tmp/elsewhere', /outputs folder/],
    ['--outdir', null, /outputs folder/],
    ['--tmpdir-prefix', '/tmp/x', /scratch folder/],
    ['--tmp-outdir-prefix', '/tmp/x', /scratch folder/],
    ['--timestamps', null, /timestamps/],
    ['--quiet', null, /job lines/],
    ['--enable-color', null, /colour/],
    ['--disable-color', null, /colour/],
  ] as const) {
    t.match(engine.checkUserOption(opt(flag, value)), why, `${flag}=${String(value)} dropped, saying why`);
  }
  for (const [flag, value] of [
    ['--basedir', '/'],
    ['--cachedir', '/tmp/cache'],
    ['--provenance', '/tmp/ro'],
    ['--overrides', '/etc/passwd'],
    ['--log-dir', '/tmp'],
    ['--preserve-entire-environment', null],
    ['--enable-ext', null],
    ['--print-dot', null],
    ['--pack', null],
    ['--docker', null],
  ] as const) {
    no(opt(flag, value));
  }
  for (const unknown of ['--out', '--outd', '--foo', '--tmpdir', '-o', '--rm-tmpdir', '--user-space-docker-cmd=x']) no(opt(unknown, 'x'));
});

t.test('toil options', async (t) => {
  const engine = new ToilCwlEngine();
  const ok = (o: EngineOption): void => {
    t.equal(engine.checkUserOption(o), null, `${o.flag}=${String(o.value)} accepted as given`);
  };
  const no = (o: EngineOption): void => refused(t, () => engine.checkUserOption(o), o.flag, `${o.flag}=${String(o.value)}`);

  ok(opt('--retryCount', '3'));
  no(opt('--retryCount', 'three'));
  ok(opt('--maxCores', '2'));
  ok(opt('--maxMemory', '2G'));
  ok(opt('--maxMemory', '1.5Gi'));
  ok(opt('--defaultDisk', '10G'));
  no(opt('--maxMemory', '2G; rm -rf /'));
  no(opt('--maxMemory', '/dev/shm'));
  ok(opt('--logLevel', 'INFO'));
  ok(opt('--logLevel', 'debug'));
  no(opt('--logLevel', 'LOUD'));
  ok(opt('--clean', 'never'));
  no(opt('--clean', 'sometimes'));
  ok(opt('--logDebug'));
  no(opt('--logDebug', 'yes'));
  ok(opt('--disableCaching'));
  ok(opt('--quiet'));

  for (const [flag, value, why] of [
    ['--jobStore', '/tmp/js', /job store/],
    ['--jobstore', '/tmp/js', /job store/],
    ['--workDir', '/tmp', /scratch/],
    ['--coordinationDir', '/tmp', /scratch/],
    ['--outdir', '/tmp', /outputs folder/],
    ['-o', '/tmp', /outputs folder/],
    ['--writeMessages', '/tmp/bus', /message log/],
    ['--tmpdir-prefix', '/tmp/x', /scratch/],
    ['--tmp-outdir-prefix', '/tmp/x', /scratch/],
  ] as const) {
    t.match(engine.checkUserOption(opt(flag, value)), why, `${flag}=${String(value)} dropped, saying why`);
  }
  for (const [flag, value] of [
    ['--logFile', '/tmp/log'],
    ['--batchSystem', 'slurm'],
    ['--restart', null],
    ['--setEnv', 'A=1'],
    ['-e', 'A=1'],
    ['--destBucket', 's3://x'],
    ['--enable-ext', null],
  ] as const) {
    no(opt(flag, value));
  }
  for (const unknown of ['--jobStoreX', '--job-store', '--parallel', '--maxJobs', '--foo']) no(opt(unknown, '1'));
});

// ---------------------------------------------------------------- CWL outputs

async function outputsCtx(t: Tap, stdout: string): Promise<RunContext> {
  const runDir = await tempDir(t, 'ferry-cwlout-');
  const outputsDir = path.join(runDir, 'outputs');
  await fs.mkdir(outputsDir);
  const stdoutPath = path.join(runDir, 'stdout');
  await fs.writeFile(stdoutPath, stdout);
  return { runDir, outputsDir, stdoutPath } as RunContext;
}

/** The context's outputs folder, known only once it exists: stdout is written through this. */
async function outputsFor(t: Tap, make: (outputsDir: string, runDir: string) => unknown, prefix = ''): Promise<{ ctx: RunContext; doc: unknown }> {
  const ctx = await outputsCtx(t, '');
  const doc = make(ctx.outputsDir, ctx.runDir);
  await fs.writeFile(ctx.stdoutPath, prefix + JSON.stringify(doc, null, 4) + '\n');
  return { ctx, doc };
}

const fileUrl = (p: string): string => pathToFileURL(p).href;

t.test('readCwlOutputs accepts outputs inside the outputs folder', async (t) => {
  const { ctx, doc } = await outputsFor(t, (out) => ({
    output: { class: 'File', location: fileUrl(path.join(out, 'output.txt')), basename: 'output.txt', size: 12, checksum: 'sha1$abc' },
    many: [
      { class: 'File', location: fileUrl(path.join(out, 'a b.txt')) },
      { class: 'File', location: fileUrl(path.join(out, 'sub', 'c.txt')), secondaryFiles: [{ class: 'File', location: fileUrl(path.join(out, 'sub', 'c.txt.idx')) }] },
    ],
    dir: { class: 'Directory', location: fileUrl(path.join(out, 'd')), listing: [{ class: 'File', location: fileUrl(path.join(out, 'd', 'e')) }] },
    number: 3,
    text: 'file:///etc/passwd',
    nothing: null,
    remote: { class: 'File', location: 'https://example.org/x' },
  }));
  const outcome = await readCwlOutputs(ctx);
  t.equal(outcome.failure, undefined, 'no failure');
  t.same(outcome.outputs, doc, 'the object as printed');
});

t.test('readCwlOutputs: an output whose name starts with two dots is inside', async (t) => {
  const { ctx, doc } = await outputsFor(t, (out) => ({
    o: { class: 'File', location: fileUrl(path.join(out, '..data')) },
    d: { class: 'Directory', location: fileUrl(path.join(out, '..d')), listing: [{ class: 'File', location: fileUrl(path.join(out, '..d', '..x')) }] },
  }));
  const outcome = await readCwlOutputs(ctx);
  t.equal(outcome.failure, undefined, 'no failure');
  t.same(outcome.outputs, doc);
});

t.test('readCwlOutputs: a file URL of another host is no output of the run', async (t) => {
  const { ctx } = await outputsFor(t, (out) => ({
    o: { class: 'File', location: fileUrl(path.join(out, 'o')) },
    elsewhere: { class: 'File', location: 'file://otherhost/etc/passwd' },
    broken: { class: 'File', location: 'file://%zz/x' },
  }));
  const outcome = await readCwlOutputs(ctx);
  t.match(outcome.failure, /outside the run's outputs folder: file:\/\/otherhost\/etc\/passwd, file:\/\/%zz\/x/, 'refused with a reason, not thrown');
  t.same(outcome.outputs, {});
});

t.test('readCwlOutputs tolerates tool noise before the object', async (t) => {
  const { ctx, doc } = await outputsFor(t, (out) => ({ o: { class: 'File', location: fileUrl(path.join(out, 'o')) } }), 'noise from a tool\n{not json}\n');
  const outcome = await readCwlOutputs(ctx);
  t.equal(outcome.failure, undefined);
  t.same(outcome.outputs, doc);
  const empty = await outputsCtx(t, '{}\n');
  t.same(await readCwlOutputs(empty), { outputs: {} }, 'an empty object is a valid (empty) result');
});

t.test('readCwlOutputs refuses outputs outside the outputs folder', async (t) => {
  const cases: Record<string, (out: string, run: string) => unknown> = {
    'absolute elsewhere': () => ({ o: { class: 'File', location: 'file:///etc/passwd' } }),
    'the run folder itself': (_out, run) => ({ o: { class: 'File', location: fileUrl(path.join(run, 'stdout')) } }),
    'a sibling with the same prefix': (out) => ({ o: { class: 'File', location: fileUrl(`${out}-evil/x`) } }),
    'dot-dot out of it': (out) => ({ o: { class: 'File', location: `${fileUrl(out)}/../stderr` } }),
    'encoded dot-dot': (out) => ({ o: { class: 'File', location: `${fileUrl(out)}/%2e%2e/stderr` } }),
    'a directory elsewhere': () => ({ o: { class: 'Directory', location: 'file:///tmp' } }),
    'nested in an array': (out) => ({ o: [{ class: 'File', location: fileUrl(path.join(out, 'fine')) }, { class: 'File', location: 'file:///etc/shadow' }] }),
    'a secondary file': (out) => ({ o: { class: 'File', location: fileUrl(path.join(out, 'f')), secondaryFiles: [{ class: 'File', location: 'file:///etc/hosts' }] } }),
    'a directory listing': (out) => ({ o: { class: 'Directory', location: fileUrl(path.join(out, 'd')), listing: [{ class: 'File', location: 'file:///root/.ssh/id_rsa' }] } }),
    'inside a record': () => ({ rec: { inner: { deeper: { class: 'File', location: 'file:///var/log/syslog' } } } }),
  };
  for (const [label, make] of Object.entries(cases)) {
    const { ctx } = await outputsFor(t, make);
    const outcome = await readCwlOutputs(ctx);
    t.type(outcome.failure, 'string', `${label}: refused`);
    t.match(outcome.failure, /outside the run's outputs folder/, `${label}: says why`);
    t.same(outcome.outputs, {}, `${label}: no outputs handed out`);
  }
  const { ctx } = await outputsFor(t, () => ({ o: { class: 'File', location: 'file:///etc/passwd' } }));
  t.match((await readCwlOutputs(ctx)).failure, 'file:///etc/passwd', 'the message names the location');
});

t.test('readCwlOutputs: stdout that is not an output object', async (t) => {
  for (const [label, stdout] of Object.entries({
    empty: '',
    'plain text': 'hello world\n',
    'broken JSON': '{"output": {"class": "File",\n',
    'a JSON array': '[1, 2, 3]\n',
    'a JSON string': '"text"\n',
    'JSON null': 'null\n',
    'a number': '42\n',
  })) {
    const ctx = await outputsCtx(t, stdout);
    const outcome = await readCwlOutputs(ctx);
    t.type(outcome.failure, 'string', `${label}: failure`);
    t.same(outcome.outputs, {}, `${label}: no outputs`);
  }
  const missing = await outputsCtx(t, '');
  await fs.rm(missing.stdoutPath);
  await t.rejects(readCwlOutputs(missing), { code: 'ENOENT' }, 'no stdout at all is an error of the task, not the engine');
});
