import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { CwltoolEngine } from '../../../src/engines/cwltool.js';
import type { RunContext } from '../../../src/engines/engine.js';
import { EngineRegistry } from '../../../src/engines/registry.js';
import { ToilCwlEngine } from '../../../src/engines/toil/toil-cwl.js';
import { adoptMessageLog, collectToilWdlOutputs, fileNames, ToilWdlEngine } from '../../../src/engines/toil/toil-wdl.js';
import { parseWdl } from '../../../src/engines/wdl/parser.js';
import { tokenizeWdl, WdlSyntaxError } from '../../../src/engines/wdl/tokenizer.js';
import { holdsFiles, parseWdlType, wdlTypeShape } from '../../../src/engines/wdl/types.js';
import { attachFolder, buildTestApp, call, submit, tempDir, waitForState, workflowsDir, outputPath } from '../../helper.js';

// WDL on Toil 5.9's legacy runner (`toil-wdl-runner`): the outline parser,
// output collection over a folder, and real runs through the app.

interface RunLogBody {
  state: string;
  outputs: Record<string, unknown>;
  run_log: { exit_code?: number; cmd?: string[]; system_logs?: string[] };
  task_logs: { id: string; name: string; exit_code?: number }[];
}
interface FileOut {
  location: string;
  basename: string;
  size: number;
  class: string;
}

const exprText = (tokens: { text: string }[]): string => tokens.map((tok) => tok.text).join(' ');

t.test('WDL outline parser', async (t) => {
  t.test('reads workflow and task outputs past comments, strings and command sections', async (t) => {
    const doc = parseWdl(`
      version 1.0
      # output { File fake = "comment" }  -- a comment is not a section
      struct Sample { String id  File reads }
      task write {
        input { String name = "a}b{c" }
        command <<<
          echo '}' "~{name}" > "~{name}.txt"   # braces and quotes in the shell
          awk '{ print }' x >>>
        output {
          File named = "~{name}.txt"
          File? maybe = "out/maybe.txt"
          Array[File] many = glob("part-*.csv")
          String note = "a } and a \\" in a string"
        }
        runtime { docker: "ubuntu:22.04" }
        meta { description: "a } in meta", tags: ["x", "{"] }
      }
      task old {
        command {
          echo \${"}"} > 'old file.txt'
        }
        output { File f = 'old file.txt'  Int n = 3 }
      }
      workflow wf {
        input { Array[String] names }
        scatter (n in names) { call write { input: name = n } }
        if (length(names) > 2) { call old as maybe_old }
        call old
        output {
          Array[File] named = write.named
          Map[String, File] m = {"k": old.f}
          File f = if defined(maybe_old.f) then maybe_old.f else old.f
          Int count = length(names) +
            1
          File? nothing = old.f
        }
      }
    `);
    t.equal(doc.version, '1.0');
    const wf = doc.workflow!;
    t.equal(wf.name, 'wf');
    t.same(wf.calls, [
      { task: 'write', alias: 'write', scattered: true, conditional: false },
      { task: 'old', alias: 'maybe_old', scattered: false, conditional: true },
      { task: 'old', alias: 'old', scattered: false, conditional: false },
    ]);
    t.same(
      wf.outputs!.map((o) => [o.type, o.name, exprText(o.expression)]),
      [
        ['Array[File]', 'named', 'write . named'],
        ['Map[String, File]', 'm', '{ "k" : old . f }'],
        ['File', 'f', 'if defined ( maybe_old . f ) then maybe_old . f else old . f'],
        ['Int', 'count', 'length ( names ) + 1'],
        ['File?', 'nothing', 'old . f'],
      ],
    );
    t.same(
      doc.tasks.get('write')!.outputs.map((o) => [o.type, o.name]),
      [['File', 'named'], ['File?', 'maybe'], ['Array[File]', 'many'], ['String', 'note']],
    );
    t.same(doc.tasks.get('old')!.outputs.map((o) => [o.type, o.name, exprText(o.expression)]), [['File', 'f', "'old file.txt'"], ['Int', 'n', '3']]);
    const note = doc.tasks.get('write')!.outputs[3]!.expression[0]!;
    t.same(note.parts, [{ text: 'a } and a " in a string' }], 'escapes decoded, braces kept');
    t.same(wf.declarations.map((d) => [d.type, d.name]), [['Array[String]', 'names']], "the workflow's input section");
    t.same(doc.tasks.get('write')!.declarations.map((d) => [d.type, d.name, exprText(d.expression)]), [['String', 'name', '"a}b{c"']]);
  });

  t.test('declarations: input sections, bodies, inside if and scatter; one right before a command', async (t) => {
    const doc = parseWdl(`
      workflow w {
        File a
        String s = "x"
        if (true) { File b = "b.txt" }
        scatter (i in [1]) { Array[File] c = [] }
        call t
      }
      task t {
        File in
        String greeting = "hi"
        command { cat \${in} }
        output { File o = stdout() }
      }
    `);
    t.same(doc.workflow!.declarations.map((d) => [d.type, d.name]), [['File', 'a'], ['String', 's'], ['File', 'b'], ['Array[File]', 'c']]);
    t.same(doc.tasks.get('t')!.declarations.map((d) => [d.type, d.name, exprText(d.expression)]), [['File', 'in', ''], ['String', 'greeting', '"hi"']]);
    t.same(doc.tasks.get('t')!.outputs.map((d) => d.name), ['o'], 'the output section is not a declaration');
    const v1 = parseWdl('version 1.0 task t { input { File f  Int n = 1 } Int m = n + 1 command <<< >>> }');
    t.same(v1.tasks.get('t')!.declarations.map((d) => d.name), ['f', 'n', 'm']);
  });

  t.test('draft-2: no version line, untyped call.output and call.* references', async (t) => {
    const doc = parseWdl(await fs.readFile(path.join(workflowsDir, 'wdl-draft2', 'main.wdl'), 'utf8'));
    t.equal(doc.version, 'draft-2');
    t.same(doc.workflow!.outputs!.map((o) => [o.type, o.name]), [[null, 'write_it.said']]);
    const star = parseWdl('workflow w { call t output { t.* } } task t { command { true } output { File a = "a" } }');
    t.same(star.workflow!.outputs!.map((o) => o.name), ['t.*']);
  });

  t.test('a placeholder may hold strings with braces and quotes', async (t) => {
    const [tok] = tokenizeWdl('"pre-~{if x then "}" else "{"}-${sep(",", xs)}.txt"');
    t.equal(tok!.kind, 'string');
    t.same(tok!.parts, [{ text: 'pre-' }, { placeholder: 'if x then "}" else "{"' }, { text: '-' }, { placeholder: 'sep(",", xs)' }, { text: '.txt' }]);
  });

  t.test('types as trees: parameters, + and ?', async (t) => {
    t.same(parseWdlType('Map[String, Array[File?]+]?'), {
      name: 'Map',
      params: [
        { name: 'String', params: [], optional: false, nonEmpty: false },
        { name: 'Array', params: [{ name: 'File', params: [], optional: true, nonEmpty: false }], optional: false, nonEmpty: true },
      ],
      optional: true,
      nonEmpty: false,
    });
    t.equal(parseWdlType('Array[File'), null);
    t.equal(parseWdlType('File File'), null);
    const holds = (text: string) => holdsFiles(parseWdlType(text)!);
    t.ok(holds('Pair[Int, Array[File]]') && holds('Map[File, Int]') && holds('Object') && holds('Sample'), 'Files somewhere, or members unknown');
    t.notOk(holds('Map[String, Array[Int]]?') || holds('Boolean'));
  });

  t.test('types: optional, arrays of File, other shapes', async (t) => {
    t.same(wdlTypeShape('File'), { kind: 'file', optional: false });
    t.same(wdlTypeShape('File?'), { kind: 'file', optional: true });
    t.same(wdlTypeShape('Array[File]+'), { kind: 'file-array', optional: false, nonEmpty: true, optionalElements: false });
    t.same(wdlTypeShape('Array[File?]?'), { kind: 'file-array', optional: true, nonEmpty: false, optionalElements: true });
    t.equal(wdlTypeShape('Pair[File, Int]').kind, 'other-files');
    t.equal(wdlTypeShape('Array[Array[File]]').kind, 'other-files');
    t.equal(wdlTypeShape('Array[String]').kind, 'value');
    t.equal(wdlTypeShape('Profile').kind, 'value', 'a struct named like a type is not File');
  });

  t.test('file names a task output gets in the runner\'s folder', async (t) => {
    const names = (expr: string) => fileNames(tokenizeWdl(expr));
    t.same(names('"dir/sub/x.txt"'), { kind: 'exact', names: ['x.txt'] });
    t.same(names('stdout()'), { kind: 'exact', names: ['stdout'] });
    t.same(names('["a.txt", "b/c.txt",]'), { kind: 'exact', names: ['a.txt', 'c.txt'] });
    const pattern = names('"out/~{sample}.~{ext}"');
    t.equal(pattern.kind, 'pattern');
    if (pattern.kind === 'pattern') {
      t.ok(pattern.pattern.test('s1.bam'));
      t.notOk(pattern.pattern.test('s1bam'));
    }
    const glob = names('glob("part-[0-9]*.csv")');
    t.ok(glob.kind === 'pattern' && glob.pattern.test('part-1x.csv') && !glob.pattern.test('part-x.csv'));
    t.same(names('read_string(stdout())'), { kind: 'unknown' });
  });

  t.test('syntax errors name the line', async (t) => {
    t.throws(() => parseWdl('version 1.0\nworkflow w {\n  output { File x = "unterminated }\n}'), WdlSyntaxError);
    t.throws(() => parseWdl('version 1.0\ntask t {\n  command <<< echo hi\n}'), { message: /unterminated command section \(line 3\)/ });
    t.throws(() => parseWdl('version 1.0\nworkflow w { output { File x = } }'), { message: /missing expression/ });
  });
});

t.test('collecting outputs from the runner\'s folder', async (t) => {
  const wdl = `
    version 1.0
    workflow wf {
      call a
      call b
      if (false) { call d as skipped }
      scatter (i in [1, 2]) { call a as many }
      call c
      output {
        File one = a.out
        File? maybe = b.maybe
        File? cond = skipped.out
        Array[File] parts = c.parts
        Array[File]+ needed = c.none
        Int n = a.n
      }
    }
    task a { command {} output { File out = "a.txt"  Int n = 1 } }
    task b { command {} output { File maybe = "b.txt" } }
    task c { command {} output { Array[File] parts = glob("part*.csv")  Array[File] none = glob("none*") } }
    task d { command {} output { File out = "d.txt" } }
  `;
  const doc = parseWdl(wdl);

  t.test('required, optional and array outputs; non-file outputs left out', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'a.txt'), 'A\n');
    await fs.writeFile(path.join(dir, 'part2.csv'), '2');
    await fs.writeFile(path.join(dir, 'part1.csv'), '1');
    await fs.writeFile(path.join(dir, 'toilwdl_compiled.py'), '');
    const single = parseWdl(wdl.replace(/scatter.*\n/, '').replace(/Array\[File\]\+ needed = c.none/, ''));
    const { outputs, failure } = await collectToilWdlOutputs(single, dir);
    t.equal(failure, undefined);
    const one = outputs.one as FileOut;
    t.same(one, { location: `file://${dir}/a.txt`, basename: 'a.txt', size: 2, class: 'File' });
    t.equal(outputs.maybe, null, 'a missing optional output is null, not a failure');
    t.equal(outputs.cond, null, 'the output of a call that did not run is null');
    t.same((outputs.parts as FileOut[]).map((f) => f.basename), ['part1.csv', 'part2.csv']);
    t.notOk('n' in outputs, 'Int outputs are not recorded by the runner');
  });

  t.test('a missing required output fails the run, naming it', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'a.txt'), 'A\n');
    const outcome = await collectToilWdlOutputs(parseWdl(wdl.replace(/scatter.*\n/, '')), dir);
    t.same(outcome.outputs, {});
    t.equal(outcome.failure, "WDL output 'wf.needed' was not produced.");
    await fs.rm(path.join(dir, 'a.txt'));
    t.match((await collectToilWdlOutputs(parseWdl(wdl.replace(/scatter.*\n/, '')), dir)).failure, /'wf\.one' was not produced.*'wf\.needed' was not produced/);
  });

  t.test('one file name written by two calls or by a scatter cannot be told apart', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'a.txt'), 'A\n');
    const outcome = await collectToilWdlOutputs(doc, dir);
    t.match(outcome.failure, /WDL output 'wf\.one' cannot be told apart: .*'a\.txt' is written by a\.out, many\.out/);
    const scattered = parseWdl('version 1.0 workflow w { scatter (i in [1]) { call a } output { Array[File] o = a.out } } task a { command {} output { File out = "a.txt" } }');
    t.match((await collectToilWdlOutputs(scattered, dir)).failure, /every shard of the scattered call 'a'/);
  });

  t.test('expressions and types the runner cannot give are reported', async (t) => {
    const dir = await tempDir(t);
    const odd = parseWdl(`version 1.0 workflow w { call a output {
      File picked = select_first([a.out])
      Pair[File, File] both = (a.out, a.out)
    } } task a { command {} output { File out = "a.txt" } }`);
    const { failure } = await collectToilWdlOutputs(odd, dir);
    t.match(failure, /'w\.picked' is not a call's output/);
    t.match(failure, /'w\.both' has type Pair\[File, File\]/);
  });

  t.test('draft-2: an untyped call.output reference takes the task output\'s type', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'said.txt'), 'draft two\n');
    const d2 = parseWdl(await fs.readFile(path.join(workflowsDir, 'wdl-draft2', 'main.wdl'), 'utf8'));
    const { outputs, failure } = await collectToilWdlOutputs(d2, dir);
    t.equal(failure, undefined);
    t.equal((outputs['write_it.said'] as FileOut).basename, 'said.txt');
    await fs.rm(path.join(dir, 'said.txt'));
    t.equal((await collectToilWdlOutputs(d2, dir)).failure, "WDL output 'd2.write_it.said' was not produced.");
  });

  t.test('Array[File?]: a missing element is null', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'x.txt'), 'x');
    const arr = parseWdl('version 1.0 workflow w { call a output { Array[File?] o = a.o } } task a { command {} output { Array[File?] o = ["x.txt", "y.txt"] } }');
    const { outputs, failure } = await collectToilWdlOutputs(arr, dir);
    t.equal(failure, undefined);
    t.same((outputs.o as (FileOut | null)[]).map((f) => f?.basename ?? null), ['x.txt', null]);
  });

  t.test('no output section: every exported file, by name', async (t) => {
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'x.txt'), 'x');
    const { outputs } = await collectToilWdlOutputs(parseWdl('version 1.0 workflow w { call a } task a { command {} output { File o = "x.txt" } }'), dir);
    t.same(Object.keys(outputs), ['x.txt']);
  });
});

t.test('engine: options, command, message log', async (t) => {
  const engine = new ToilWdlEngine();
  t.throws(() => engine.checkUserOption({ flag: '--retryCount', value: '2' }), { message: /--retryCount' cannot be set for toil: Toil 5\.9's WDL runner .* ignore it/ });
  t.match(engine.checkUserOption({ flag: '--jobStore', value: 'x' }), /job store/, 'the job store is Ferry\'s: a user\'s is dropped');
  t.throws(() => engine.checkUserOption({ flag: '--dev_mode', value: '1' }), { message: /only compiles/ });
  t.throws(() => engine.checkUserOption({ flag: '--nonsense', value: null }), { message: /not an option toil accepts/ });

  const dir = await tempDir(t);
  const ctx = {
    runId: 'run-0',
    runDir: dir,
    executionDir: path.join(dir, 'execution'),
    outputsDir: path.join(dir, 'outputs'),
    workflowPath: path.join(dir, 'execution', 'main.wdl'),
    inputsPath: path.join(dir, 'execution', 'wes_inputs.json'),
    stdoutPath: path.join(dir, 'stdout'),
    stderrPath: path.join(dir, 'stderr'),
    tmpDir: path.join(dir, 'tmp'),
    options: [{ flag: '--logLevel', value: 'INFO' }],
  } satisfies RunContext;
  const command = engine.buildCommand(ctx);
  t.same(command.argv, ['toil-wdl-runner', '--logLevel=INFO', `--jobStore=${path.join(dir, 'toil_job_store')}`, `--outdir=${ctx.outputsDir}`, ctx.workflowPath, ctx.inputsPath]);
  t.same(command.env, { TMPDIR: ctx.tmpDir, TOIL_WORKDIR: ctx.tmpDir, TOIL_COORDINATION_DIR: ctx.tmpDir });

  // The leader's mkstemp() log is found among other temp files and linked in.
  await fs.mkdir(ctx.tmpDir);
  t.equal(await adoptMessageLog(ctx), false);
  await fs.writeFile(path.join(ctx.tmpDir, 'tmpabcdefgh'), 'not a bus\n');
  await fs.writeFile(
    path.join(ctx.tmpDir, 'tmp_2345678'),
    'toil.bus.JobIssuedMessage\tJob\tkind-Job/instance-0\t0\ntoil.bus.JobIssuedMessage\tfooCls\tkind-fooCls/instance-1\t1\n',
  );
  t.equal(await adoptMessageLog(ctx), true);
  await fs.appendFile(path.join(ctx.tmpDir, 'tmp_2345678'), 'toil.bus.JobCompletedMessage\tfooCls\tkind-fooCls/instance-1\t0\n');
  await fs.rm(ctx.tmpDir, { recursive: true });
  const tasks = await engine.taskLogs(ctx);
  t.same(tasks.map((task) => [task.id, task.name, task.exit_code]), [['2', 'foo', 0]], 'the linked log outlives the scratch folder; only WDL tasks, `Cls` dropped');
});

t.test('input locations: the strings the runner reads as files', async (t) => {
  const engine = new ToilWdlEngine();
  const dir = await tempDir(t);
  const write = async (name: string, source: string): Promise<string> => {
    await fs.writeFile(path.join(dir, name), source);
    return path.join(dir, name);
  };
  const typed = await write('typed.wdl', `version 1.0
    workflow w {
      input {
        File f
        File? maybe
        Array[File]+ fs
        Array[Array[File]] nested
        Map[String, File] by_name
        Map[File, Int] by_file
        Pair[File, Int] pair
        Pair[Int, File]? other_pair
        Object obj
        Array[String] words
        String s
      }
      if (true) { File in_if = "a" }
      scatter (i in [1]) { File in_scatter = "b" }
      call t as aliased
    }
    task t {
      input { File tin  Int n }
      File private = "p"
      command <<< cat ~{tin} >>>
    }`);

  t.test('File positions of each type; other values and keys are not files', async (t) => {
    const locations = await engine.inputLocations({
      'w.f': '/etc/hostname',
      'w.maybe': null,
      'w.fs': ['a', 'file:///b'],
      'w.nested': [['c'], [], ['d']],
      'w.by_name': { k: 'e', j: 'f' },
      'w.by_file': { g: 1 },
      'w.pair': { left: 'h', right: 2 },
      'w.other_pair': { left: 3, right: 'i' },
      'w.obj': { x: 'j', y: [{ z: 'k' }] },
      'w.words': ['/not/a/file'],
      'w.s': '/not/a/file',
      'w.unknown': '/not/declared',
      f: '/no/workflow/prefix',
    }, typed);
    t.same(locations, ['/etc/hostname', 'a', 'file:///b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'x', 'j', 'y', 'z', 'k'], "an Object's member names too: its members are not known");
  });

  t.test('values not shaped like their type are not looked into (the runner refuses them before reading)', async (t) => {
    t.same(await engine.inputLocations({ 'w.fs': '/etc/hostname', 'w.f': ['/etc/hostname'], 'w.pair': ['/etc/hostname', 1], 'w.by_name': 'x' }, typed), []);
  });

  t.test("declarations in the body, in if and scatter blocks, and tasks' by task name and by alias", async (t) => {
    const locations = await engine.inputLocations({
      'w.in_if': '/1', 'w.in_scatter': '/2', 'w.t.tin': '/3', 'w.aliased.tin': '/4', 'w.t.private': '/5', 'w.t.n': '/6', 'w.aliased.private': '/7',
    }, typed);
    t.same(locations.sort(), ['/1', '/2', '/3', '/4', '/5', '/7']);
  });

  t.test('draft-2: every declaration is an input', async (t) => {
    const d2 = await write('d2.wdl', 'workflow d2 { File f  Array[File] more = []  call t } task t { File x  String s = "y"  command { cat ${x} } }');
    t.same(await engine.inputLocations({ 'd2.f': '/a', 'd2.more': ['/b'], 'd2.t.x': '/c', 'd2.t.s': '/d' }, d2), ['/a', '/b', '/c']);
  });

  t.test('a quote or backslash in a top-level string that may name a file is refused (400)', async (t) => {
    // The runner pastes `"<value>"` into Python: `x" and "/etc/hostname` would read /etc/hostname.
    for (const value of ['x" and "/etc/hostname', '\\x2fetc\\x2fhostname']) {
      await t.rejects(engine.inputLocations({ 'w.f': value }, typed), { statusCode: 400, message: /Input 'w\.f' holds a quote or a backslash/ });
    }
    await t.rejects(engine.inputLocations({ 'w.t.tin': 'a"b' }, typed), { statusCode: 400, message: /'w\.t\.tin' holds a quote/ });
    t.same(await engine.inputLocations({ 'w.s': 'say "hi"', 'w.fs': ['a"b'] }, typed), ['a"b'], 'other keys, and strings inside arrays (pasted with Python quoting), are left alone');
  });

  t.test('a workflow this reader cannot read: every string that may leave the attachments', async (t) => {
    const broken = await write('broken.wdl', 'version 1.0\nworkflow w {\n  input { File f = }\n}\n');
    const params = {
      'w.f': '/etc/hostname',
      'w.g': ['data/x.txt', '../../up', 'Note: a word', 'https://example.org/x', 'file:relative'],
      'w.m': { '/a/map/key': 1 },
      msg: 'hello',
    };
    const expected = ['/etc/hostname', '../../up', 'https://example.org/x', 'file:relative', '/a/map/key'];
    t.same(await engine.inputLocations(params, broken), expected);
    t.same(await engine.inputLocations(params, path.join(dir, 'missing.wdl')), expected, 'nor a missing one');
    t.same(await engine.inputLocations(params, await write('tasks-only.wdl', 'version 1.0 task t { command <<< >>> }')), expected, 'nor one with no workflow');
    await t.rejects(engine.inputLocations({ msg: 'say "hi"' }, broken), { statusCode: 400, message: /'msg' holds a quote/ }, 'any top-level string is held to the quoting rule');
  });

  t.test('inputs nested too deeply are refused (400)', async (t) => {
    let deep: unknown = ['x'];
    for (let i = 0; i < 70; i++) deep = { o: deep };
    await t.rejects(engine.inputLocations({ 'w.obj': deep }, typed), { statusCode: 400, message: "'workflow_params' is nested too deeply." });
  });
});

t.test('WDL runs on toil-wdl-runner', async (t) => {
  // A folder the server may read inputs from.
  const root = await tempDir(t, 'ferry-root-');
  const rootFile = path.join(root, 'third.txt');
  await fs.writeFile(rootFile, 'from an allowed folder\n');
  const app = await buildTestApp(
    t,
    { maxConcurrentRuns: 4, allowedFileRoots: [root] },
    { engines: new EngineRegistry([new CwltoolEngine(), new ToilCwlEngine(), new ToilWdlEngine()]) },
  );
  const start = async (folder: string, wdl: string, version: string, params?: string): Promise<string> => {
    const files = (await attachFolder(path.join(workflowsDir, folder))).filter((f) => f.filename === wdl);
    const res = await submit(t, app, {
      workflow_type: 'WDL',
      workflow_type_version: version,
      workflow_url: wdl,
      workflow_params: params ?? (await fs.readFile(path.join(workflowsDir, folder, 'inputs.json'), 'utf8')),
    }, files);
    t.equal(res.statusCode, 200, res.body);
    return (res.json() as { run_id: string }).run_id;
  };
  const runLog = async (runId: string): Promise<RunLogBody> =>
    (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` })).json() as RunLogBody;

  // Toil's runs are slow (20-30 s each here): start them all, then check each.
  const began = Date.now();
  const twoTask = await start('wdl-two-task', 'main.wdl', '1.0');
  const missingFile = await start('wdl-fail', 'missing-file.wdl', '1.0');
  const emptyGlob = await start('wdl-fail', 'empty-glob.wdl', '1.0');
  // File inputs as WDL names them, plain strings: an attachment, and a file in an allowed folder.
  const fileInputFiles = await attachFolder(path.join(workflowsDir, 'wdl-file-input'));
  const fileInputRun = (params: Record<string, unknown>) =>
    submit(t, app, { workflow_type: 'WDL', workflow_type_version: '1.0', workflow_url: 'main.wdl', workflow_params: JSON.stringify(params) }, fileInputFiles);
  const fileInputRes = await fileInputRun({ 'file_input.first': 'data/first.txt', 'file_input.rest': ['data/first.txt', rootFile] });
  t.equal(fileInputRes.statusCode, 200, fileInputRes.body);
  const fileInput = (fileInputRes.json() as { run_id: string }).run_id;

  t.test('a 1.0 workflow of two tasks passing a File reaches COMPLETE with both outputs', async (t) => {
    t.equal(await waitForState(t, app, twoTask, undefined, 300_000), 'COMPLETE');
    t.comment(`two-task done after ${Date.now() - began} ms`);
    const log = await runLog(twoTask);
    t.equal(log.run_log.exit_code, 0);
    t.equal(log.run_log.cmd?.[0], 'toil-wdl-runner');
    const outputsDir = path.join(app.ferry.config.workDir, twoTask, 'outputs');
    const lines = log.outputs.lines as FileOut;
    const loud = log.outputs.loud as FileOut;
    t.same(Object.keys(log.outputs).sort(), ['lines', 'loud']);
    t.equal(lines.class, 'File');
    t.equal(path.dirname(outputPath(app, lines.location)), outputsDir);
    t.equal(await fs.readFile(outputPath(app, lines.location), 'utf8'), 'hello wdl\nsecond line\n');
    t.equal(await fs.readFile(outputPath(app, loud.location), 'utf8'), 'HELLO WDL\nSECOND LINE\n');
    t.equal(loud.size, 'HELLO WDL\nSECOND LINE\n'.length);
    const names = log.task_logs.map((task) => task.name);
    t.same(names, ['write_lines', 'shout'], 'the WDL tasks, from the message log');
    t.ok(log.task_logs.every((task) => task.exit_code === 0), 'every job ended 0');
    await t.resolves(fs.access(path.join(app.ferry.config.workDir, twoTask, 'bus_messages')), 'the message log is kept in the run');
  });

  t.test('a task failing before writing its File output: the runner exits 1, EXECUTOR_ERROR', async (t) => {
    t.equal(await waitForState(t, app, missingFile, undefined, 300_000), 'EXECUTOR_ERROR');
    const log = await runLog(missingFile);
    t.equal(log.run_log.exit_code, 1);
    t.same(log.outputs, {});
    t.ok(log.run_log.system_logs?.some((line) => /toil exited with code 1/.test(line)), JSON.stringify(log.run_log.system_logs));
    t.ok(log.run_log.system_logs?.some((line) => /WDL output '.+' was not produced/.test(line)), 'the log names the missing output');
    t.ok(log.task_logs.some((task) => task.name === 'boom' && task.exit_code !== 0), 'the failed task is listed, though nobody asked during the run');
  });

  t.test('a failing task whose runner exits 0 anyway: EXECUTOR_ERROR naming the missing output', async (t) => {
    t.equal(await waitForState(t, app, emptyGlob, undefined, 300_000), 'EXECUTOR_ERROR');
    const log = await runLog(emptyGlob);
    t.equal(log.run_log.exit_code, 0, 'Toil 5.9 ignores the task\'s exit code');
    t.same(log.outputs, {});
    t.ok(log.run_log.system_logs?.includes("WDL output 'glob_wf.results' was not produced."), JSON.stringify(log.run_log.system_logs));
  });

  t.test('File inputs given as an attachment name and a path in an allowed folder are read', async (t) => {
    t.equal(await waitForState(t, app, fileInput, undefined, 300_000), 'COMPLETE');
    const joined = (await runLog(fileInput)).outputs.joined as FileOut;
    t.equal(await fs.readFile(outputPath(app, joined.location), 'utf8'), 'first line\nfirst line\nfrom an allowed folder\n');
    t.comment(`all four runs done after ${Date.now() - began} ms`);
  });

  t.test('a File input outside the allowed folders is refused (403) and nothing is created', async (t) => {
    const listRuns = async () => ((await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/runs' })).json() as { runs: { run_id: string }[] }).runs;
    const runsBefore = await listRuns();
    const foldersBefore = (await fs.readdir(app.ferry.config.workDir)).filter((e) => e.startsWith('run-')).sort();
    for (const params of [
      { 'file_input.first': '/etc/hostname', 'file_input.rest': [] },
      { 'file_input.first': 'data/first.txt', 'file_input.rest': ['data/first.txt', '/etc/hostname'] },
      { 'file_input.first': 'data/first.txt', 'file_input.rest': [], 'file_input.join.first': `file://${path.join(root, '..', 'elsewhere.txt')}` },
    ]) {
      const res = await fileInputRun(params);
      t.equal(res.statusCode, 403, res.body);
      t.match(res.json(), { status_code: 403, msg: /is outside the folders this server may read/ });
    }
    t.same(await listRuns(), runsBefore, 'no run is listed');
    t.same((await fs.readdir(app.ferry.config.workDir)).filter((e) => e.startsWith('run-')).sort(), foldersBefore, 'no run folder');
  });

});
