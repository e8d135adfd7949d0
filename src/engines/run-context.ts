import path from 'node:path';
import { RunKeys, type ToilWorkflow } from '../runs/workflow.js';
import type { EngineOption, RunContext } from './engine.js';

/** What the engine needs to know about a run, from its folder and its stored record (read if not given). */
export async function runContext(wf: ToilWorkflow, record?: Record<string, string>): Promise<RunContext> {
  const r = record ?? (await wf.store.getAll(wf.runId));
  const workflow = r[RunKeys.workflow];
  if (!workflow) throw new Error(`run ${wf.runId} has no workflow recorded`);
  return {
    runId: wf.runId,
    runDir: wf.runDir,
    executionDir: wf.executionDir,
    outputsDir: wf.outputsDir,
    workflowPath: path.join(wf.executionDir, workflow),
    inputsPath: wf.inputsPath,
    stdoutPath: wf.stdoutPath,
    stderrPath: wf.stderrPath,
    tmpDir: wf.tmpDir,
    options: parseOptions(r[RunKeys.engineOptions]),
  };
}

/** The options stored with a run (JSON list of `{flag, value}`). */
function parseOptions(text: string | undefined): EngineOption[] {
  if (!text) return [];
  const value = JSON.parse(text) as EngineOption[];
  return value.map((o) => ({ flag: String(o.flag), value: o.value === null ? null : String(o.value) }));
}
