/**
 * Creates finished runs in a work folder through Ferry's own store code, as
 * RunWorkflow and a run's supervisor would leave them: the run folder
 * (request.json, execution/wes_inputs.json, outputs.json), the run's first
 * record (prepared and published as RunWorkflow does, owner included when
 * runs have one), the keys the supervisor sets, a terminal state reached
 * through the state machine, the active marker added then removed, and the
 * final summary the supervisor appends to the run index. The parent adds the
 * index entries (RunIndex.add, with the same owner) in submission order, from
 * one process, before any of these start.
 *
 *   node gen-runs.js WORK_DIR STATE_STORE FROM TO [IN_FLIGHT [OWNERS]]
 *
 * Runs FROM..TO-1 get deterministic ids and submission times, so several of
 * these processes can fill one folder in parallel. OWNERS > 0 spreads the runs
 * round robin over that many users (runs-common.ts benchOwner); 0, the
 * default, makes runs submitted without authentication, which have no owner.
 * Prints nothing but errors.
 *
 * Durability of this fixture data is irrelevant, so fsync is turned off in
 * this process only (FileHandle#sync made a no-op): the files written, their
 * names and content are exactly what the store writes; the server under test
 * is untouched. The parent runs sync(1) once afterwards.
 */
import fs from 'node:fs/promises';
import { ActiveRuns } from '../../src/runs/active-runs.js';
import { appendFinal, readFinalSummary, runIndexFile } from '../../src/runs/run-index.js';
import { LocalStateStore } from '../../src/runs/state-store.js';
import { RunKeys, ToilWorkflow } from '../../src/runs/workflow.js';
import { atomicFileCreate } from '../../src/util/atomic-file.js';
import { wesTime } from '../../src/util/time.js';
import { benchOwner, benchRunId, benchSubmittedAt, benchTags } from './runs-common.js';

async function disableFsync(dir: string): Promise<void> {
  const probe = await fs.open(dir, 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await probe.close();
  proto.sync = async () => undefined;
  proto.datasync = async () => undefined;
}

async function makeRun(workDir: string, store: LocalStateStore, active: ActiveRuns, i: number, owners: number): Promise<void> {
  const runId = benchRunId(i);
  const wf = new ToilWorkflow(workDir, store, runId);
  const submitted = benchSubmittedAt(i);
  const request = {
    workflow_params: { message: `hello ${i}` },
    workflow_type: 'CWL',
    workflow_type_version: 'v1.0',
    tags: benchTags(i),
    workflow_engine_parameters: {},
    workflow_url: 'echo.cwl',
  };
  // What RunWorkflow writes (the staging folder renamed into place).
  await fs.mkdir(wf.executionDir, { recursive: true });
  await fs.writeFile(`${wf.executionDir}/echo.cwl`, ECHO_CWL);
  await atomicFileCreate(wf.requestPath, JSON.stringify(request, null, 2) + '\n');
  await atomicFileCreate(wf.inputsPath, JSON.stringify(request.workflow_params, null, 2) + '\n');
  // The run's first record, state QUEUED and owner included, as RunWorkflow prepares and publishes it.
  const owner = benchOwner(i, owners);
  const record = ToilWorkflow.initialRecord({
    [RunKeys.engine]: 'cwltool',
    [RunKeys.workflow]: 'echo.cwl',
    [RunKeys.engineOptions]: '[]',
    [RunKeys.serverId]: `bench:boot:1:1`,
    [RunKeys.submittedAt]: submitted.toISOString(),
    ...(owner === undefined ? {} : { [RunKeys.owner]: owner }),
  });
  const [prepared] = await Promise.all([store.prepare(runId, record, { durable: false }), active.add(runId)]);
  await prepared.publish();
  // What the supervisor writes.
  const start = new Date(submitted.getTime() + 1000);
  const end = new Date(start.getTime() + 5000 + (i % 7) * 1000);
  await wf.set('task', `bench:boot:2:2`);
  await wf.set(RunKeys.startTime, wesTime(start));
  await wf.set(RunKeys.cmd, JSON.stringify(['cwltool', '--no-container', '--outdir=' + wf.outputsDir, `${wf.executionDir}/echo.cwl`, wf.inputsPath]));
  const outcome = i % 20 === 7 ? 'EXECUTOR_ERROR' : i % 50 === 13 ? 'CANCELED' : 'COMPLETE';
  await wf.set(RunKeys.exitCode, outcome === 'EXECUTOR_ERROR' ? '1' : '0');
  await wf.set(RunKeys.endTime, wesTime(end));
  if (outcome === 'COMPLETE') {
    await fs.mkdir(wf.outputsDir, { recursive: true });
    await atomicFileCreate(wf.outputsJsonPath, JSON.stringify({ output: { class: 'File', location: `file://${wf.outputsDir}/output.txt`, size: 12 } }, null, 2) + '\n');
    await wf.stateMachine.sendComplete();
  } else if (outcome === 'EXECUTOR_ERROR') {
    await wf.addSystemLog('cwltool exited with code 1.');
    await wf.stateMachine.sendExecutorError();
  } else {
    await wf.addSystemLog("Run canceled at the user's request.");
    await wf.stateMachine.sendCanceled();
  }
  await active.remove(runId);
  // What the supervisor appends to the run index once the outcome is recorded.
  const final = await readFinalSummary(store, runId);
  if (final) await appendFinal(runIndexFile(store.root), runId, final);
}

const ECHO_CWL = `cwlVersion: v1.0
class: CommandLineTool
baseCommand: echo
inputs:
  message: {type: string, inputBinding: {position: 1}}
stdout: output.txt
outputs:
  output: {type: File, outputBinding: {glob: output.txt}}
`;

async function main(): Promise<void> {
  const [workDir, stateStore, fromText, toText, parallelText, ownersText] = process.argv.slice(2);
  if (!workDir || !stateStore || !fromText || !toText) throw new Error('usage: gen-runs WORK_DIR STATE_STORE FROM TO [IN_FLIGHT [OWNERS]]');
  const from = Number(fromText);
  const to = Number(toText);
  const parallel = Number(parallelText ?? 32);
  const owners = Number(ownersText ?? 0);
  if (!Number.isInteger(from) || !Number.isInteger(to) || !(parallel > 0) || !Number.isInteger(owners) || owners < 0) {
    throw new Error('FROM, TO, IN_FLIGHT and OWNERS must be numbers');
  }
  await fs.mkdir(stateStore, { recursive: true });
  await disableFsync(stateStore);
  const store = new LocalStateStore(stateStore);
  const active = new ActiveRuns(stateStore);
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) await makeRun(workDir, store, active, next++, owners);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
