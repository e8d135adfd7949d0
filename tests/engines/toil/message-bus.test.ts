import { appendFile, mkdtemp, readFile, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';

import { MessageBusReplay, type MessageBusReplayOptions } from '../../../src/engines/toil/message-bus.js';
import { decodePythonEscapes } from '../../../src/engines/toil/bus-fields.js';
import type { JobStatus } from '../../../src/engines/toil/message-bus.js';

/** A whole log replayed once, as Toil's `replay_message_bus` does: jobs by job-store id, in first-seen order. */
async function replayMessageBus(file: string, opts: MessageBusReplayOptions = {}): Promise<Map<string, JobStatus>> {
  const replay = new MessageBusReplay(file, opts);
  await replay.update();
  return new Map(replay.jobs().map((j) => [j.job_store_id, j]));
}

const fixtures = fileURLToPath(new URL('../../fixtures/toil-bus/', import.meta.url));
const SMB = 'SingleMachineBatchSystem';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A clock that ticks once per reading, so timestamps show the order of events. */
function counter(start = 1000): () => number {
  let n = start;
  return () => n++;
}

/** What Python's `str.encode('unicode_escape')` produces (lower-case hex). */
function pyEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0x100)) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0x100 && cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else if (cp >= 0x10000) out += `\\U${cp.toString(16).padStart(8, '0')}`;
    else out += ch;
  }
  return out;
}

function msg(topic: string, ...fields: (string | number)[]): string {
  return `toil.bus.${topic}\t${fields.map((f) => (typeof f === 'number' ? String(f) : pyEscape(f))).join('\t')}\n`;
}

/** The parts of a status that do not depend on the clock. */
function summary(j: JobStatus) {
  return {
    id: j.job_store_id,
    name: j.name,
    exit: j.exit_code,
    batch: j.toil_batch_id,
    external: j.external_batch_id,
    system: j.batch_system,
    finished: j.finished_at !== null,
  };
}

// ---------------------------------------------------------------------------
// The real logs from Toil 5.9.

t.test('wf12.bus: a successful two-step CWL workflow', async (t) => {
  const jobs = await replayMessageBus(path.join(fixtures, 'wf12.bus'));
  t.same([...jobs.values()].map(summary), [
    { id: 'kind-CWLWorkflow/instance-prjpqr5i', name: 'wf12.cwl', exit: 0, batch: '0', external: '13525', system: SMB, finished: true },
    { id: 'kind-CWLJob/instance-wj9bf93s', name: 'wf12.cwl.upper.upper.cwl', exit: 0, batch: '1', external: '13528', system: SMB, finished: true },
    { id: 'kind-ResolveIndirect/instance-zu7tk1mu', name: 'wf12.cwl._resolve', exit: 0, batch: '2', external: '13536', system: SMB, finished: true },
  ]);
  t.same([...jobs.keys()], [...jobs.values()].map((j) => j.job_store_id), 'keyed by job store id');
  for (const j of jobs.values()) t.same({ ...j.annotations }, {});
});

t.test('fail.bus: retried once, then failed', async (t) => {
  const jobs = await replayMessageBus(path.join(fixtures, 'fail.bus'));
  t.same([...jobs.values()].map(summary), [
    { id: 'kind-CWLJob/instance-zsrl4i7n', name: 'fail.cwl', exit: 1, batch: '1', external: '15377', system: SMB, finished: true },
  ]);
});

t.test('fail.bus step by step: the retry shows as running again', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const lines = (await readFile(path.join(fixtures, 'fail.bus'), 'utf8')).split(/(?<=\n)/);
  const replay = new MessageBusReplay(log, { now: counter() });
  const seen: (number | string | null)[][] = [];
  await writeFile(log, '');
  for (const line of lines) {
    await appendFile(log, line);
    await replay.update();
    const j = replay.jobs()[0];
    if (j) seen.push([j.exit_code, j.toil_batch_id, j.external_batch_id, j.finished_at === null ? 'running' : 'done']);
  }
  t.same(seen, [
    [0, null, null, 'running'], // JobUpdated comes before the first JobIssued
    [-1, '0', null, 'running'], // issued
    [-1, '0', null, 'running'], // queue size
    [1, '0', null, 'done'], // completed with 1
    [1, '0', '15287', 'done'], // external id of the first attempt
    [1, '0', '15287', 'done'], // updated
    [-1, '1', null, 'running'], // issued again: the earlier attempt's pid no longer applies
    [-1, '1', null, 'running'],
    [1, '1', null, 'done'],
    [1, '1', '15377', 'done'],
    [1, '1', '15377', 'done'],
    [1, '1', '15377', 'done'], // failed: exit code stays 1
  ]);
});

t.test('sleep.bus: killed with -15, re-issued, log stops', async (t) => {
  const jobs = await replayMessageBus(path.join(fixtures, 'sleep.bus'));
  t.same([...jobs.values()].map(summary), [
    { id: 'kind-CWLJob/instance-_1nrjspi', name: 'sleep.cwl', exit: -1, batch: '1', external: null, system: null, finished: false },
  ]);

  // Just before the re-issue, the job had completed with -15.
  const dir = await tempDir(t);
  const text = await readFile(path.join(fixtures, 'sleep.bus'), 'utf8');
  const cut = text.indexOf('toil.bus.JobIssuedMessage', text.indexOf('-15'));
  await writeFile(path.join(dir, 'bus'), text.slice(0, cut));
  const before = await replayMessageBus(path.join(dir, 'bus'));
  t.same([...before.values()].map(summary), [
    { id: 'kind-CWLJob/instance-_1nrjspi', name: 'sleep.cwl', exit: -15, batch: '0', external: '16347', system: SMB, finished: true },
  ]);
});

t.test('py.bus: root, two children and a follow-on, all fine', async (t) => {
  const replay = new MessageBusReplay(path.join(fixtures, 'py.bus'), { now: counter() });
  await replay.update();
  t.same(replay.jobs().map(summary), [
    { id: 'kind-root/instance-4eca2tnk', name: 'root', exit: 0, batch: '0', external: '19049', system: SMB, finished: true },
    { id: 'kind-greet/instance-84fglm9d', name: 'greet', exit: 0, batch: '1', external: '19052', system: SMB, finished: true },
    { id: 'kind-greet/instance-fahqec2u', name: 'greet', exit: 0, batch: '2', external: '19053', system: SMB, finished: true },
    { id: 'kind-combine/instance-tbtcafx3', name: 'combine', exit: 0, batch: '3', external: '19058', system: SMB, finished: true },
  ]);
  // Timestamps follow the log: first sighting, then completion.
  const [root, g1, g2, combine] = replay.jobs();
  t.ok(root && g1 && g2 && combine);
  if (!root || !g1 || !g2 || !combine) return;
  t.ok(root.issued_at < (root.finished_at as number));
  t.ok((root.finished_at as number) < g1.issued_at, 'children are issued after the root job ran');
  t.ok(g1.issued_at < g2.issued_at);
  t.ok((g2.finished_at as number) < (g1.finished_at as number), 'the second child finished first');
  t.ok((g1.finished_at as number) < combine.issued_at, 'the follow-on waits for both');
  t.same(replay.job('kind-combine/instance-tbtcafx3')?.name, 'combine');
  t.equal(replay.job('nope'), undefined);
});

t.test('the fixtures give the same result read whole or byte by byte', async (t) => {
  const dir = await tempDir(t);
  for (const name of ['wf12.bus', 'fail.bus', 'sleep.bus', 'py.bus']) {
    const bytes = await readFile(path.join(fixtures, name));
    const whole = new MessageBusReplay(path.join(fixtures, name), { now: () => 0 });
    await whole.update();
    const log = path.join(dir, name);
    await writeFile(log, '');
    const trickle = new MessageBusReplay(log, { now: () => 0 });
    for (let i = 0; i < bytes.length; i += 7) {
      await appendFile(log, bytes.subarray(i, i + 7));
      await trickle.update();
    }
    t.same(trickle.jobs(), whole.jobs(), name);
    t.equal(trickle.offset, bytes.length);
  }
});

// ---------------------------------------------------------------------------
// Incremental reading.

t.test('a missing file is empty until it appears', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  t.same([...(await replayMessageBus(log)).entries()], []);
  const replay = new MessageBusReplay(log);
  await replay.update();
  t.same(replay.jobs(), []);
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0));
  await replay.update();
  t.same(replay.jobs().map((j) => j.name), ['a']);
});

t.test('a half-written last line waits for its newline', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const clock = counter();
  const replay = new MessageBusReplay(log, { now: clock });
  const full = msg('JobIssuedMessage', 'step', 'j1', 7) + msg('JobUpdatedMessage', 'j1', 12);
  // Cut the second line where it would still parse: `...\tj1\t1`.
  const cut = full.length - 2;
  await writeFile(log, full.slice(0, cut));
  await replay.update();
  t.same(replay.jobs().map(summary), [
    { id: 'j1', name: 'step', exit: -1, batch: '7', external: null, system: null, finished: false },
  ]);
  t.equal(replay.offset, full.indexOf('\n') + 1, 'the partial line is not consumed');
  await replay.update();
  t.equal(replay.jobs()[0]?.exit_code, -1, 'still not applied');
  await appendFile(log, full.slice(cut));
  await replay.update();
  t.equal(replay.jobs()[0]?.exit_code, 12, 'applied whole, not as `1`');
  t.equal(replay.offset, full.length);
});

t.test('a first line cut mid-topic is not applied early', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  await writeFile(log, 'toil.bus.JobIss');
  await replay.update();
  t.same(replay.jobs(), []);
  t.equal(replay.offset, 0);
  await appendFile(log, 'uedMessage\tx\tj\t0\n');
  await replay.update();
  t.same(replay.jobs().map((j) => j.name), ['x']);
});

t.test('reads only what was appended', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log, { now: counter() });
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0));
  await replay.update();
  const first = replay.job('j1');
  await appendFile(log, msg('JobCompletedMessage', 'a', 'j1', 0));
  await replay.update();
  await replay.update();
  const j = replay.job('j1');
  t.equal(j?.issued_at, first?.issued_at, 'issued_at is from the first sighting');
  t.equal(j?.finished_at, (first?.issued_at as number) + 1, 'the completion was applied once');
  t.equal(replay.offset, (await readFile(log)).length);
});

t.test('overlapping update() calls do not apply lines twice', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  let text = '';
  for (let i = 0; i < 500; i++) text += msg('JobIssuedMessage', `n${i}`, `j${i}`, i) + msg('JobCompletedMessage', `n${i}`, `j${i}`, 0);
  await writeFile(log, text);
  let ticks = 0;
  const replay = new MessageBusReplay(log, { now: () => ticks++ });
  await Promise.all([replay.update(), replay.update(), replay.update()]);
  t.equal(replay.jobs().length, 500);
  t.equal(ticks, 1000, 'each job seen once and finished once');
});

t.test('lines crossing read-chunk boundaries', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  let text = '';
  for (let i = 0; i < 3000; i++) {
    text += msg('JobIssuedMessage', `name-${'x'.repeat(i % 97)}-${i}`, `kind-J/instance-${i}`, i);
    text += msg('ExternalBatchIdMessage', i, String(100000 + i), SMB);
    text += msg('JobCompletedMessage', `name-${'x'.repeat(i % 97)}-${i}`, `kind-J/instance-${i}`, i % 3);
  }
  t.ok(text.length > 4 * 64 * 1024);
  await writeFile(log, text);
  const jobs = [...(await replayMessageBus(log)).values()];
  t.equal(jobs.length, 3000);
  let bad = 0;
  jobs.forEach((j, i) => {
    if (j.job_store_id !== `kind-J/instance-${i}` || j.name !== `name-${'x'.repeat(i % 97)}-${i}` ||
        j.exit_code !== i % 3 || j.external_batch_id !== String(100000 + i)) bad++;
  });
  t.equal(bad, 0);
});

t.test('truncation restarts the replay', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  await writeFile(log, msg('JobIssuedMessage', 'old', 'old1', 0) + msg('JobIssuedMessage', 'old', 'old2', 1));
  await replay.update();
  t.equal(replay.jobs().length, 2);
  await truncate(log, 0);
  await replay.update();
  t.same(replay.jobs(), [], 'emptied');
  await appendFile(log, msg('JobIssuedMessage', 'new', 'new1', 0));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['new1']);
});

t.test('a rewrite that grew past the old offset is noticed', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  // Like `--restart`: same first line, then different messages.
  const first = msg('JobUpdatedMessage', 'root', 0) + msg('JobIssuedMessage', 'root', 'root', 0);
  await writeFile(log, first + msg('JobIssuedMessage', 'a', 'a1', 1));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['root', 'a1']);
  await writeFile(log, first + msg('JobIssuedMessage', 'bb', 'b1', 1) + msg('JobIssuedMessage', 'c', 'c1', 2));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['root', 'b1', 'c1']);
});

t.test('a rewrite with a different start is noticed', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  await writeFile(log, msg('JobIssuedMessage', 'a', 'x1', 0));
  await replay.update();
  // Same length, same inode, different bytes.
  await writeFile(log, msg('JobIssuedMessage', 'b', 'y1', 0));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['y1']);
});

t.test('a replaced file (new inode) is read from the start', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0));
  await replay.update();
  const other = path.join(dir, 'other');
  // Longer than the first file, and starting the same way.
  await writeFile(other, msg('JobIssuedMessage', 'a', 'j1', 0) + msg('JobIssuedMessage', 'b', 'j2', 1));
  await rename(other, log);
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['j1', 'j2']);
  t.equal(replay.jobs().length, 2);
});

t.test('a log deleted after reading keeps what was learnt', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0));
  await replay.update();
  await unlink(log);
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['j1']);
  await writeFile(log, msg('JobIssuedMessage', 'z', 'z1', 0));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['z1'], 'a new file starts over');
});

t.test('other I/O errors are reported', async (t) => {
  const dir = await tempDir(t);
  const replay = new MessageBusReplay(dir);
  await t.rejects(replay.update(), { code: 'EISDIR' });
  await t.rejects(replay.update(), { code: 'EISDIR' }, 'the queue survives a failure');
});

// ---------------------------------------------------------------------------
// Message semantics.

t.test('unknown topics and ignored messages change nothing', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, [
    msg('QueueSizeMessage', 3),
    msg('ClusterSizeMessage', 't4g.medium', 2),
    msg('ClusterDesiredSizeMessage', 't4g.medium', 5),
    msg('JobMissingMessage', 'ghost'),
    msg('SomethingNewMessage', 'j1', 'x'),
    'other.module.Thing\tj1\t5\n',
    msg('JobIssuedMessage', 'a', 'j1', 0),
    'toil.bus.FutureMessage\tj1\t99\n',
  ].join(''));
  const jobs = [...(await replayMessageBus(log)).values()];
  t.same(jobs.map(summary), [{ id: 'j1', name: 'a', exit: -1, batch: '0', external: null, system: null, finished: false }]);
});

t.test('topics are matched by class name', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, 'JobIssuedMessage\ta\tj1\t0\ntoil.lib.bus.JobCompletedMessage\ta\tj1\t3\n');
  t.same([...(await replayMessageBus(log)).values()].map((j) => j.exit_code), [3]);
});

t.test('annotations keep the last value', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, [
    msg('JobAnnotationMessage', 'j1', 'aws_batch_id', 'early'), // before the job is issued
    msg('JobIssuedMessage', 'a', 'j1', 0),
    msg('JobAnnotationMessage', 'j1', 'aws_batch_id', 'abc-123'),
    msg('JobAnnotationMessage', 'j1', 'note', 'tab\there, caf\u00e9'),
    msg('JobAnnotationMessage', 'j1', '__proto__', 'plain key'),
    msg('JobAnnotationMessage', 'j1', 'empty', ''),
    msg('JobAnnotationMessage', 'j2', 'k', 'v'),
  ].join(''));
  const jobs = await replayMessageBus(log);
  const j1 = jobs.get('j1');
  t.same({ ...j1?.annotations }, { aws_batch_id: 'abc-123', note: 'tab\there, caf\u00e9', ['__proto__']: 'plain key', empty: '' }, 'last value wins');
  t.equal(Object.getPrototypeOf(j1?.annotations), null);
  t.equal(JSON.parse(JSON.stringify(j1))?.annotations.__proto__, 'plain key', 'survives JSON');
  t.same({ ...jobs.get('j2')?.annotations }, { k: 'v' });
  t.equal(jobs.get('j2')?.name, '', 'name unknown until issued');
});

t.test('unicode-escaped fields are decoded', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const names = ['caf\u00e9', '\u2603 snow', 'smile \u{1f600}', 'tab\tnew\nline\\back', 'ctl\u0001\u007f', 'quote\'"'];
  await writeFile(log, names.map((n, i) => msg('JobIssuedMessage', n, `id-${n}`, i)).join(''));
  // What Python writes, spelled out for two of them.
  t.match(await readFile(log, 'utf8'), /\tcaf\\xe9\t/);
  t.match(await readFile(log, 'utf8'), /\t\\u2603 snow\t/);
  const jobs = [...(await replayMessageBus(log)).values()];
  t.same(jobs.map((j) => j.name), names);
  t.same(jobs.map((j) => j.job_store_id), names.map((n) => `id-${n}`));
});

t.test('raw non-ASCII bytes: UTF-8 when valid, else Latin-1', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, Buffer.concat([
    Buffer.from('toil.bus.JobIssuedMessage\tcaf'), Buffer.from([0xc3, 0xa9]), Buffer.from('\tj1\t0\n'),
    Buffer.from('toil.bus.JobIssuedMessage\tbad'), Buffer.from([0xff, 0xe9]), Buffer.from('\tj2\t1\n'),
  ]));
  t.same([...(await replayMessageBus(log)).values()].map((j) => j.name), ['caf\u00e9', 'bad\u00ff\u00e9']);
});

t.test('garbage lines, NUL bytes and bad fields do not crash', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, Buffer.concat([
    Buffer.from('\n\n\t\t\t\n'),
    Buffer.from('not a message at all\n'),
    Buffer.from([0, 0, 0, 0x0a]),
    Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x09, 0x00, 0x0a]),
    Buffer.from('toil.bus.JobIssuedMessage\n'), // no fields
    Buffer.from('toil.bus.JobIssuedMessage\tonly-type\n'), // too few
    Buffer.from('toil.bus.JobUpdatedMessage\tj9\tNaN\n'), // not an int
    Buffer.from('toil.bus.JobUpdatedMessage\tj9\t1e3\n'),
    Buffer.from('toil.bus.JobUpdatedMessage\tj9\t99999999999999999999\n'),
    Buffer.from('toil.bus.JobCompletedMessage\tx\tj9\t\n'), // empty exit code
    Buffer.from('toil.bus.JobIssuedMessage\tbroken \\x4 \\u12 \\U00110000 \\q \\N{SNOWMAN} end\\\tj1\t0\n'),
    Buffer.from('toil.bus.JobIssuedMessage\tnul\u0000in\\x00name\tj2\t1\n'),
    Buffer.from('toil.bus.JobIssuedMessage\tx\tj3\t2\textra\tfields\n'), // more fields than known
    Buffer.from('toil.bus.JobUpdatedMessage\tj3\t 4 \n'),
  ]));
  const jobs = await replayMessageBus(log);
  t.same([...jobs.keys()], ['j1', 'j2', 'j3'], 'malformed messages create no jobs');
  t.equal(jobs.get('j1')?.name, 'broken \\x4 \\u12 \\U00110000 \\q \\N{SNOWMAN} end\\', 'broken escapes kept as written');
  t.equal(jobs.get('j2')?.name, 'nul\u0000in\u0000name');
  t.equal(jobs.get('j3')?.toil_batch_id, '2');
  t.equal(jobs.get('j3')?.exit_code, 4);
});

t.test('CRLF line endings are tolerated', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, 'toil.bus.JobIssuedMessage\ta\tj1\t0\r\ntoil.bus.JobCompletedMessage\ta\tj1\t2\r\n');
  const j = (await replayMessageBus(log)).get('j1');
  t.equal(j?.name, 'a');
  t.equal(j?.toil_batch_id, '0');
  t.equal(j?.exit_code, 2);
});

t.test('overlong lines are skipped, even while still being written', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  const replay = new MessageBusReplay(log);
  const huge = `toil.bus.JobIssuedMessage\t${'h'.repeat(2 * 1024 * 1024)}\thuge\t0`;
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0) + huge.slice(0, 1500 * 1024));
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['j1']);
  t.ok(replay.offset > 1024 * 1024, 'the overlong part is consumed, not re-read');
  await appendFile(log, `${huge.slice(1500 * 1024)}\n${msg('JobIssuedMessage', 'b', 'j2', 1)}`);
  await replay.update();
  t.same(replay.jobs().map((j) => j.job_store_id), ['j1', 'j2']);
  t.equal(replay.offset, (await readFile(log)).length);
});

t.test('maxLineBytes sets the limit', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, msg('JobIssuedMessage', 'x'.repeat(100), 'long', 0) + msg('JobIssuedMessage', 'y', 'short', 1));
  const jobs = await replayMessageBus(log, { maxLineBytes: 64 });
  t.same([...jobs.keys()], ['short']);
  const all = await replayMessageBus(log, { maxLineBytes: 200 });
  t.same([...all.keys()], ['long', 'short']);
});

t.test('JobFailed turns exit 0 into 1 and keeps other codes', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, [
    msg('JobIssuedMessage', 'a', 'zero', 0), msg('JobCompletedMessage', 'a', 'zero', 0), msg('JobFailedMessage', 'a', 'zero'),
    msg('JobIssuedMessage', 'b', 'seven', 1), msg('JobCompletedMessage', 'b', 'seven', 7), msg('JobFailedMessage', 'b2', 'seven'),
    msg('JobIssuedMessage', 'c', 'never', 2), msg('JobFailedMessage', 'c', 'never'),
  ].join(''));
  const jobs = await replayMessageBus(log, { now: counter() });
  t.equal(jobs.get('zero')?.exit_code, 1);
  t.equal(jobs.get('seven')?.exit_code, 7);
  t.equal(jobs.get('seven')?.name, 'b2', 'the failure message names the job too');
  t.equal(jobs.get('never')?.exit_code, -1, 'as in Toil, a job failed while issued keeps -1');
  t.not(jobs.get('never')?.finished_at, null, 'but it is finished');
});

t.test('finished_at is the completion time, not the later failure', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j', 0) + msg('JobCompletedMessage', 'a', 'j', 1));
  const replay = new MessageBusReplay(log, { now: counter(5000) });
  await replay.update();
  t.equal(replay.job('j')?.issued_at, 5000);
  t.equal(replay.job('j')?.finished_at, 5001);
  await appendFile(log, msg('JobFailedMessage', 'a', 'j'));
  await replay.update();
  t.equal(replay.job('j')?.finished_at, 5001);
});

t.test('external batch ids attach to the issue they belong to', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, [
    msg('ExternalBatchIdMessage', 9, 'orphan', SMB), // unknown batch id
    msg('JobIssuedMessage', 'a', 'j1', 0),
    msg('JobIssuedMessage', 'b', 'j2', 1),
    msg('ExternalBatchIdMessage', 1, 'slurm-42', 'SlurmBatchSystem'),
    msg('JobCompletedMessage', 'a', 'j1', 1),
    msg('JobIssuedMessage', 'a', 'j1', 2),
    msg('ExternalBatchIdMessage', 0, 'late-for-first-try', SMB), // after the re-issue
    msg('ExternalBatchIdMessage', 2, '555', SMB),
    msg('ExternalBatchIdMessage', 2, 'weird\\name', 'X\u00e9'),
  ].join(''));
  const jobs = await replayMessageBus(log);
  t.same([...jobs.values()].map(summary), [
    { id: 'j1', name: 'a', exit: -1, batch: '2', external: 'weird\\name', system: 'X\u00e9', finished: false },
    { id: 'j2', name: 'b', exit: -1, batch: '1', external: 'slurm-42', system: 'SlurmBatchSystem', finished: false },
  ]);
});

t.test('the message format of Toil before 5.9 is understood', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  // JobIssued without batch id, JobCompleted without exit code.
  await writeFile(log, [
    msg('JobIssuedMessage', 'old', 'j1'),
    msg('JobCompletedMessage', 'old', 'j1'),
    msg('JobUpdatedMessage', 'j1', 0),
  ].join(''));
  t.same([...(await replayMessageBus(log)).values()].map(summary), [
    { id: 'j1', name: 'old', exit: 0, batch: null, external: null, system: null, finished: true },
  ]);
});

t.test('jobs() and job() return copies', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'bus');
  await writeFile(log, msg('JobIssuedMessage', 'a', 'j1', 0) + msg('JobAnnotationMessage', 'j1', 'k', 'v'));
  const replay = new MessageBusReplay(log);
  await replay.update();
  const [j] = replay.jobs();
  if (!j) throw new Error('no job');
  j.name = 'changed';
  j.annotations.k = 'changed';
  const again = replay.job('j1');
  if (!again) throw new Error('no job');
  again.exit_code = 99;
  t.equal(replay.job('j1')?.name, 'a');
  t.equal(replay.job('j1')?.annotations.k, 'v');
  t.equal(replay.job('j1')?.exit_code, -1);
});

// ---------------------------------------------------------------------------
// The decoder on its own, against what CPython's unicode_escape gives.

t.test('decodePythonEscapes matches CPython', async (t) => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['caf\\xe9', 'caf\u00e9'],
    ['caf\\xE9', 'caf\u00e9'],
    ['\\u2603', '\u2603'],
    ['\\U0001f600', '\u{1f600}'],
    ['\\ud83d\\ude00', '\u{1f600}'],
    ['\\ud83d', '\ud83d'],
    ['\\t\\n\\r\\\\', '\t\n\r\\'],
    ["\\'\\\"", '\'"'],
    ['\\a\\b\\f\\v', '\x07\b\f\v'],
    ['\\101', 'A'],
    ['\\0', '\u0000'],
    ['\\777', '\u01ff'],
    ['\\1012', 'A2'],
    ['a\\\nb', 'ab'],
    ['\\q', '\\q'],
    ['\\x00', '\u0000'],
    // Where CPython raises, the text is kept.
    ['\\x4', '\\x4'],
    ['\\xg0', '\\xg0'],
    ['\\u12', '\\u12'],
    ['\\U00110000', '\\U00110000'],
    ['end\\', 'end\\'],
    ['\\N{SNOWMAN}', '\\N{SNOWMAN}'],
  ];
  for (const [input, want] of cases) {
    t.equal(decodePythonEscapes(Buffer.from(input, 'latin1')), want, JSON.stringify(input));
  }
});

t.test('decodePythonEscapes round-trips the unicode_escape encoding', async (t) => {
  const samples = ['', 'a\tb', '\\\\', 'caf\u00e9 \u00ff \u0100 \uffff \u{10ffff}', '\u0000\u001f\u007f\u0080', 'x\\ty'];
  for (const s of samples) t.equal(decodePythonEscapes(Buffer.from(pyEscape(s), 'latin1')), s, JSON.stringify(s));
});
