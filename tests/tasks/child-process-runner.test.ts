import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import { CwltoolEngine } from '../../src/engines/cwltool.js';
import { EngineRegistry } from '../../src/engines/registry.js';
import { ActiveRuns } from '../../src/runs/active-runs.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { RunKeys, ToilWorkflow, parseJsonArray } from '../../src/runs/workflow.js';
import { ChildProcessTaskRunner } from '../../src/tasks/child-process-runner.js';
import { findRunProcesses, killRunProcesses } from '../../src/tasks/run-processes.js';
import { readProcStat } from '../../src/util/process.js';
import { tempDir, workflowsDir } from '../helper.js';

/**
 * Whether a process has ended: gone, or a zombie (exited, its status not yet collected: the
 * sandbox's init, handed to the machine's init when bubblewrap exits, may wait a while for that).
 */
async function ended(pid: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat === null || stat.state === 'Z' || stat.state === 'X';
}

type Tap = Parameters<typeof tempDir>[0];

// The tests below use separate folders and runners: run them side by side.
t.jobs = 3;

const logger = pino({ level: 'silent' });
const engines = new EngineRegistry([new CwltoolEngine()]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Env {
  workDir: string;
  store: LocalStateStore;
  activeRuns: ActiveRuns;
}

async function env(t: Tap): Promise<Env> {
  const workDir = await tempDir(t, 'ferry-runner-');
  const storeRoot = path.join(workDir, 'state_store');
  return { workDir, store: new LocalStateStore(storeRoot), activeRuns: new ActiveRuns(storeRoot) };
}

function runner(t: Tap, e: Env, maxConcurrentRuns = 1): ChildProcessTaskRunner {
  const r = new ChildProcessTaskRunner({
    workDir: e.workDir,
    store: e.store,
    activeRuns: e.activeRuns,
    engines,
    maxConcurrentRuns,
    cancelGraceMs: 2000,
    logger,
  });
  t.teardown(() => r.close());
  return r;
}

/** A run on disk the way ToilBackend.RunWorkflow leaves it, QUEUED. */
async function createRun(e: Env, fixture: string, file: string, params: Record<string, unknown>): Promise<ToilWorkflow> {
  const runId = `run-${randomBytes(16).toString('hex')}`;
  const wf = new ToilWorkflow(e.workDir, e.store, runId);
  await fs.mkdir(wf.executionDir, { recursive: true });
  await fs.copyFile(path.join(workflowsDir, fixture, file), path.join(wf.executionDir, file));
  await fs.writeFile(wf.inputsPath, JSON.stringify(params, null, 2) + '\n');
  await fs.writeFile(wf.requestPath, JSON.stringify({ workflow_url: file, workflow_type: 'CWL', workflow_type_version: 'v1.0' }) + '\n');
  await Promise.all([
    wf.set(RunKeys.engine, 'cwltool'),
    wf.set(RunKeys.workflow, file),
    wf.set(RunKeys.engineOptions, '[]'),
    wf.set(RunKeys.submittedAt, new Date().toISOString()),
  ]);
  await e.activeRuns.add(runId);
  await wf.stateMachine.sendEnqueue();
  return wf;
}

/** The state as stored now (never the state machine's cache). */
const stored = (e: Env, wf: ToilWorkflow): Promise<string | null> => e.store.get(wf.runId, RunKeys.state);

/** Whether the run still has its active-run marker. */
const marked = async (e: Env, wf: ToilWorkflow): Promise<boolean> => (await e.activeRuns.list()).includes(wf.runId);

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the run's engine process exists (RUNNING is set just before the spawn). */
async function waitForEngine(e: Env, wf: ToilWorkflow): Promise<void> {
  await waitFor(`${wf.runId} RUNNING`, async () => (await stored(e, wf)) === 'RUNNING');
  await waitFor(`${wf.runId} engine process`, async () => (await findRunProcesses(wf.runId, wf.runDir)).length > 0);
}

t.test('queueing and cancelling with one slot', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 1);
  const first = await createRun(e, 'sleep', 'sleep.cwl', { seconds: 30 });
  const second = await createRun(e, 'sleep', 'sleep.cwl', { seconds: 30 });
  r.run(first.runId);
  r.run(second.runId);
  r.run(second.runId); // a second hand-over of the same run is ignored
  t.equal(r.queueLength, 1, 'the second waits for the slot');

  await waitForEngine(e, first);
  t.equal(await stored(e, first), 'RUNNING');
  await sleep(1000);
  t.equal(await stored(e, second), 'QUEUED', 'the second stays QUEUED while the first runs');
  t.ok(r.isLive(second.runId), 'and is live in the runner');
  t.equal(r.queueLength, 1);
  t.same(await findRunProcesses(second.runId, second.runDir), [], 'no process of the queued run');

  t.test('cancelling the queued run', async (t) => {
    t.equal(await second.stateMachine.sendCancel(), 'CANCELING', 'the server moves it to CANCELING first');
    const started = Date.now();
    await r.cancel(second.runId);
    t.ok(Date.now() - started < 10_000, 'it does not wait for the running one');
    t.equal(await stored(e, second), 'CANCELED');
    t.notOk(r.isLive(second.runId));
    t.equal(r.queueLength, 0);
    const record = await e.store.getAll(second.runId);
    t.equal(record[RunKeys.cmd], undefined, 'no engine ever ran: no cmd');
    t.equal(record[RunKeys.exitCode], undefined, 'and no exit code');
    t.ok(record[RunKeys.endTime], 'an end time');
    t.match(parseJsonArray(record[RunKeys.systemLogs]).join('\n'), /cancel/i, 'a system log says why');
    await t.rejects(fs.stat(second.stdoutPath), { code: 'ENOENT' }, 'no engine output');
    t.ok(r.isOk(second.runId));
    t.notOk(await marked(e, second), 'no longer marked active');
    t.equal(await stored(e, first), 'RUNNING', 'the running one is untouched');
    t.ok(await marked(e, first), 'which stays marked active');
  });

  t.test('cancelling the running run', async (t) => {
    const pids = await findRunProcesses(first.runId, first.runDir);
    t.ok(pids.length > 0, `engine processes: ${pids.join(' ')}`);
    t.equal(await first.stateMachine.sendCancel(), 'CANCELING');
    await r.cancel(first.runId);
    await r.settled(first.runId);
    t.equal(await stored(e, first), 'CANCELED');
    t.notOk(r.isLive(first.runId));
    t.same(await findRunProcesses(first.runId, first.runDir), [], 'no process of the run left');
    for (const pid of pids) t.ok(await ended(pid), `pid ${pid} has ended`);
    const record = await e.store.getAll(first.runId);
    t.ok(record[RunKeys.cmd], 'the engine had been started');
    t.ok(record[RunKeys.endTime]);
    t.match(parseJsonArray(record[RunKeys.systemLogs]).join('\n'), /cancel/i);
    t.ok(r.isOk(first.runId));
    t.notOk(await marked(e, first), 'no longer marked active');
  });
});

t.test('a run that waited starts once the slot frees', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 1);
  const a = await createRun(e, 'echo', 'echo.cwl', { message: 'one' });
  const b = await createRun(e, 'echo', 'echo.cwl', { message: 'two' });
  r.run(a.runId);
  r.run(b.runId);
  await r.settled(a.runId);
  await r.settled(b.runId);
  t.equal(await stored(e, a), 'COMPLETE');
  t.equal(await stored(e, b), 'COMPLETE');
  const [sa, sb] = await Promise.all([e.store.get(a.runId, RunKeys.startTime), e.store.get(b.runId, RunKeys.startTime)]);
  const ea = await e.store.get(a.runId, RunKeys.endTime);
  t.ok(sa! <= ea! && ea! <= sb!, 'one after the other');
});

t.test('an echo run completes, outputs.json first', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 2);
  const wf = await createRun(e, 'echo', 'echo.cwl', { message: 'hello ferry' });

  let polls = 0;
  let violations = 0;
  let sawComplete = false;
  let polling = true;
  const poller = (async () => {
    // One more read once the run has settled, so COMPLETE is seen however soon it came.
    for (let last = false; !last; ) {
      last = !polling;
      const state = await stored(e, wf);
      if (state === 'COMPLETE') {
        sawComplete = true;
        const exists = await fs.stat(wf.outputsJsonPath).then(() => true, () => false);
        if (!exists) violations++;
      }
      polls++;
      if (!last) await sleep(2);
    }
  })();
  r.run(wf.runId);
  await r.settled(wf.runId);
  polling = false;
  await poller;

  t.ok(polls > 10, `${polls} polls`);
  t.ok(sawComplete, 'the poller saw COMPLETE');
  t.equal(violations, 0, 'whenever the state read COMPLETE, outputs.json was there');
  t.equal(await stored(e, wf), 'COMPLETE');
  const record = await e.store.getAll(wf.runId);
  t.equal(record[RunKeys.exitCode], '0');
  t.match(record[RunKeys.startTime], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.match(record[RunKeys.endTime], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const cmd = JSON.parse(record[RunKeys.cmd]!) as string[];
  t.equal(cmd[0], 'cwltool');
  t.ok(cmd.includes(`--outdir=${wf.outputsDir}`));

  const outputs = JSON.parse(await fs.readFile(wf.outputsJsonPath, 'utf8')) as { output: { location: string; basename: string } };
  t.equal(outputs.output.basename, 'output.txt');
  const file = fileURLToPath(outputs.output.location);
  t.ok(file.startsWith(wf.outputsDir + path.sep), 'the output lies in the run\'s outputs folder');
  t.equal(await fs.readFile(file, 'utf8'), 'hello ferry\n');
  await t.rejects(fs.stat(path.join(wf.runDir, 'tmp')), { code: 'ENOENT' }, 'scratch space removed');
  t.same(await findRunProcesses(wf.runId, wf.runDir), []);
  t.notOk(r.isLive(wf.runId));
  t.ok(r.isOk(wf.runId));
  t.notOk(await marked(e, wf), 'no longer marked active');
});

t.test('a failing run ends EXECUTOR_ERROR', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 1);
  const wf = await createRun(e, 'fail', 'fail.cwl', {});
  r.run(wf.runId);
  await r.settled(wf.runId);
  t.equal(await stored(e, wf), 'EXECUTOR_ERROR');
  t.not(await e.store.get(wf.runId, RunKeys.exitCode), '0');
  await t.rejects(fs.stat(wf.outputsJsonPath), { code: 'ENOENT' }, 'no outputs.json');
  t.match(parseJsonArray(await e.store.get(wf.runId, RunKeys.systemLogs)).join('\n'), /exited with code/);
});

t.test('a run with an unknown engine ends SYSTEM_ERROR', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 1);
  const wf = await createRun(e, 'echo', 'echo.cwl', { message: 'x' });
  await e.store.set(wf.runId, RunKeys.engine, 'no-such-engine');
  r.run(wf.runId);
  await r.settled(wf.runId);
  t.equal(await stored(e, wf), 'SYSTEM_ERROR');
  t.notOk(r.isOk(wf.runId), 'the task itself failed');
  t.match(parseJsonArray(await e.store.get(wf.runId, RunKeys.systemLogs)).join('\n'), /no-such-engine/);
});

t.test('close() while a run is RUNNING', async (t) => {
  const e = await env(t);
  const r = runner(t, e, 1);
  const running = await createRun(e, 'sleep', 'sleep.cwl', { seconds: 30 });
  const waiting = await createRun(e, 'sleep', 'sleep.cwl', { seconds: 30 });
  r.run(running.runId);
  r.run(waiting.runId);
  await waitForEngine(e, running);
  const pids = await findRunProcesses(running.runId, running.runDir);
  t.ok(pids.length > 0, `engine processes: ${pids.join(' ')}`);

  const started = Date.now();
  await r.close();
  t.ok(Date.now() - started < 15_000, `close took ${Date.now() - started} ms`);

  t.equal(await stored(e, running), 'SYSTEM_ERROR', 'the running run ends SYSTEM_ERROR');
  const logs = parseJsonArray(await e.store.get(running.runId, RunKeys.systemLogs));
  t.ok(logs.length > 0, 'with a system log');
  t.match(logs.join('\n'), /stopped/, `saying the server stopped: ${logs.join(' | ')}`);
  t.ok(await e.store.get(running.runId, RunKeys.endTime), 'and an end time');
  t.same(await findRunProcesses(running.runId, running.runDir), [], 'no process of the run left');
  for (const pid of pids) t.ok(await ended(pid), `pid ${pid} has ended`);
  t.notOk(r.isLive(running.runId));
  t.notOk(await marked(e, running), 'no longer marked active');

  t.equal(await stored(e, waiting), 'SYSTEM_ERROR', 'the waiting run ends SYSTEM_ERROR too');
  t.equal(await e.store.get(waiting.runId, RunKeys.cmd), null, 'without ever running');
  t.match(parseJsonArray(await e.store.get(waiting.runId, RunKeys.systemLogs)).join('\n'), /before the run could start/);
  t.notOk(await marked(e, waiting), 'no longer marked active');
  t.notOk(r.isLive(waiting.runId));

  const late = await createRun(e, 'echo', 'echo.cwl', { message: 'late' });
  t.throws(() => r.run(late.runId), /closed/, 'a closed runner takes no more work');
  await r.close(); // closing twice is harmless
});

t.test('close() just after a run was handed over', async (t) => {
  // The run has left the queue but its task is still being set up (the
  // engine is being looked up): close() must stop it too, and nothing of the
  // run may start after close() has returned.
  const e = await env(t);
  const r = runner(t, e, 1);
  const wf = await createRun(e, 'sleep', 'sleep.cwl', { seconds: 30 });
  r.run(wf.runId);
  await r.close();
  const afterClose = await stored(e, wf);
  await sleep(3000); // long enough for cwltool to have been spawned
  const processes = await findRunProcesses(wf.runId, wf.runDir);
  t.same(processes, [], 'no process of the run after close()');
  t.equal(await e.store.get(wf.runId, RunKeys.cmd), null, 'no engine was started after close()');
  t.ok(afterClose === 'SYSTEM_ERROR', `the run had ended when close() returned (was ${afterClose})`);
  t.equal(await stored(e, wf), 'SYSTEM_ERROR', 'and ends SYSTEM_ERROR');
  // Clean up whatever the runaway task started, so it cannot outlive the test.
  await killRunProcesses(wf.runId, wf.runDir);
  await r.settled(wf.runId);
  t.same(await findRunProcesses(wf.runId, wf.runDir), [], 'cleaned up');
});
