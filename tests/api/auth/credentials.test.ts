import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';

import { Credentials, type CredentialsOptions } from '../../../src/api/auth/credentials.js';
import { tempDir } from '../../helper.js';

const run = promisify(execFile);

/** Adds or changes a user with Apache's own tool (`-B`: bcrypt; `-c`: a new file). */
async function htpasswd(file: string, user: string, password: string, flags: string[] = []): Promise<void> {
  await run('/usr/bin/htpasswd', [...flags, '-b', file, user, password]);
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A logger whose lines the test can read. */
function captureLogger(): { logger: CredentialsOptions['logger']; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }), lines };
}

/** Opens credentials closed when the test ends. */
async function open(t: Test, opts: Partial<CredentialsOptions>): Promise<Credentials> {
  const c = await Credentials.open({ admins: [], logger: pino({ level: 'silent' }), ...opts });
  t.teardown(() => c.close());
  return c;
}

/** Polls until `check` holds, for up to `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

const ALICE_PW = 'se:cr:et';
const BOB_PW = 'pässwörd ✓ 日本';

/** An htpasswd file with alice (a password with colons) and bob (non-ASCII). */
async function usersFile(t: Test): Promise<string> {
  const dir = await tempDir(t, 'ferry-auth-');
  const file = path.join(dir, 'htpasswd');
  await htpasswd(file, 'alice', ALICE_PW, ['-B', '-c']);
  await htpasswd(file, 'bob', BOB_PW, ['-B']);
  return file;
}

/** A tokens file with comments, blank lines and upper-case hex. */
async function tokensFile(t: Test): Promise<string> {
  const dir = await tempDir(t, 'ferry-auth-');
  const file = path.join(dir, 'tokens');
  const text = ['# CI tokens', '', `carol ${digest('carol-token')}`, '   # indented comment', `dave\t${digest('dave-token').toUpperCase()}  `, ''].join('\r\n');
  await writeFile(file, text);
  return file;
}

t.test('Basic: passwords with colons and non-ASCII, admins, case-insensitive scheme', async (t) => {
  const c = await open(t, { htpasswdFile: await usersFile(t), admins: ['alice'] });
  t.same(await c.authenticate(basic('alice', ALICE_PW)), { user: 'alice', admin: true, scheme: 'basic' });
  t.same(await c.authenticate(basic('bob', BOB_PW)), { user: 'bob', admin: false, scheme: 'basic' });
  t.same(await c.authenticate(basic('bob', BOB_PW).replace('Basic', 'bASIC')), { user: 'bob', admin: false, scheme: 'basic' });
  t.same(c.challenges, ['Basic realm="ferry", charset="UTF-8"']);
  t.equal(await c.authenticate(basic('alice', 'se:cr')), null, 'wrong password');
  t.equal(await c.authenticate(basic('alice', '')), null, 'empty password');
  t.equal(await c.authenticate(basic('mallory', ALICE_PW)), null, 'unknown user');
  t.equal(await c.authenticate(basic('ALICE', ALICE_PW)), null, 'user names are case-sensitive');
  t.equal(await c.authenticate(`Bearer ${digest('x')}`), null, 'no tokens file: Bearer is refused');
});

t.test('malformed headers are refused, never thrown', async (t) => {
  const c = await open(t, { htpasswdFile: await usersFile(t), tokensFile: await tokensFile(t) });
  const good = basic('alice', ALICE_PW);
  const payload = good.slice('Basic '.length);
  const headers: (string | undefined)[] = [
    undefined,
    '',
    '   ',
    'Basic',
    'Basic ',
    'Basic !!!!',
    `Basic ${payload}!`,
    `Basic ${payload}==`,
    `Basic ${payload} extra`,
    `Basic${payload}`,
    `Basic ${Buffer.from('alice').toString('base64')}`,
    `Basic ${Buffer.from(`:${ALICE_PW}`).toString('base64')}`,
    `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`,
    'Bearer',
    'Bearer ',
    'Bearer carol-token extra',
    'Bearer caröl-token',
    `Digest ${payload}`,
    `Token carol-token`,
    'carol-token',
    `Basic ${'A'.repeat(100_000)}`,
    `Bearer ${'a'.repeat(100_000)}`,
    `Basic ${Buffer.from(`alice:${'x'.repeat(20_000)}`).toString('base64')}`,
  ];
  for (const h of headers) t.equal(await c.authenticate(h), null, JSON.stringify(h?.slice(0, 40)));
  t.ok(await c.authenticate(good), 'the well-formed header still works');
  t.ok(await c.authenticate(`  ${good}  `), 'surrounding whitespace is ignored');
});

t.test('Bearer: tokens file with comments, blank lines, CRLF and upper-case hex', async (t) => {
  const c = await open(t, { tokensFile: await tokensFile(t), admins: ['dave'] });
  t.same(c.challenges, ['Bearer realm="ferry"']);
  t.same(await c.authenticate('Bearer carol-token'), { user: 'carol', admin: false, scheme: 'bearer' });
  t.same(await c.authenticate('bearer dave-token'), { user: 'dave', admin: true, scheme: 'bearer' });
  t.same(await c.authenticate('BEARER dave-token'), { user: 'dave', admin: true, scheme: 'bearer' });
  t.equal(await c.authenticate('Bearer dave-token2'), null);
  t.equal(await c.authenticate(`Bearer ${digest('carol-token')}`), null, 'the digest is not the token');
  t.equal(await c.authenticate(basic('carol', 'carol-token')), null, 'no htpasswd file: Basic is refused');
});

t.test('both files: both challenges, both schemes', async (t) => {
  const c = await open(t, { htpasswdFile: await usersFile(t), tokensFile: await tokensFile(t), admins: ['alice', 'carol'] });
  t.same(c.challenges, ['Basic realm="ferry", charset="UTF-8"', 'Bearer realm="ferry"']);
  t.same(await c.authenticate(basic('alice', ALICE_PW)), { user: 'alice', admin: true, scheme: 'basic' });
  t.same(await c.authenticate('Bearer carol-token'), { user: 'carol', admin: true, scheme: 'bearer' });
  const none = await open(t, {});
  t.same(none.challenges, []);
  t.equal(await none.authenticate(basic('alice', ALICE_PW)), null);
});

t.test('open refuses bad files, naming the file and line, echoing no secret', async (t) => {
  const dir = await tempDir(t, 'ferry-auth-');
  const file = path.join(dir, 'htpasswd');
  await htpasswd(file, 'alice', ALICE_PW, ['-B', '-c']);
  for (const [flag, what] of [['-m', /MD5 \(\$apr1\$\)/], ['-s', /SHA-1/], ['-d', /crypt or plain-text/], ['-p', /crypt or plain-text/]] as const) {
    await htpasswd(file, 'eve', 'evepass', [flag]);
    const text = await readFile(file, 'utf8');
    const hash = text.split('\n')[1]!.split(':')[1]!;
    const err = await Credentials.open({ htpasswdFile: file, admins: [], logger: pino({ level: 'silent' }) }).then(
      () => null,
      (e: Error) => e,
    );
    t.ok(err, `${flag} entry refused`);
    t.match(err!.message, `${file} line 2: user "eve" has`);
    t.match(err!.message, what);
    t.match(err!.message, 'only bcrypt entries (htpasswd -B)');
    t.notOk(err!.message.includes(hash), 'the hash is not in the message');
  }
  await writeFile(file, `alice:$2y$05$${'a'.repeat(53)}\nalice:$2y$05$${'b'.repeat(53)}\n`);
  await t.rejects(Credentials.open({ htpasswdFile: file, admins: [], logger: pino({ level: 'silent' }) }), { message: `${file} line 2: user "alice" is listed again (first on line 1)` });
  await writeFile(file, `alice:$2y$31$${'a'.repeat(53)}\n`);
  await t.rejects(Credentials.open({ htpasswdFile: file, admins: [], logger: pino({ level: 'silent' }) }), { message: /line 1: .*cost 31/ });
  await writeFile(file, `no-colon-here\n`);
  await t.rejects(Credentials.open({ htpasswdFile: file, admins: [], logger: pino({ level: 'silent' }) }), { message: `${file} line 1: expected USER:HASH` });

  const tokens = path.join(dir, 'tokens');
  await writeFile(tokens, `# ok\n\ncarol ${digest('a')}\ndave the-plain-token-pasted-by-mistake\n`);
  const err = await Credentials.open({ tokensFile: tokens, admins: [], logger: pino({ level: 'silent' }) }).then(
    () => null,
    (e: Error) => e,
  );
  t.match(err?.message, `${tokens} line 4: expected USER and the sha256 of the token in hex`);
  t.notOk(err?.message.includes('the-plain-token'), 'the line is not echoed');
  await writeFile(tokens, `carol ${digest('a')}\ndave ${digest('a').toUpperCase()}\n`);
  await t.rejects(Credentials.open({ tokensFile: tokens, admins: [], logger: pino({ level: 'silent' }) }), { message: `${tokens} line 2: the same token digest is listed again (first on line 1)` });
  await t.rejects(Credentials.open({ tokensFile: path.join(dir, 'missing'), admins: [], logger: pino({ level: 'silent' }) }), {
    message: `Cannot read the tokens file ${path.join(dir, 'missing')}: ENOENT`,
  });
});

t.test('successful Basic checks are cached; unknown users cost a bcrypt too', async (t) => {
  const dir = await tempDir(t, 'ferry-auth-');
  const file = path.join(dir, 'htpasswd');
  // Cost 12: slow enough (hundreds of ms in bcryptjs) that the timings below are clear.
  await htpasswd(file, 'alice', ALICE_PW, ['-B', '-C', '12', '-c']);
  const c = await open(t, { htpasswdFile: file });
  const time = async (h: string): Promise<number> => {
    const start = performance.now();
    await c.authenticate(h);
    return performance.now() - start;
  };
  const wrong = await time(basic('alice', 'nope'));
  const unknown = await time(basic('nobody', 'nope'));
  t.ok(unknown > wrong / 2, `unknown user ${unknown.toFixed(0)} ms, wrong password ${wrong.toFixed(0)} ms`);
  const first = await time(basic('alice', ALICE_PW));
  const second = await time(basic('alice', ALICE_PW));
  t.ok(second < first / 5, `cached: ${second.toFixed(1)} ms after ${first.toFixed(0)} ms`);
  const [a, b] = await Promise.all([c.authenticate(basic('alice', 'again')), c.authenticate(basic('alice', 'again'))]);
  t.same([a, b], [null, null], 'parallel identical checks agree');
});

t.test('reload() picks up added, changed and removed users and tokens; the cache is cleared', async (t) => {
  const file = await usersFile(t);
  const tokens = await tokensFile(t);
  const c = await open(t, { htpasswdFile: file, tokensFile: tokens, watch: false });
  t.ok(await c.authenticate(basic('alice', ALICE_PW)), 'alice, now cached');
  await htpasswd(file, 'erin', 'erin-pw', ['-B']);
  await htpasswd(file, 'alice', 'new-pw', ['-B']);
  await writeFile(tokens, `frank ${digest('frank-token')}\n`);
  t.equal(await c.authenticate(basic('erin', 'erin-pw')), null, 'not watching: no change yet');
  await c.reload();
  t.same(await c.authenticate(basic('erin', 'erin-pw')), { user: 'erin', admin: false, scheme: 'basic' });
  t.equal(await c.authenticate(basic('alice', ALICE_PW)), null, 'the old password is no longer cached');
  t.ok(await c.authenticate(basic('alice', 'new-pw')));
  t.ok(await c.authenticate('Bearer frank-token'));
  t.equal(await c.authenticate('Bearer carol-token'), null, 'a removed token');
  await run('/usr/bin/htpasswd', ['-D', file, 'erin']);
  t.ok(await c.authenticate(basic('erin', 'erin-pw')), 'still cached before the reload');
  await c.reload();
  t.equal(await c.authenticate(basic('erin', 'erin-pw')), null, 'a removed user');
});

t.test('a bad file on reload keeps the last good contents and logs an error without secrets', async (t) => {
  const file = await usersFile(t);
  const tokens = await tokensFile(t);
  const { logger, lines } = captureLogger();
  const c = await open(t, { htpasswdFile: file, tokensFile: tokens, watch: false, logger });
  await htpasswd(file, 'eve', 'evepass', ['-m']);
  const md5 = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith('eve:'))!.slice(4);
  await writeFile(tokens, 'carol not-a-digest\n');
  await c.reload();
  t.ok(await c.authenticate(basic('alice', ALICE_PW)), 'alice still works');
  t.ok(await c.authenticate('Bearer carol-token'), 'carol still works');
  t.equal(await c.authenticate(basic('eve', 'evepass')), null);
  const errors = lines.map((l) => JSON.parse(l) as { level: number; file?: string; err?: string }).filter((l) => l.level >= 50);
  t.same(
    errors.map((e) => e.file),
    [file, tokens],
  );
  t.match(errors[0]?.err, 'only bcrypt entries (htpasswd -B)');
  await rm(file);
  await c.reload();
  t.ok(await c.authenticate(basic('bob', BOB_PW)), 'a removed file keeps the last good contents too');
  t.match(lines.at(-2), 'ENOENT');
  const all = lines.join('\n');
  const secrets = [ALICE_PW, BOB_PW, 'evepass', 'carol-token', digest('carol-token'), '$2y$', md5, basic('alice', ALICE_PW).slice(6)];
  for (const s of secrets) t.notOk(all.includes(s), `no ${s.slice(0, 8)}… in the logs`);
  t.ok(all.includes('"user":"alice"') || all.includes('htpasswd file read'), 'the logs do say something');
});

t.test('watching: changes in place and by rename are picked up without reload()', async (t) => {
  const file = await usersFile(t);
  const tokens = await tokensFile(t);
  // A poll of an hour: these changes must be seen by fs.watch.
  const c = await open(t, { htpasswdFile: file, tokensFile: tokens, admins: ['erin'], watchTiming: { debounceMs: 50, pollMs: 3_600_000 } });
  const works = (h: string) => async () => (await c.authenticate(h)) !== null;
  const fails = (h: string) => async () => (await c.authenticate(h)) === null;

  // htpasswd rewrites the file in place.
  await htpasswd(file, 'erin', 'erin-pw', ['-B']);
  t.ok(await eventually(works(basic('erin', 'erin-pw'))), 'an added user, in place');
  t.same(await c.authenticate(basic('erin', 'erin-pw')), { user: 'erin', admin: true, scheme: 'basic' });
  await run('/usr/bin/htpasswd', ['-D', file, 'erin']);
  t.ok(await eventually(fails(basic('erin', 'erin-pw'))), 'a removed user, in place (its cached check is dropped)');

  // An editor's save: a new file renamed over the old one.
  const text = await readFile(file, 'utf8');
  const scratch = path.join(path.dirname(file), 'htpasswd.new');
  await writeFile(scratch, text);
  await htpasswd(scratch, 'gina', 'gina-pw', ['-B']);
  await rename(scratch, file);
  t.ok(await eventually(works(basic('gina', 'gina-pw'))), 'an added user, by rename');
  const without = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => !l.startsWith('gina:'))
    .join('\n');
  await writeFile(scratch, without);
  await rename(scratch, file);
  t.ok(await eventually(fails(basic('gina', 'gina-pw'))), 'a removed user, by rename');
  t.ok(await c.authenticate(basic('alice', ALICE_PW)), 'the others stay');

  // The watch keeps working after a rename, and sees the tokens file too.
  await writeFile(`${tokens}.new`, `henry ${digest('henry-token')}\n`);
  await rename(`${tokens}.new`, tokens);
  t.ok(await eventually(works('Bearer henry-token')), 'a new tokens file, by rename');
  t.ok(await eventually(fails('Bearer carol-token')), 'its removed token');

  // A bad version is skipped; the fixed one is taken.
  await writeFile(tokens, 'henry oops\n');
  await new Promise((r) => setTimeout(r, 500));
  t.ok(await c.authenticate('Bearer henry-token'), 'a bad file keeps the last good contents');
  await writeFile(tokens, `ivy ${digest('ivy-token')}\n`);
  t.ok(await eventually(works('Bearer ivy-token')), 'the fixed file is read');

  c.close();
  await htpasswd(file, 'jack', 'jack-pw', ['-B']);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await c.authenticate(basic('jack', 'jack-pw')), null, 'closed: no longer watching');
});

t.test('the poll notices a change when no watch event does', async (t) => {
  const dir = await tempDir(t, 'ferry-auth-');
  const tokens = path.join(dir, 'tokens');
  await writeFile(tokens, `carol ${digest('carol-token')}\n`);
  const c = await open(t, { tokensFile: tokens, watchTiming: { debounceMs: 3_600_000, pollMs: 100 } });
  await writeFile(tokens, `kim ${digest('kim-token')}\n`);
  t.ok(await eventually(async () => (await c.authenticate('Bearer kim-token')) !== null), 'the poll read the new file');
});
