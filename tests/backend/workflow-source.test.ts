import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { fileAllowed } from '../../src/backend/workflow-source.js';
import { tempDir } from '../helper.js';

t.test('fileAllowed: files below an allowed root, and only those', async (t) => {
  const base = await tempDir(t, 'ferry-roots-');
  const root = path.join(base, 'data');
  await fs.mkdir(path.join(root, '..sub'), { recursive: true });
  await fs.mkdir(`${root}-evil`);
  for (const f of ['a.txt', '..data', '..sub/x']) await fs.writeFile(path.join(root, f), 'x');
  await fs.writeFile(path.join(base, 'outside.txt'), 'x');
  await fs.writeFile(`${root}-evil/x`, 'x');
  await fs.symlink(path.join(base, 'outside.txt'), path.join(root, 'link'));

  t.ok(await fileAllowed(path.join(root, 'a.txt'), [root]));
  t.ok(await fileAllowed(root, [root]), 'the root itself');
  t.ok(await fileAllowed(path.join(root, '..data'), [root]), 'a name that starts with two dots is inside');
  t.ok(await fileAllowed(path.join(root, '..sub', 'x'), [root]));
  t.ok(await fileAllowed(path.join(root, 'missing'), [root]), 'a path not there (yet) is judged as written');
  t.notOk(await fileAllowed(path.join(base, 'outside.txt'), [root]));
  t.notOk(await fileAllowed(path.join(root, '..', 'outside.txt'), [root]), 'a climb');
  t.notOk(await fileAllowed(`${root}-evil/x`, [root]), 'a sibling with the same prefix');
  t.notOk(await fileAllowed(path.join(root, 'link'), [root]), 'a link out of the root is followed');
  t.ok(await fileAllowed(path.join(base, 'outside.txt'), [root, base]), 'any of the roots');
});
