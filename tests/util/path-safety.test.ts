import path from 'node:path';
import t, { type Test } from 'tap';

import { MalformedRequestError } from '../../src/util/errors.js';
import { checkRelativeName, isInside, type RelativeNameRules } from '../../src/util/path-safety.js';

/** The rules attachment names are read by (staging.ts). */
const attachment: RelativeNameRules = { subject: 'workflow_attachment filename', emptyParts: 'collapse' };
/** The rules zip entry names are read by (bundle.ts), less yauzl's second opinion. */
const entry: RelativeNameRules = { subject: "workflow bundle 'b.zip': entry name", emptyParts: 'refuse', trailingSlash: true, c1Controls: true, driveLetters: true };

const root = path.resolve('/srv/runs/abc/execution');

t.test('isInside: root itself and what lies below it', async (t) => {
  t.ok(isInside(root, root), 'the root itself');
  t.ok(isInside(root, path.join(root, 'a')));
  t.ok(isInside(root, path.join(root, 'a', 'b', 'c')));
  t.ok(isInside('/', '/etc/passwd'), 'everything is below /');
});

t.test('isInside: names that start with two dots are not a climb', async (t) => {
  t.ok(isInside(root, path.join(root, '..data')));
  t.ok(isInside(root, path.join(root, '..data', 'x')));
  t.ok(isInside(root, path.join(root, '...')));
});

t.test('isInside: what lies outside', async (t) => {
  t.notOk(isInside(root, path.dirname(root)), '`..`');
  t.notOk(isInside(root, path.join(root, '..', 'x')), '`../x`');
  t.notOk(isInside(root, path.join(root, '..', '..', 'etc')), '`../../etc`');
  t.notOk(isInside(root, `${root}-evil`), 'a sibling with the same prefix');
  t.notOk(isInside(root, `${root}-evil/x`));
  t.notOk(isInside(root, '/etc/passwd'), 'absolute elsewhere');
  t.notOk(isInside(root, '/'), 'the file system root');
});

/** The refusal of `name` under `rules`, or a failure when it is accepted. */
function refusal(t: Test, name: string, rules: RelativeNameRules): string {
  const shown = JSON.stringify(name.slice(0, 40));
  try {
    const out = checkRelativeName(name, rules);
    t.fail(`${shown} was accepted as ${JSON.stringify(out.slice(0, 40))}`);
    return '';
  } catch (err) {
    t.type(err, MalformedRequestError, `${shown} is a 400`);
    return (err as Error).message;
  }
}

t.test('checkRelativeName keeps ordinary relative names', async (t) => {
  for (const rules of [attachment, entry]) {
    t.equal(checkRelativeName('main.cwl', rules), 'main.cwl');
    t.equal(checkRelativeName('tools/count.cwl', rules), 'tools/count.cwl');
    t.equal(checkRelativeName('.hidden', rules), '.hidden');
    t.equal(checkRelativeName('file..name', rules), 'file..name');
    t.equal(checkRelativeName('..data', rules), '..data');
    t.equal(checkRelativeName('...', rules), '...');
    t.equal(checkRelativeName('naïve/café ☃.txt', rules), 'naïve/café ☃.txt');
  }
});

t.test('checkRelativeName: empty parts and a trailing slash', async (t) => {
  t.equal(checkRelativeName('a//b///c/', attachment), 'a/b/c', 'collapsed for attachments');
  t.equal(checkRelativeName('d/', attachment), 'd');
  t.equal(checkRelativeName('d/', entry), 'd', 'a zip folder entry');
  t.equal(checkRelativeName('d/e/', entry), 'd/e');
  t.match(refusal(t, 'a//b', entry), /has an empty part\.$/);
  t.match(refusal(t, 'd//', entry), /has an empty part\.$/);
  t.match(refusal(t, '', attachment), /is empty\.$/);
  t.match(refusal(t, '', entry), /is empty\.$/);
});

t.test('checkRelativeName refuses traversal', async (t) => {
  for (const rules of [attachment, entry]) {
    for (const name of ['..', '../x', '../../etc/passwd', 'a/../../x', 'a/..', 'a/../b']) {
      t.match(refusal(t, name, rules), /may not contain '\.\.'\.$/);
    }
    for (const name of ['.', './x', 'a/./b', 'a/.']) {
      t.match(refusal(t, name, rules), /may not contain '\.'\.$/);
    }
  }
});

t.test('checkRelativeName refuses absolute names', async (t) => {
  for (const rules of [attachment, entry]) {
    for (const name of ['/etc/passwd', '//server/share/x', '/']) t.match(refusal(t, name, rules), /is an absolute path\.$/);
  }
  t.match(refusal(t, 'C:/x', entry), /is an absolute path\.$/, 'a drive letter, for zip entries');
  t.match(refusal(t, 'c:x', entry), /is an absolute path\.$/);
  t.equal(checkRelativeName('C:x', attachment), 'C:x', 'a plain name on this server, for attachments');
});

t.test('checkRelativeName refuses backslashes, Windows-style traversal included', async (t) => {
  for (const rules of [attachment, entry]) {
    for (const name of ['a\\b', '..\\..\\windows\\system32', 'C:\\Users\\x.txt', 'a\\..\\b/..\\c', '\\']) {
      t.match(refusal(t, name, rules), /holds a backslash\.$/);
    }
  }
});

t.test('checkRelativeName refuses control characters (NUL tricks included)', async (t) => {
  for (const rules of [attachment, entry]) {
    for (const name of ['a\u0000b', '.\u0000./x', '\u0000', 'x/\u0000/y', 'a\nb', 'a\tb', 'a\rb', 'a\u001bb', 'a\u007fb']) {
      t.match(refusal(t, name, rules), /holds a control character\.$/);
    }
  }
  t.match(refusal(t, 'a\u0085b', entry), /holds a control character\.$/, 'C1, for zip entries');
  t.match(refusal(t, 'a\u009bb', entry), /holds a control character\.$/);
  t.equal(checkRelativeName('a\u0085b', attachment), 'a\u0085b', 'C1 is not refused in attachment names');
});

t.test('checkRelativeName counts lengths in bytes', async (t) => {
  for (const rules of [attachment, entry]) {
    t.equal(checkRelativeName('x'.repeat(255), rules), 'x'.repeat(255));
    t.match(refusal(t, 'x'.repeat(256), rules), /has a part longer than 255 bytes\.$/);
    t.match(refusal(t, 'é'.repeat(128), rules), /has a part longer than 255 bytes\.$/, '128 characters, 256 bytes');
    const longest = `${'a/'.repeat(2047)}aa`;
    t.equal(Buffer.byteLength(longest), 4096);
    t.equal(checkRelativeName(longest, rules), longest);
    t.match(refusal(t, `${'x/'.repeat(2100)}x`, rules), /is too long\.$/);
    t.match(refusal(t, `${'é/'.repeat(1366)}`, rules), /is too long\.$/, 'fewer than 4096 characters, more bytes');
  }
});

t.test('checkRelativeName: lookalikes and encodings are plain names that stay inside', async (t) => {
  // Neither the kernel nor Node decodes these: on disk each is one ordinary
  // name below the folder, not a climb, so they are kept as sent.
  const names = [
    '\uff0e\uff0e/\uff0e\uff0e/etc', // fullwidth full stops
    '\uff0e\uff0e\uff0fetc', // and a fullwidth solidus
    '\u2024\u2024/\u2025/\u2026/x', // one- and two-dot leaders, ellipsis
    '%2e%2e/%2e%2e/etc', // percent-encoded dots
    '..%2f..%2fetc', // percent-encoded slashes
    '.\u200b./.\u0301./y', // zero-width space, combining accent
    'a\u2215b\u29f5c', // division slash, reverse solidus operator
  ];
  for (const rules of [attachment, entry]) {
    for (const name of names) {
      const out = checkRelativeName(name, rules);
      t.equal(out, name, JSON.stringify(name));
      const full = path.resolve(root, out);
      t.ok(isInside(root, full) && full !== root, `${JSON.stringify(name)} lands below the folder`);
    }
  }
});

t.test('checkRelativeName: accepted names never climb, whatever they are made of', async (t) => {
  const nasty = ['..', '.', '/', '\\', '\u0000', '\uff0e', 'a', '%', '~', ' ', '\u202e', '\u0085', 'C:', '//'];
  let accepted = 0;
  for (const rules of [attachment, entry]) {
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const n = 1 + (i % 9);
      for (let j = 0; j < n; j++) s += nasty[(i * 7 + j * 13 + j * j) % nasty.length];
      let out: string;
      try {
        out = checkRelativeName(s, rules);
      } catch (err) {
        if (!(err instanceof MalformedRequestError)) t.fail(`${JSON.stringify(s)}: ${String(err)}`);
        continue;
      }
      accepted++;
      for (const part of out.split('/')) {
        if (part === '' || part === '.' || part === '..' || part.includes('\\') || part.includes('\u0000')) {
          t.fail(`bad part ${JSON.stringify(part)} from ${JSON.stringify(s)}`);
        }
      }
      const full = path.resolve(root, out);
      if (!isInside(root, full) || full === root) t.fail(`${JSON.stringify(s)} lands at ${full}`);
    }
  }
  t.ok(accepted > 0, 'some names were accepted, so the check above saw something');
});

t.test('checkRelativeName: refusals name the rule and stay printable', async (t) => {
  t.equal(refusal(t, '../x', attachment), `workflow_attachment filename "../x" may not contain '..'.`);
  t.equal(refusal(t, 'a//b', entry), `workflow bundle 'b.zip': entry name "a//b" has an empty part.`);
  for (const rules of [attachment, entry]) {
    t.notMatch(refusal(t, '\u0000\n..', rules), /[\u0000-\u001f]/);
  }
  t.notMatch(refusal(t, '\u0085\u009b[2J', entry), /[\u007f-\u009f]/, 'C1 shown escaped for zip entries');
  const long = refusal(t, `${'x'.repeat(5000)}`, attachment);
  t.ok(long.length < 300, 'a long name is cut in the message');
});

t.test('checkRelativeName asks a further rule last', async (t) => {
  const seen: string[] = [];
  const rules: RelativeNameRules = {
    ...entry,
    alsoRefuse: (name) => {
      seen.push(name);
      return name.includes('bad') ? 'is unsafe (bad)' : null;
    },
  };
  t.equal(checkRelativeName('good/', rules), 'good');
  t.equal(refusal(t, 'bad', rules), `workflow bundle 'b.zip': entry name "bad" is unsafe (bad).`);
  refusal(t, '../bad', rules);
  t.same(seen, ['good/', 'bad'], 'given the name as sent, and not asked when another rule refuses');
});
