import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { ALL_STATES, TERMINAL_STATES, WorkflowStateMachine, isTerminal, type State } from '../../src/runs/state-machine.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { tempDir } from '../helper.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const newRunId = (): string => `run-${randomBytes(16).toString('hex')}`;

type From = State | 'NONE';

/**
 * The transition table as the reference describes it: for each target, the
 * states it may be entered from ('NONE' = no record yet).
 */
const expectedFrom: Record<State, readonly From[]> = {
  UNKNOWN: [],
  PAUSED: [],
  // A scheduler that preempts a run's job ends the run there (Slurm).
  PREEMPTED: ['QUEUED', 'INITIALIZING', 'RUNNING'],
  QUEUED: ['NONE'],
  INITIALIZING: ['QUEUED'],
  RUNNING: ['QUEUED', 'INITIALIZING'],
  CANCELING: ['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED'],
  CANCELED: ['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING'],
  COMPLETE: ['QUEUED', 'INITIALIZING', 'RUNNING'],
  EXECUTOR_ERROR: ['QUEUED', 'INITIALIZING', 'RUNNING'],
  SYSTEM_ERROR: ['QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'CANCELING'],
};

const FROM_STATES: readonly From[] = ['NONE', ...ALL_STATES.filter((s) => s !== 'UNKNOWN')];

t.test('terminal states', async (t) => {
  t.same([...TERMINAL_STATES].sort(), ['CANCELED', 'COMPLETE', 'EXECUTOR_ERROR', 'PREEMPTED', 'SYSTEM_ERROR']);
  for (const s of ALL_STATES) t.equal(isTerminal(s), TERMINAL_STATES.has(s), s);
  t.equal(isTerminal('CANCELING'), false);
});

t.test('the full transition table', async (t) => {
  const root = await tempDir(t, 'ferry-sm-');
  // A fresh store per case: nothing cached from another case can help.
  let cases = 0;
  for (const from of FROM_STATES) {
    for (const target of ALL_STATES) {
      const store = new LocalStateStore(root);
      const run = newRunId();
      if (from !== 'NONE') await store.set(run, 'state', from);
      const sm = new WorkflowStateMachine(store, run);
      const allowed = expectedFrom[target].includes(from);
      const result = await sm.transition(target);
      const onDisk = await store.get(run, 'state');
      const before: State = from === 'NONE' ? 'UNKNOWN' : from;
      if (allowed) {
        t.equal(result, target, `${from} -> ${target} allowed`);
        t.equal(onDisk, target, `${from} -> ${target} stored`);
      } else {
        t.equal(result, before, `${from} -> ${target} refused, still ${before}`);
        t.equal(onDisk, from === 'NONE' ? null : from, `${from} -> ${target} refused, store unchanged`);
      }
      t.equal(await new WorkflowStateMachine(new LocalStateStore(root), run).getCurrentState(), allowed ? target : before, `${from} -> ${target} as a fresh reader sees it`);
      cases++;
    }
  }
  t.equal(cases, FROM_STATES.length * ALL_STATES.length);
});

t.test('the named events', async (t) => {
  const root = await tempDir(t, 'ferry-sm-');
  const store = new LocalStateStore(root);

  const happy = new WorkflowStateMachine(store, newRunId());
  t.equal(await happy.getCurrentState(), 'UNKNOWN', 'no record: UNKNOWN');
  t.equal(await happy.sendInitialize(), 'UNKNOWN', 'nothing but enqueue creates a run');
  t.equal(await happy.sendCancel(), 'UNKNOWN');
  t.equal(await happy.sendSystemError(), 'UNKNOWN');
  t.equal(await store.has(happy.runId), false, 'still no record');
  t.equal(await happy.sendEnqueue(), 'QUEUED');
  t.equal(await happy.sendEnqueue(), 'QUEUED', 'enqueue twice: no change');
  t.equal(await happy.sendInitialize(), 'INITIALIZING');
  t.equal(await happy.sendEnqueue(), 'INITIALIZING', 'never back to QUEUED');
  t.equal(await happy.sendRun(), 'RUNNING');
  t.equal(await happy.sendInitialize(), 'RUNNING', 'never back to INITIALIZING');
  t.equal(await happy.sendComplete(), 'COMPLETE');
  t.equal(await happy.getCurrentState(), 'COMPLETE');

  const canceled = new WorkflowStateMachine(store, newRunId());
  await canceled.sendEnqueue();
  await canceled.sendInitialize();
  t.equal(await canceled.sendCancel(), 'CANCELING');
  t.equal(await canceled.sendRun(), 'CANCELING', 'a late "engine started" never undoes a cancel');
  t.equal(await canceled.sendInitialize(), 'CANCELING');
  t.equal(await canceled.sendComplete(), 'CANCELING', 'COMPLETE not from CANCELING');
  t.equal(await canceled.sendExecutorError(), 'CANCELING', 'EXECUTOR_ERROR not from CANCELING');
  t.equal(await canceled.sendCanceled(), 'CANCELED');
  t.equal(await canceled.sendSystemError(), 'CANCELED');

  const sysErr = new WorkflowStateMachine(store, newRunId());
  await sysErr.sendEnqueue();
  await sysErr.sendRun();
  await sysErr.sendCancel();
  t.equal(await sysErr.sendSystemError(), 'SYSTEM_ERROR', 'CANCELING may end SYSTEM_ERROR');
  t.equal(await sysErr.sendCanceled(), 'SYSTEM_ERROR');
});

t.test('terminal states are never left', async (t) => {
  const root = await tempDir(t, 'ferry-sm-');
  for (const terminal of TERMINAL_STATES) {
    t.test(terminal, async (t) => {
      const store = new LocalStateStore(root);
      const run = newRunId();
      const sm = new WorkflowStateMachine(store, run);
      await store.set(run, 'state', terminal);
      t.equal(await sm.getCurrentState(), terminal, 'read once');

      // Changed underneath after being read: the cached terminal state wins.
      await fs.writeFile(path.join(root, run, 'state'), 'RUNNING');
      t.equal(await sm.getCurrentState(), terminal, 'cached despite the file now saying RUNNING');
      const again = new WorkflowStateMachine(store, run);
      t.equal(await again.getCurrentState(), terminal, 'the cache is shared by every machine over this store');
      for (const target of ALL_STATES) {
        t.equal(await sm.transition(target), terminal, `-> ${target} refused`);
      }
      t.equal(await fs.readFile(path.join(root, run, 'state'), 'utf8'), 'RUNNING', 'and nothing was written');

      // A fresh store object has no cache: it goes by the file, which says terminal again.
      await fs.writeFile(path.join(root, run, 'state'), terminal);
      const freshStore = new LocalStateStore(root);
      const fresh = new WorkflowStateMachine(freshStore, run);
      for (const target of ALL_STATES) {
        t.equal(await fresh.transition(target), terminal, `fresh store: -> ${target} refused`);
        t.equal(await freshStore.get(run, 'state'), terminal);
      }
      // A fresh store that only ever transitions (never read first) also caches what it learnt.
      const third = new LocalStateStore(root);
      t.equal(await new WorkflowStateMachine(third, run).sendRun(), terminal);
      await fs.writeFile(path.join(root, run, 'state'), 'QUEUED');
      t.equal(await new WorkflowStateMachine(third, run).getCurrentState(), terminal, 'learnt from a refused transition');
    });
  }
});

t.test('unreadable records', async (t) => {
  const root = await tempDir(t, 'ferry-sm-');
  const store = new LocalStateStore(root);
  for (const garbage of ['', 'running', 'NOT_A_STATE', '{"state":"RUNNING"}', '\0\0\0', 'COMPLETE COMPLETE']) {
    const run = newRunId();
    await fs.mkdir(path.join(root, run), { recursive: true });
    await fs.writeFile(path.join(root, run, 'state'), garbage);
    const sm = new WorkflowStateMachine(store, run);
    t.equal(await sm.getCurrentState(), 'UNKNOWN', `${JSON.stringify(garbage)} reads UNKNOWN`);
    t.equal(await sm.sendEnqueue(), 'UNKNOWN', 'and is not mistaken for an absent record');
  }
  const run = newRunId();
  await fs.mkdir(path.join(root, run), { recursive: true });
  await fs.writeFile(path.join(root, run, 'state'), 'RUNNING\n');
  t.equal(await new WorkflowStateMachine(store, run).getCurrentState(), 'RUNNING', 'surrounding whitespace is tolerated');
});

t.test('racing events in one process stay legal', async (t) => {
  const root = await tempDir(t, 'ferry-sm-');

  t.test('run vs cancel from QUEUED', async (t) => {
    for (let round = 0; round < 3; round++) {
      const run = newRunId();
      const stores = [new LocalStateStore(root), new LocalStateStore(root)];
      await new WorkflowStateMachine(stores[0]!, run).sendEnqueue();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const sm = new WorkflowStateMachine(stores[i % 2]!, run);
          return i % 2 ? sm.sendCancel().then((s) => ['cancel', s] as const) : sm.sendRun().then((s) => ['run', s] as const);
        }),
      );
      for (const [event, state] of results) {
        if (event === 'cancel') t.equal(state, 'CANCELING', 'every cancel lands');
        else t.ok(state === 'RUNNING' || state === 'CANCELING', `run gives RUNNING or CANCELING, got ${state}`);
      }
      t.equal(await new LocalStateStore(root).get(run, 'state'), 'CANCELING', 'the cancel is never overwritten by RUNNING');
    }
  });

  t.test('competing outcomes from RUNNING', async (t) => {
    for (let round = 0; round < 3; round++) {
      const run = newRunId();
      const stores = [new LocalStateStore(root), new LocalStateStore(root), new LocalStateStore(root)];
      const first = new WorkflowStateMachine(stores[0]!, run);
      await first.sendEnqueue();
      await first.sendRun();
      const events = ['sendComplete', 'sendExecutorError', 'sendCancel', 'sendCanceled', 'sendSystemError', 'sendRun', 'sendInitialize'] as const;
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => new WorkflowStateMachine(stores[i % 3]!, run)[events[i % events.length]!]()),
      );
      const final = (await new LocalStateStore(root).get(run, 'state')) as State;
      t.ok(isTerminal(final), `ends terminal (${final})`);
      const terminalsSeen = new Set(results.filter(isTerminal));
      t.same([...terminalsSeen], [final], 'every terminal answer is the same, final state');
      for (const r of results) t.ok(r === final || r === 'RUNNING' || r === 'CANCELING', `no illegal answer (${r})`);
      if (final === 'COMPLETE' || final === 'EXECUTOR_ERROR') {
        t.notOk(results.includes('CANCELING'), 'a run that was canceling cannot end COMPLETE/EXECUTOR_ERROR');
      }
    }
  });
});

/** A script run in its own Node process, racing transitions on shared runs. */
const RACER = `
import { WorkflowStateMachine } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/runs/state-machine.ts')).href)};
import { LocalStateStore } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/runs/state-store.ts')).href)};
const [root, role, startAt, ...runs] = process.argv.slice(2);
const store = new LocalStateStore(root);
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};
await Promise.all(runs.map(async (run, i) => {
  const sm = new WorkflowStateMachine(store, run);
  const seen = (out[run] = []);
  if (role === 'task') {
    // What a task does: initialise, start, finish.
    for (let k = 0; k < 5; k++) {
      seen.push(await sm.sendInitialize());
      seen.push(await sm.sendRun());
    }
    await sleep(i % 4);
    seen.push(await sm.sendComplete());
  } else {
    // What the server does on a cancel request, then what the task does after.
    // Staggered so that early runs get canceled and late ones complete first.
    await sleep(i * 35);
    seen.push(await sm.sendCancel());
    seen.push(await sm.sendCanceled());
  }
}));
process.stdout.write(JSON.stringify(out));
`;

function runNode(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('two processes racing on the same runs stay legal', async (t) => {
  const dir = await tempDir(t, 'ferry-sm-proc-');
  const root = path.join(dir, 'store');
  const script = path.join(dir, 'racer.mts');
  await fs.writeFile(script, RACER);
  const store = new LocalStateStore(root);
  const runs = Array.from({ length: 12 }, newRunId);
  for (const run of runs) await new WorkflowStateMachine(store, run).sendEnqueue();

  const startAt = String(Date.now() + 2500); // both processes loaded by then
  const [task, server] = await Promise.all([
    runNode([script, root, 'task', startAt, ...runs], repoRoot),
    runNode([script, root, 'server', startAt, ...runs], repoRoot),
  ]);
  t.equal(task.code, 0, `task process ok ${task.stderr}`);
  t.equal(server.code, 0, `server process ok ${server.stderr}`);
  const taskSeen = JSON.parse(task.stdout) as Record<string, State[]>;
  const serverSeen = JSON.parse(server.stdout) as Record<string, State[]>;

  const outcomes = new Set<string>();
  for (const run of runs) {
    const final = (await new LocalStateStore(root).get(run, 'state')) as State;
    const bySeen = taskSeen[run]!;
    const [cancelAnswer, canceledAnswer] = serverSeen[run]!;
    outcomes.add(final);
    t.ok(final === 'COMPLETE' || final === 'CANCELED', `${run}: ends COMPLETE or CANCELED (${final})`);
    if (final === 'COMPLETE') {
      t.equal(bySeen.at(-1), 'COMPLETE', 'the task completed it');
      t.equal(cancelAnswer, 'COMPLETE', 'the cancel came too late and was refused');
      t.equal(canceledAnswer, 'COMPLETE');
      t.notOk(bySeen.includes('CANCELING'), 'the task never saw a cancel');
    } else {
      t.equal(cancelAnswer, 'CANCELING', 'the cancel landed');
      t.equal(canceledAnswer, 'CANCELED');
      t.not(bySeen.at(-1), 'COMPLETE', 'the task could not complete a canceled run');
      // Once the task saw the cancel, it never saw the run go back to running.
      const firstCancel = bySeen.findIndex((s) => s === 'CANCELING' || s === 'CANCELED');
      t.ok(firstCancel !== -1, 'the task saw the cancel');
      t.same(bySeen.slice(firstCancel).filter((s) => s !== 'CANCELING' && s !== 'CANCELED'), [], 'no state after the cancel but CANCELING/CANCELED');
    }
    for (const s of bySeen) t.ok(['INITIALIZING', 'RUNNING', 'COMPLETE', 'CANCELING', 'CANCELED'].includes(s), `task saw a legal state (${s})`);
  }
  t.comment(`outcomes: ${[...outcomes].join(', ')}`);
});
