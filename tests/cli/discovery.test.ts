import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { runClientCommand } from '../../src/cli/main.js';
import { secondaryName } from '../../src/cli/cwl-deps.js';
import { wdlImports, wdlVersionOf } from '../../src/cli/wdl-deps.js';
import { tempDir } from '../helper.js';

/**
 * What `ferry submit` finds and attaches, read from its --dry-run in the
 * process (no server needed): CWL references of every kind, inputs named
 * every way, WDL imports, the common folder, and the errors.
 */

interface Plan {
  workflow_url: string;
  workflow_type: string;
  workflow_type_version: string;
  workflow_params: Record<string, unknown>;
  workflow_attachment: string[];
}

async function plan(args: string[]): Promise<{ code: number; plan?: Plan; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await runClientCommand('submit', [...args, '--dry-run', '--url', 'http://127.0.0.1:9'], { stdout, stderr, env: {} });
  return { code, stderr: err, ...(code === 0 ? { plan: JSON.parse(out) as Plan } : {}) };
}

/** Writes files under a folder: path → contents. */
async function files(dir: string, tree: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(tree)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
}

t.test('CWL: run:, $import, $include, $mixin, $schemas and File literals, followed; the rest left alone', async (t) => {
  const dir = await tempDir(t);
  await files(dir, {
    'project/wf/main.cwl': [
      'cwlVersion: v1.1',
      'class: Workflow',
      '$namespaces: {edam: "http://edamontology.org/"}',
      '$schemas: [schemas/edam.owl, "http://edamontology.org/EDAM_1.18.owl"]',
      'requirements:',
      '  - $import: req/requirements.yml',
      'inputs:',
      '  run: string',
      '  ref:',
      '    type: File',
      '    default: {class: File, location: defaults/ref.txt}',
      'outputs: []',
      'steps:',
      '  one: {run: tools/one.cwl, in: {}, out: []}',
      '  two: {run: {$import: tools/two.yml}, in: {}, out: []}',
      '  web: {run: "https://example.org/tool.cwl", in: {}, out: []}',
    ].join('\n'),
    'project/wf/schemas/edam.owl': '<owl/>',
    'project/wf/req/requirements.yml': 'class: SchemaDefRequirement\ntypes:\n  - $import: ../../types/record.yml\n',
    'project/types/record.yml': 'type: record\nname: R\nfields: []\n',
    'project/wf/defaults/ref.txt': 'ref',
    'project/wf/tools/one.cwl': 'class: CommandLineTool\ncwlVersion: v1.1\narguments: [{$include: ../scripts/one.sh}]\ninputs: []\noutputs: []\n$mixin: mixins/common.yml\n',
    'project/wf/scripts/one.sh': 'echo one',
    'project/wf/tools/mixins/common.yml': 'baseCommand: [sh, -c]\n',
    'project/wf/tools/two.yml': 'class: CommandLineTool\nrun: not-a-step.cwl\ninputs: []\noutputs: []\nbaseCommand: true\n',
    'project/unrelated.txt': 'not attached',
  });
  const res = await plan([path.join(dir, 'project/wf/main.cwl')]);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stderr, '');
  t.same(res.plan!.workflow_attachment, [
    'types/record.yml',
    'wf/defaults/ref.txt',
    'wf/main.cwl',
    'wf/req/requirements.yml',
    'wf/schemas/edam.owl',
    'wf/scripts/one.sh',
    'wf/tools/mixins/common.yml',
    'wf/tools/one.cwl',
    'wf/tools/two.yml',
  ]);
  t.equal(res.plan!.workflow_url, 'wf/main.cwl');
  t.equal(res.plan!.workflow_type_version, 'v1.1');

  await fs.writeFile(path.join(dir, 'project/wf/tools/one.cwl'), 'class: CommandLineTool\ncwlVersion: v1.1\narguments: [{$include: missing.sh}]\ninputs: []\noutputs: []\n');
  const missing = await plan([path.join(dir, 'project/wf/main.cwl')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^ferry submit: .*one\.cwl names missing\.sh \(\$include\): .*\/wf\/tools\/missing\.sh does not exist\n$/);

  await fs.writeFile(path.join(dir, 'project/wf/tools/one.cwl'), `class: CommandLineTool\ncwlVersion: v1.1\nbaseCommand: [sh, ${path.join(dir, 'abs.sh')}]\ninputs: []\noutputs: []\nhints: [{$import: ${path.join(dir, 'abs.yml')}}]\n`);
  const absolute = await plan([path.join(dir, 'project/wf/main.cwl')]);
  t.equal(absolute.code, 0, absolute.stderr);
  t.match(absolute.stderr, /^ferry: warning: .*one\.cwl names \/.*\/abs\.yml \(\$import\) by an absolute path: not attached/);
});

t.test('CWL packed: #main names the process; its secondary-file patterns are found beside the inputs', async (t) => {
  const dir = await tempDir(t);
  await files(dir, {
    'wf/packed.cwl': JSON.stringify({
      cwlVersion: 'v1.2',
      $graph: [
        { id: '#tool', class: 'CommandLineTool', inputs: [], outputs: [], baseCommand: 'true' },
        {
          id: '#main',
          class: 'Workflow',
          inputs: [
            { id: '#main/bam', type: 'File', secondaryFiles: ['^.bai', { pattern: '.md5', required: false }, '.missing?', '$(self.basename).x'] },
            { id: '#main/many', type: { type: 'array', items: 'File' }, secondaryFiles: '.idx' },
          ],
          outputs: [],
          steps: [{ id: '#main/s', run: '#tool', in: [], out: [] }],
        },
      ],
    }),
    'data/reads.bam': 'bam',
    'data/reads.bai': 'bai',
    'data/reads.bam.md5': 'md5',
    'data/a.txt': 'a',
    'data/a.txt.idx': 'a idx',
    'data/b.txt': 'b',
    'data/listed/x.txt': 'x',
    'data/listed/x.extra': 'explicit secondary',
    'data/folder/one': '1',
    'data/folder/deep/two': '2',
    'elsewhere/abs.txt': 'by absolute path',
    'jobs/job.yml': '',
  });
  await fs.writeFile(
    path.join(dir, 'jobs/job.yml'),
    [
      'bam: {class: File, path: ../data/reads.bam}',
      'many:',
      '  - {class: File, location: ../data/a.txt}',
      '  - {class: File, location: "../data/b.txt"}',
      `  - {class: File, location: "${pathToFileURL(path.join(dir, 'elsewhere/abs.txt')).href}"}`,
      '  - {class: File, location: "https://example.org/remote.txt"}',
      '  - {class: File, basename: literal.txt, contents: "inline"}',
      'other:',
      '  class: File',
      '  location: ../data/listed/x.txt',
      '  secondaryFiles: [{class: File, location: ../data/listed/x.extra}]',
      'folder: {class: Directory, location: ../data/folder}',
      'literal_dir: {class: Directory, basename: made, listing: [{class: File, location: ../data/a.txt}]}',
      'text: ../data/a.txt',
    ].join('\n'),
  );
  const res = await plan([`${path.join(dir, 'wf/packed.cwl')}#main`, path.join(dir, 'jobs/job.yml')]);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.plan!.workflow_url, 'wf/packed.cwl#main');
  t.equal(res.plan!.workflow_type_version, 'v1.2');
  t.same(res.plan!.workflow_attachment, [
    'data/a.txt',
    'data/a.txt.idx',
    'data/b.txt',
    'data/folder/deep/two',
    'data/folder/one',
    'data/listed/x.extra',
    'data/listed/x.txt',
    'data/reads.bai',
    'data/reads.bam',
    'data/reads.bam.md5',
    'elsewhere/abs.txt',
    'wf/packed.cwl',
  ]);
  t.match(res.stderr, /secondary file .*b\.txt\.idx \(\.idx\) not found/, 'a required secondary file missing: a warning, the engine decides');
  t.notMatch(res.stderr, /missing/, 'optional ones are not asked for');
  const params = res.plan!.workflow_params as Record<string, any>;
  t.same(params.bam, { class: 'File', location: 'data/reads.bam' }, 'path becomes a location of the attachment');
  t.same(
    params.many.map((f: { location?: string }) => f.location),
    ['data/a.txt', 'data/b.txt', 'elsewhere/abs.txt', 'https://example.org/remote.txt', undefined],
  );
  t.equal(params.many[4].contents, 'inline');
  t.same(params.other.secondaryFiles, [{ class: 'File', location: 'data/listed/x.extra' }]);
  t.equal(params.folder.location, 'data/folder');
  t.equal(params.literal_dir.listing[0].location, 'data/a.txt');
  t.equal(params.text, '../data/a.txt', 'a CWL string is a string');

  const gone = await plan([path.join(dir, 'wf/packed.cwl'), path.join(dir, 'jobs/nothere.yml')]);
  t.equal(gone.code, 1);
  t.match(gone.stderr, /the inputs file .*nothere\.yml does not exist/);
  await fs.writeFile(path.join(dir, 'jobs/bad.yml'), 'x: {class: File, location: ../data/nothere.txt}\n');
  const badInput = await plan([path.join(dir, 'wf/packed.cwl'), path.join(dir, 'jobs/bad.yml')]);
  t.equal(badInput.code, 1);
  t.match(badInput.stderr, /^ferry submit: input 'x': .*data\/nothere\.txt does not exist\n$/);
});

t.test('WDL: imports followed (comments and URLs skipped), the version read, input strings naming files attached', async (t) => {
  const dir = await tempDir(t);
  await files(dir, {
    'wdl/main.wdl': [
      'version 1.0',
      '# import "commented.wdl" as nope',
      'import "lib/tasks.wdl" as tasks',
      "import 'https://example.org/remote.wdl' as remote",
      'workflow w { input { File f } call tasks.t { input: f = f } }',
    ].join('\n'),
    'wdl/lib/tasks.wdl': 'version 1.0\nimport "../../common/util.wdl"   # a comment after\ntask t { input { File f } command <<< cat ~{f} >>> }\n',
    'common/util.wdl': 'version 1.0\ntask u { command <<< true >>> }\n',
    'inputs/in.json': '',
    'inputs/data.txt': 'data',
  });
  await fs.writeFile(path.join(dir, 'inputs/in.json'), JSON.stringify({ 'w.f': 'data.txt', 'w.name': 'hello', 'w.list': ['data.txt', 'nothing.txt'] }));
  const res = await plan([path.join(dir, 'wdl/main.wdl'), path.join(dir, 'inputs/in.json')]);
  t.equal(res.code, 0, res.stderr);
  t.same(res.plan!.workflow_attachment, ['common/util.wdl', 'inputs/data.txt', 'wdl/lib/tasks.wdl', 'wdl/main.wdl']);
  t.equal(res.plan!.workflow_type, 'WDL');
  t.equal(res.plan!.workflow_type_version, '1.0');
  t.same(res.plan!.workflow_params, { 'w.f': 'inputs/data.txt', 'w.name': 'hello', 'w.list': ['inputs/data.txt', 'nothing.txt'] });

  t.same(wdlImports('import "a.wdl"\n  import \'b.wdl\' as b\n# import "c.wdl"\nString s = "import \\"d.wdl\\""\n'), ['a.wdl', 'b.wdl']);
  t.equal(wdlVersionOf('# a comment\nworkflow w {}'), 'draft-2');
  t.equal(wdlVersionOf('# version 9\nversion 1.1\n'), '1.1');
});

t.test('--attach, the common folder, the type from the name, and secondary-file names', async (t) => {
  const dir = await tempDir(t);
  await files(dir, { 'a/echo.cwl': 'cwlVersion: v1.0\nclass: CommandLineTool\ninputs: []\noutputs: []\nbaseCommand: "true"\n', 'b/extra/one.txt': '1', 'b/extra/two/2.txt': '2', 'a/notes.txt': 'n' });
  const res = await plan([path.join(dir, 'a/echo.cwl'), '--attach', path.join(dir, 'b/extra'), '--attach', path.join(dir, 'a/notes.txt'), '--engine', 'toil', '--tag', 'k=v=w', '--engine-option=--parallel']);
  t.equal(res.code, 0, res.stderr);
  t.same(res.plan!.workflow_attachment, ['a/echo.cwl', 'a/notes.txt', 'b/extra/one.txt', 'b/extra/two/2.txt']);
  t.match(res.plan, { workflow_url: 'a/echo.cwl', workflow_type_version: 'v1.0', workflow_engine: 'toil', tags: { k: 'v=w' }, workflow_engine_parameters: { '--parallel': null } });
  const noType = await plan([path.join(dir, 'a/notes.txt')]);
  t.equal(noType.code, 1);
  t.match(noType.stderr, /cannot tell the workflow's type of '.*notes\.txt': name it \.cwl, \.wdl or \.py, or pass --type/);
  await files(dir, { 'a/packed.json': '{"cwlVersion": "v1.2", "$graph": []}', 'a/old.txt': '# draft-2\nworkflow w {\n}\n', 'a/odd#name.cwl': 'cwlVersion: v1.0\nclass: Workflow\n' });
  t.match((await plan([path.join(dir, 'a/packed.json')])).plan, { workflow_type: 'CWL', workflow_type_version: 'v1.2' }, 'CWL told by its text');
  t.match((await plan([path.join(dir, 'a/old.txt')])).plan, { workflow_type: 'WDL', workflow_type_version: 'draft-2' }, 'WDL told by its text');
  t.match((await plan([path.join(dir, 'a/odd#name.cwl')])).plan, { workflow_url: 'odd#name.cwl' }, 'a file named with a #: the whole name');
  t.equal(secondaryName('reads.bam', '^.bai'), 'reads.bai');
  t.equal(secondaryName('x.tar.gz', '^^.idx'), 'x.idx');
  t.equal(secondaryName('x.txt', '.idx?'), 'x.txt.idx');
});

t.test('secondary files of record fields; locations written as URIs; numbers kept as written', async (t) => {
  const dir = await tempDir(t);
  await files(dir, {
    'tool.cwl': [
      'cwlVersion: v1.2',
      'class: CommandLineTool',
      'baseCommand: "true"',
      'outputs: []',
      'inputs:',
      '  rec:',
      '    type:',
      '      - "null"',
      '      - type: record',
      '        fields:',
      '          one: {type: File, secondaryFiles: .s1}',
      '          many: {type: {type: array, items: File}, secondaryFiles: [.s2]}',
      '  plain: File',
    ].join('\n'),
    'd/A:1': 'a',
    'd/A:1.s1': 'a s1',
    'd/b #2': 'b',
    'd/b #2.s2': 'b s2',
    'd/c': 'c',
    'd/c.s1': 'not asked for',
  });
  const job = { rec: { one: { class: 'File', location: 'd/A%3A1' }, many: [{ class: 'File', path: 'd/b #2' }] }, plain: { class: 'File', location: 'd/c' } };
  await fs.writeFile(path.join(dir, 'job.json'), JSON.stringify(job).replace('}}', '}, "big": 4200000000000000000000000000000000000000000, "exact": 1.10}'));
  const res = await plan([path.join(dir, 'tool.cwl'), path.join(dir, 'job.json')]);
  t.equal(res.code, 0, res.stderr);
  t.same(res.plan!.workflow_attachment, ['d/A:1', 'd/A:1.s1', 'd/b #2', 'd/b #2.s2', 'd/c', 'tool.cwl']);
  const params = res.plan!.workflow_params as Record<string, any>;
  t.equal(params.rec.one.location, 'd/A%3A1', 'a colon encoded: not a scheme');
  t.equal(params.rec.many[0].location, 'd/b%20%232');

  // The --dry-run print keeps numbers too: read its text.
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  await runClientCommand('submit', [path.join(dir, 'tool.cwl'), path.join(dir, 'job.json'), '--dry-run', '--url', 'http://127.0.0.1:9'], { stdout, stderr: new PassThrough(), env: {} });
  t.match(out, /"big": 4200000000000000000000000000000000000000000,\n\s+"exact": 1\.10\n/, 'JSON inputs: as written');
  await fs.writeFile(path.join(dir, 'job.yaml'), 'big: 4200000000000000000000000000000000000000000\nsmall: 7\n');
  out = '';
  await runClientCommand('submit', [path.join(dir, 'tool.cwl'), path.join(dir, 'job.yaml'), '--dry-run', '--url', 'http://127.0.0.1:9'], { stdout, stderr: new PassThrough(), env: {} });
  t.match(out, /"big": 4200000000000000000000000000000000000000000,\n\s+"small": 7\n/, 'YAML integers: as written');
});
