import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { isZipBundle, openBundle, type BundleContents, type BundleLimits } from '../../src/backend/bundle.js';
import { defaultConfig, loadConfig, usage } from '../../src/config/config.js';
import { listTree, tempDir } from '../helper.js';
import { makeZip, type ZipEntrySpec, type ZipOptions } from '../fixtures/bundles/zip-writer.js';

// openBundle on zips built byte by byte: Toil's three layouts, and every way a
// hostile zip could try to write outside the run, hide a link, lie about its
// size or be corrupt.

const LIMITS: BundleLimits = { maxZipEntries: 100, maxZipBytes: 1024 * 1024 };
const CWL = 'cwlVersion: v1.0\nclass: CommandLineTool\nbaseCommand: echo\ninputs: []\noutputs: []\n';

interface Place {
  /** The temp folder holding the run folder; nothing but `execution/` may appear in it. */
  root: string;
  execDir: string;
  zipPath: string;
}

/** A fresh `<root>/execution/` with the zip written at `execution/<name>`. */
async function place(t: Test, zip: Buffer, name = 'workflow.zip'): Promise<Place> {
  const root = await tempDir(t, 'ferry-bundle-');
  const execDir = path.join(root, 'execution');
  await fs.mkdir(path.dirname(path.join(execDir, name)), { recursive: true });
  const zipPath = path.join(execDir, name);
  await fs.writeFile(zipPath, zip);
  return { root, execDir, zipPath };
}

async function open(t: Test, entries: ZipEntrySpec[], type = 'CWL', limits = LIMITS, opts: ZipOptions = {}): Promise<BundleContents & Place> {
  const p = await place(t, makeZip(entries, opts));
  const contents = await openBundle(p.zipPath, p.execDir, type, limits);
  return { ...contents, ...p };
}

/** Expects a refusal with `status` and a message matching `msg`, and nothing written outside `execution/`. */
async function refuses(t: Test, zip: Buffer | ZipEntrySpec[], status: number, msg: RegExp, limits = LIMITS, opts: ZipOptions = {}): Promise<void> {
  const p = await place(t, Buffer.isBuffer(zip) ? zip : makeZip(zip, opts));
  const err = await openBundle(p.zipPath, p.execDir, 'CWL', limits).then(
    () => null,
    (e: unknown) => e as { statusCode?: number; message: string },
  );
  t.ok(err, 'refused');
  if (!err) return;
  t.equal(err.statusCode, status, `status ${status}: ${err.message}`);
  t.match(err.message, msg);
  const outside = (await listTree(p.root)).filter((e) => e !== 'execution' && !e.startsWith(`execution${path.sep}`));
  t.same(outside, [], 'nothing written outside execution/');
}

t.test('config: zip limits from defaults, flags and environment', async (t) => {
  t.equal(defaultConfig.maxZipEntries, 10_000);
  t.equal(defaultConfig.maxZipBytes, 1024 ** 3);
  const fromFlags = loadConfig(['--max-zip-entries=5', '--max_zip_bytes', '4096'], {}, '/tmp').config;
  t.equal(fromFlags.maxZipEntries, 5);
  t.equal(fromFlags.maxZipBytes, 4096);
  const fromEnv = loadConfig([], { FERRY_MAX_ZIP_ENTRIES: '7', FERRY_MAX_ZIP_BYTES: '8192' }, '/tmp').config;
  t.equal(fromEnv.maxZipEntries, 7);
  t.equal(fromEnv.maxZipBytes, 8192);
  t.equal(loadConfig(['--max-zip-bytes=1'], { FERRY_MAX_ZIP_BYTES: '8192' }, '/tmp').config.maxZipBytes, 1, 'flags win');
  t.throws(() => loadConfig(['--max-zip-entries=0'], {}, '/tmp'), /max-zip-entries/);
  t.throws(() => loadConfig(['--max-zip-bytes=1G'], {}, '/tmp'), /max-zip-bytes/);
  t.match(usage, /--max-zip-entries N.*FERRY_MAX_ZIP_ENTRIES/);
  t.match(usage, /--max-zip-bytes N.*FERRY_MAX_ZIP_BYTES/);
});

t.test('isZipBundle: by name, or by the zip signature', async (t) => {
  const dir = await tempDir(t);
  const zip = makeZip([{ name: 'a.cwl', content: CWL }]);
  const write = async (name: string, data: string | Buffer) => {
    await fs.writeFile(path.join(dir, name), data);
    return path.join(dir, name);
  };
  t.ok(await isZipBundle(await write('workflow.zip', zip)));
  t.ok(await isZipBundle(await write('Bundle.ZIP', 'not really')), 'a .zip name is a bundle (and will be refused if not a zip)');
  t.ok(await isZipBundle(await write('download', zip)), 'a fetched name without .zip is sniffed');
  t.ok(await isZipBundle(await write('empty', makeZip([]))), 'the empty archive signature too');
  t.notOk(await isZipBundle(await write('echo.cwl', CWL)));
  t.notOk(await isZipBundle(await write('app.pyz', zip)), 'a Python zip application runs as it is');
  t.notOk(await isZipBundle(await write('tiny', 'PK')));
  t.notOk(await isZipBundle(path.join(dir, 'missing')));
});

t.test('layout 1: a single file is the workflow', async (t) => {
  const b = await open(t, [{ name: 'wf/' }, { name: 'wf/echo.cwl', content: CWL }]);
  t.equal(b.workflow, 'wf/echo.cwl');
  t.same(b.inputs, {});
  t.same(b.options, {});
  t.equal(await fs.readFile(path.join(b.execDir, 'wf/echo.cwl'), 'utf8'), CWL);
  // Even a lone MANIFEST.json or options.json is simply the workflow.
  t.equal((await open(t, [{ name: 'options.json', content: '{}' }])).workflow, 'options.json');
});

t.test('layout 2: MANIFEST.json', async (t) => {
  t.test('main only', async (t) => {
    const b = await open(t, [
      { name: 'MANIFEST.json', content: JSON.stringify({ mainWorkflowURL: 'tools/echo.cwl' }) },
      { name: 'tools/echo.cwl', content: CWL },
      { name: 'main.cwl', content: 'not the one' },
      { name: 'inputs.json', content: '{"ignored": true}' },
      { name: 'options.json', content: '{"--debug": null}' },
    ]);
    t.equal(b.workflow, 'tools/echo.cwl');
    t.same(b.inputs, {}, 'without a MANIFEST entry, inputs.json is not read');
    t.same(b.options, {});
  });

  t.test('inputs merged in the listed order, options, locations rebased', async (t) => {
    const b = await open(t, [
      {
        name: 'MANIFEST.json',
        content: JSON.stringify({
          mainWorkflowURL: './wf/main.cwl',
          inputFileURLs: ['params/base.json', 'params/deeper/override.json'],
          optionsFileURL: 'params/options.json',
        }),
      },
      { name: 'wf/main.cwl', content: CWL },
      { name: 'data/words.txt', content: 'a\nb\n' },
      {
        name: 'params/base.json',
        content: JSON.stringify({
          words: { class: 'File', location: '../data/words.txt', secondaryFiles: [{ class: 'File', path: 'idx.txt' }] },
          dir: { class: 'Directory', location: '..' },
          web: { class: 'File', location: 'https://example.org/x.txt' },
          abs: { class: 'File', location: '/data/x.txt' },
          notAFile: { location: 'stays.txt' },
          n: 1,
          s: 'base',
        }),
      },
      { name: 'params/deeper/override.json', content: JSON.stringify({ s: 'override', list: [{ class: 'File', location: 'x.txt' }] }) },
      { name: 'params/options.json', content: JSON.stringify({ '--on-error': 'continue', '--debug': null }) },
    ]);
    t.equal(b.workflow, 'wf/main.cwl');
    t.same(b.inputs, {
      words: { class: 'File', location: 'data/words.txt', secondaryFiles: [{ class: 'File', path: 'params/idx.txt' }] },
      dir: { class: 'Directory', location: '.' },
      web: { class: 'File', location: 'https://example.org/x.txt' },
      abs: { class: 'File', location: '/data/x.txt' },
      notAFile: { location: 'stays.txt' },
      n: 1,
      s: 'override',
      list: [{ class: 'File', location: 'params/deeper/x.txt' }],
    });
    t.same(b.options, { '--on-error': 'continue', '--debug': null });
    t.equal(b.optionsSource, "params/options.json in workflow bundle 'workflow.zip'");
  });

  t.test('empty inputFileURLs and optionsFileURL are no files', async (t) => {
    const b = await open(t, [
      { name: 'MANIFEST.json', content: JSON.stringify({ mainWorkflowURL: 'main.cwl', inputFileURLs: [], optionsFileURL: '' }) },
      { name: 'main.cwl', content: CWL },
    ]);
    t.equal(b.workflow, 'main.cwl');
    t.same(b.inputs, {});
  });
});

t.test('layout 3: main.<type>, inputs*.json, options.json', async (t) => {
  t.test('main.cwl only', async (t) => {
    const b = await open(t, [{ name: 'main.cwl', content: CWL }, { name: 'tools/tool.cwl', content: CWL }]);
    t.equal(b.workflow, 'main.cwl');
    t.same(b.inputs, {});
    t.same(b.options, {});
  });

  t.test('inputs*.json sorted by name, whatever the zip order; only at the root and only .json', async (t) => {
    const b = await open(t, [
      { name: 'inputs2.json', content: '{"b": 2, "c": 2}' },
      { name: 'main.cwl', content: CWL },
      { name: 'inputs.json', content: '{"a": 0, "b": 0, "c": 0}' },
      { name: 'inputs1.json', content: '{"b": 1}' },
      { name: 'inputs-notes.txt', content: 'not json' },
      { name: 'sub/inputs.json', content: '{"a": "sub"}' },
      { name: 'options.json', content: '{"--parallel": null}' },
    ]);
    t.same(b.inputs, { a: 0, b: 2, c: 2 }, 'inputs.json, inputs1.json, inputs2.json in that order');
    t.same(b.options, { '--parallel': null });
    t.equal(b.optionsSource, "options.json in workflow bundle 'workflow.zip'");
  });

  t.test('the type picks the main file', async (t) => {
    const b = await open(t, [{ name: 'main.py', content: 'print(1)' }, { name: 'main.cwl', content: CWL }], 'PY');
    t.equal(b.workflow, 'main.py');
  });

  t.test('a "__proto__" key in inputs stays a plain key', async (t) => {
    const b = await open(t, [
      { name: 'main.cwl', content: CWL },
      { name: 'inputs.json', content: '{"__proto__": {"polluted": true}, "x": 1}' },
    ]);
    t.equal(Object.getPrototypeOf(b.inputs), Object.prototype);
    t.same(JSON.parse(JSON.stringify(b.inputs)), { ['__proto__']: { polluted: true }, x: 1 });
    t.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

t.test('a bundle in a sub-folder unpacks beside itself, paths stay relative to execution/', async (t) => {
  const p = await place(
    t,
    makeZip([
      { name: 'main.cwl', content: CWL },
      { name: 'inputs.json', content: JSON.stringify({ f: { class: 'File', location: 'data/f.txt' } }) },
      { name: 'data/f.txt', content: 'f' },
    ]),
    'bundles/workflow.zip',
  );
  const b = await openBundle(p.zipPath, p.execDir, 'CWL', LIMITS);
  t.equal(b.workflow, 'bundles/main.cwl');
  t.same(b.inputs, { f: { class: 'File', location: 'bundles/data/f.txt' } });
  t.same(await listTree(p.execDir), ['bundles', 'bundles/data', 'bundles/data/f.txt', 'bundles/inputs.json', 'bundles/main.cwl', 'bundles/workflow.zip']);
});

t.test('files are written as regular files, folders as folders', async (t) => {
  const b = await open(t, [
    { name: 'd/' },
    { name: 'd/e/' },
    { name: 'd/e/tool.cwl', content: CWL, mode: 0o100755 },
    { name: 'main.cwl', content: CWL, mode: 0 },
    { name: 'x.txt', content: 'x', method: 0 },
  ]);
  t.equal(b.workflow, 'main.cwl');
  t.ok((await fs.lstat(path.join(b.execDir, 'd/e'))).isDirectory());
  t.ok((await fs.lstat(path.join(b.execDir, 'd/e/tool.cwl'))).isFile());
  t.ok((await fs.lstat(path.join(b.execDir, 'main.cwl'))).isFile(), 'no Unix mode (a DOS-made zip) is a plain file');
  t.equal(await fs.readFile(path.join(b.execDir, 'x.txt'), 'utf8'), 'x', 'stored entries too');
});

t.test('unsafe names are refused before anything is written', async (t) => {
  const names: [string, RegExp][] = [
    ['/etc/ferry-escape', /absolute path/],
    ['C:/ferry-escape', /absolute path/],
    ['../ferry-escape', /\.\./],
    ['a/../../ferry-escape', /\.\./],
    ['a/..', /\.\./],
    ['./main.cwl', /'\.'/],
    ['a//b', /empty part/],
    ['a\\..\\..\\ferry-escape', /backslash/],
    ['a\u0000b', /control character/],
    ['a\u001bb', /control character/],
    ['a\u007fb', /control character/],
    ['a\u0085b', /control character/],
    [`${'x'.repeat(256)}`, /255 bytes/],
    [`${'x/'.repeat(2100)}x`, /too long/],
  ];
  for (const [name, msg] of names) {
    await t.test(JSON.stringify(name.slice(0, 40)), async (t) => {
      // A good entry first, so a refusal does not depend on order.
      await refuses(t, [{ name: 'main.cwl', content: CWL }, { name, content: 'escaped!' }], 400, msg);
    });
  }
  await refuses(t, [{ name: '/' }], 400, /absolute|empty/);
});

t.test('links and special files are refused', async (t) => {
  const modes: [string, number, RegExp][] = [
    ['link', 0o120777, /symbolic link/],
    ['dir/', 0o120777, /symbolic link/],
    ['fifo', 0o010644, /not a regular file or folder/],
    ['chardev', 0o020644, /not a regular file or folder/],
    ['blockdev', 0o060644, /not a regular file or folder/],
    ['socket', 0o140755, /not a regular file or folder/],
    ['file-says-dir', 0o040755, /not a regular file or folder/],
    ['dir-says-file/', 0o100644, /not a regular file or folder/],
  ];
  for (const [name, mode, msg] of modes) {
    await t.test(name, async (t) => {
      await refuses(t, [{ name: 'main.cwl', content: CWL }, { name, content: name.endsWith('/') ? '' : '/etc/passwd', mode }], 400, msg);
    });
  }
});

t.test('duplicates and file/folder clashes', async (t) => {
  const main = { name: 'main.cwl', content: CWL };
  await refuses(t, [main, { name: 'a.txt', content: '1' }, { name: 'a.txt', content: '2' }], 400, /more than once/);
  await refuses(t, [main, { name: 'd/' }, { name: 'd/' }], 400, /more than once/);
  await refuses(t, [main, { name: 'main.cwl', content: 'second' }], 400, /more than once/);
  await refuses(t, [main, { name: 'a', content: 'x' }, { name: 'a/' }], 400, /both a file and a folder/);
  await refuses(t, [main, { name: 'a/' }, { name: 'a', content: 'x' }], 400, /both a file and a folder/);
  await refuses(t, [main, { name: 'a', content: 'x' }, { name: 'a/b', content: 'y' }], 400, /inside "a", which is a file/);
  await refuses(t, [main, { name: 'a/b', content: 'y' }, { name: 'a', content: 'x' }], 400, /both a file and a folder/);
});

t.test('entries that clash with what is already in execution/', async (t) => {
  const p = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'data.txt', content: 'from the zip' }]));
  await fs.writeFile(path.join(p.execDir, 'data.txt'), 'attached');
  await t.rejects(openBundle(p.zipPath, p.execDir, 'CWL', LIMITS), { statusCode: 400, message: /clashes with an attachment/ });
  t.equal(await fs.readFile(path.join(p.execDir, 'data.txt'), 'utf8'), 'attached', 'the attachment is not overwritten');

  const self = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'workflow.zip', content: 'me' }]));
  await t.rejects(openBundle(self.zipPath, self.execDir, 'CWL', LIMITS), { statusCode: 400, message: /clashes/ });

  const through = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'data.txt/x', content: 'x' }]));
  await fs.writeFile(path.join(through.execDir, 'data.txt'), 'attached');
  await t.rejects(openBundle(through.zipPath, through.execDir, 'CWL', LIMITS), { statusCode: 400, message: /clashes/ });
});

t.test('a link already in execution/ is not followed out of the run', async (t) => {
  const outside = await tempDir(t, 'ferry-outside-');
  const p = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'link/escaped.txt', content: 'escaped!' }]));
  await fs.symlink(outside, path.join(p.execDir, 'link'));
  await t.rejects(openBundle(p.zipPath, p.execDir, 'CWL', LIMITS), { statusCode: 400, message: /outside the run/ });
  t.same(await fs.readdir(outside), [], 'nothing written through the link');

  const file = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'linked.txt', content: 'escaped!' }]));
  await fs.symlink(path.join(outside, 'target.txt'), path.join(file.execDir, 'linked.txt'));
  await t.rejects(openBundle(file.zipPath, file.execDir, 'CWL', LIMITS), { statusCode: 400, message: /clashes/ });
  t.same(await fs.readdir(outside), [], "'wx' does not follow a dangling link");
});

t.test('limits: entries and inflated bytes', async (t) => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `f${i}.txt`, content: String(i) }));
  const small = { maxZipEntries: 10, maxZipBytes: 1000 };
  t.equal((await open(t, [{ name: 'main.cwl', content: CWL }, ...many(9)], 'CWL', small)).workflow, 'main.cwl', 'exactly at the entry limit');
  await refuses(t, [{ name: 'main.cwl', content: CWL }, ...many(10)], 413, /11 entries; at most 10/, small);
  // An end record that claims more entries than the limit is refused before reading them.
  await refuses(t, [{ name: 'main.cwl', content: CWL }], 413, /65535 entries/, small, { declaredCount: 65535 });
  // Folders count as entries too.
  await refuses(t, [{ name: 'main.cwl', content: CWL }, ...Array.from({ length: 10 }, (_, i) => ({ name: `d${i}/` }))], 413, /entries/, small);

  // Honest headers over the byte limit: refused from the headers alone.
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'big.bin', content: Buffer.alloc(1001 - CWL.length) }], 413, /more than 1000 bytes/, small);
  t.ok(await open(t, [{ name: 'main.cwl', content: CWL }, { name: 'fits.bin', content: Buffer.alloc(1000 - CWL.length) }], 'CWL', small), 'exactly at the byte limit');
});

t.test('zip bombs whose headers lie are stopped while inflating', async (t) => {
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  // Declares 10 bytes, inflates to 4 MiB: caught on the first chunk past 10 bytes...
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'bomb.bin', content: zeros, declaredSize: 10 }], 400, /inflates past the 10 bytes its header declares/);
  // ...or, when that first chunk alone is over the bundle's budget, as over the limit.
  await refuses(
    t,
    [{ name: 'main.cwl', content: CWL }, { name: 'bomb.bin', content: zeros, declaredSize: 10 }],
    413,
    /more than 1000 bytes/,
    { maxZipEntries: 10, maxZipBytes: 1000 },
  );
  // Many entries sharing one budget: the counted total, not each entry's header, is what is limited.
  const p = await place(t, makeZip([{ name: 'main.cwl', content: CWL }, { name: 'bomb.bin', content: zeros, declaredSize: 10 }]));
  const started = Date.now();
  await t.rejects(openBundle(p.zipPath, p.execDir, 'CWL', LIMITS));
  const written = await fs.stat(path.join(p.execDir, 'bomb.bin')).then((s) => s.size, () => 0);
  t.ok(written <= 10, `at most the declared bytes reach the disk (${written})`);
  t.ok(Date.now() - started < 5000, 'stopped early');
});

t.test('corrupt zips', async (t) => {
  const good = makeZip([{ name: 'main.cwl', content: CWL }, { name: 'data.txt', content: 'hello '.repeat(50) }]);
  await refuses(t, Buffer.from('this is not a zip at all, just text'), 400, /not a valid zip/);
  await refuses(t, Buffer.alloc(0), 400, /not a valid zip/);
  await refuses(t, good.subarray(0, good.length - 30), 400, /not a valid zip/);
  await refuses(t, good.subarray(40), 400, /not a valid zip/);
  await refuses(t, makeZip([]), 400, /empty zip/);
  await refuses(t, makeZip([{ name: 'only/' }, { name: 'folders/' }]), 400, /holds no file/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', crc: 1234 }], 400, /CRC/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', declaredSize: 50 }], 400, /shorter than its header/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', method: 0, declaredSize: 3 }], 400, /sizes disagree/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', flags: 1 }], 400, /encrypted/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', method: 12 }], 400, /compression method 12/);
  // Deflate data that is not deflate.
  const garbled = Buffer.from(good);
  const at = garbled.indexOf('data.txt') + 'data.txt'.length;
  garbled.fill(0xff, at, at + 8);
  await refuses(t, garbled, 400, /not a valid zip|CRC|shorter|inflates/);
  // A central directory whose count is larger than what is there.
  await refuses(t, [{ name: 'main.cwl', content: CWL }], 400, /not a valid zip/, LIMITS, { declaredCount: 3 });
});

t.test('MANIFEST.json that points outside, at nothing, or is malformed', async (t) => {
  const withManifest = (manifest: unknown, extra: ZipEntrySpec[] = []) => [
    { name: 'MANIFEST.json', content: typeof manifest === 'string' ? manifest : JSON.stringify(manifest) },
    { name: 'wf/main.cwl', content: CWL },
    ...extra,
  ];
  const cases: [unknown, RegExp][] = [
    [{ mainWorkflowURL: '../main.cwl' }, /points outside the bundle/],
    [{ mainWorkflowURL: 'wf/../../main.cwl' }, /points outside the bundle/],
    [{ mainWorkflowURL: '/wf/main.cwl' }, /relative path inside the bundle/],
    [{ mainWorkflowURL: 'file:///etc/passwd' }, /relative path inside the bundle/],
    [{ mainWorkflowURL: 'https://example.org/main.cwl' }, /relative path inside the bundle/],
    [{ mainWorkflowURL: 'wf\\main.cwl' }, /relative path inside the bundle/],
    [{ mainWorkflowURL: 'wf/missing.cwl' }, /not a file in the bundle/],
    [{ mainWorkflowURL: 'wf' }, /not a file in the bundle/],
    [{ mainWorkflowURL: 42 }, /relative path/],
    [{}, /no 'mainWorkflowURL'/],
    [{ mainWorkflowURL: 'wf/main.cwl', inputFileURLs: 'in.json' }, /list of paths/],
    [{ mainWorkflowURL: 'wf/main.cwl', inputFileURLs: ['../../../etc/passwd'] }, /inputFileURLs\[0\]' points outside/],
    [{ mainWorkflowURL: 'wf/main.cwl', inputFileURLs: ['missing.json'] }, /not a file in the bundle/],
    [{ mainWorkflowURL: 'wf/main.cwl', optionsFileURL: '/etc/passwd' }, /optionsFileURL' must be a relative path/],
    [{ mainWorkflowURL: 'wf/main.cwl', optionsFileURL: 'missing.json' }, /not a file in the bundle/],
    ['{"mainWorkflowURL": ', /MANIFEST\.json .* is not valid JSON/],
    [['wf/main.cwl'], /MANIFEST\.json .* is not a JSON object/],
  ];
  for (const [manifest, msg] of cases) {
    await t.test(JSON.stringify(manifest), async (t) => {
      await refuses(t, withManifest(manifest), 400, msg);
    });
  }
  await refuses(t, withManifest({ mainWorkflowURL: 'wf/main.cwl', inputFileURLs: ['in.json'] }, [{ name: 'in.json', content: '[1]' }]), 400, /in\.json .* is not a JSON object/);
  await refuses(t, withManifest({ mainWorkflowURL: 'wf/main.cwl', optionsFileURL: 'o.json' }, [{ name: 'o.json', content: 'nope' }]), 400, /o\.json .* is not valid JSON/);
});

t.test('layout 3 without main.<type>', async (t) => {
  await refuses(t, [{ name: 'workflow.cwl', content: CWL }, { name: 'inputs.json', content: '{}' }], 400, /neither MANIFEST\.json nor 'main\.cwl'/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'inputs.json', content: '"text"' }], 400, /inputs\.json .* is not a JSON object/);
  await refuses(t, [{ name: 'main.cwl', content: CWL }, { name: 'options.json', content: '[]' }], 400, /options\.json .* is not a JSON object/);
});

t.test('refusals leave no file descriptor open', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const openFds = async () => (await fs.readdir('/proc/self/fd')).length;
  const zeros = Buffer.alloc(1024 * 1024);
  const bad = [
    makeZip([{ name: 'main.cwl', content: CWL }, { name: 'bomb.bin', content: zeros, declaredSize: 10 }]),
    makeZip([{ name: 'main.cwl', content: CWL }, { name: 'x.txt', content: 'hello', crc: 1 }]),
    makeZip([{ name: 'main.cwl', content: CWL }, { name: '../x', content: 'x' }]),
    Buffer.from('not a zip'),
  ];
  // Warm up whatever the first call opens for good (module loading and the like).
  await refuses(t, bad[0]!, 400, /inflates/);
  const before = await openFds();
  for (let i = 0; i < 5; i++) {
    for (const zip of bad) {
      const p = await place(t, zip);
      await openBundle(p.zipPath, p.execDir, 'CWL', LIMITS).catch(() => undefined);
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  t.ok((await openFds()) <= before, `no descriptor leaked (${before} before, ${await openFds()} after)`);
});
