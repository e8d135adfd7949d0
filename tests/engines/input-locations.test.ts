import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { CwltoolEngine } from '../../src/engines/cwltool.js';
import type { Engine } from '../../src/engines/engine.js';
import { ToilCwlEngine } from '../../src/engines/toil/toil-cwl.js';
import { ToilPythonEngine } from '../../src/engines/toil/toil-python.js';
import { ToilWdlEngine } from '../../src/engines/toil/toil-wdl.js';
import { tempDir } from '../helper.js';

// Each engine says which strings of a run's inputs it reads as files; the
// server polices exactly those (tests/api/submission-errors.test.ts).

const python = new ToilPythonEngine({ executable: '/usr/bin/python3', version: '3.11', toilVersion: null, workerDir: null });
const cwlStyle: Engine[] = [new CwltoolEngine(), new ToilCwlEngine(), python];

t.test('CWL engines and Toil Python: File and Directory objects, nested anywhere', async (t) => {
  const params = {
    message: '/etc/passwd',
    plain: { location: '/not/a/file/object' },
    f: { class: 'File', location: 'data/a.txt', secondaryFiles: [{ class: 'File', path: '/abs/idx' }] },
    d: [{ deeper: { class: 'Directory', location: 'file:///etc', listing: [{ class: 'File', location: 'https://example.org/x' }] } }],
    both: { class: 'File', location: 'x', path: 'y' },
  };
  for (const engine of cwlStyle) {
    t.same(
      await engine.inputLocations(params, '/nowhere/workflow'),
      ['data/a.txt', '/abs/idx', 'file:///etc', 'https://example.org/x', 'x', 'y'],
      `${engine.id}: only File/Directory objects' location and path; plain strings are values`,
    );
  }
});

t.test('CWL engines and Toil Python: inputs nested too deeply are refused (400)', async (t) => {
  let deep: unknown = { class: 'File', location: 'x' };
  for (let i = 0; i < 70; i++) deep = [deep];
  for (const engine of cwlStyle) {
    await t.rejects(engine.inputLocations({ deep }, '/nowhere/workflow'), { statusCode: 400, message: "'workflow_params' is nested too deeply." }, engine.id);
  }
});

t.test('Toil WDL: the File positions of the declared inputs', async (t) => {
  const dir = await tempDir(t);
  const wdl = path.join(dir, 'main.wdl');
  await fs.writeFile(wdl, 'version 1.0\nworkflow w { input { File f  String s  Array[File] fs } }\n');
  const engine = new ToilWdlEngine();
  t.same(await engine.inputLocations({ 'w.f': '/etc/hostname', 'w.s': '/not/a/file', 'w.fs': ['a.txt', 'file:///x'], 'other.f': '/y' }, wdl), [
    '/etc/hostname',
    'a.txt',
    'file:///x',
  ]);
  t.same(await engine.inputLocations({ f: { class: 'File', location: '/etc/hostname' } }, wdl), [], 'CWL-style objects mean nothing to WDL');
});
