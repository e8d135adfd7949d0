import path from 'node:path';
import type { RunWorkflowInput } from '../../generated/operations.js';
import type { Engine, EngineOption } from '../engines/engine.js';
import type { EngineRegistry } from '../engines/registry.js';
import type { RunRequest } from '../runs/workflow.js';
import { MalformedRequestError, VersionNotImplementedError, WesError } from '../util/errors.js';
import { isZipBundle, openBundle } from './bundle.js';
import { checkInputs } from './input-locations.js';
import type { Staging } from './staging.js';
import type { WorkflowAllowList } from './workflow-allow-list.js';
import { stageWorkflow, type SourcePolicy } from './workflow-source.js';
import { parseExact } from '../util/exact-json.js';
import { isSchedulerOption, schedulerOption, type SchedulerPolicy } from './scheduler-options.js';

/** The form fields of POST /runs, all strings as sent (the spec's form, less the files). */
export type SubmissionFields = Omit<RunWorkflowInput['body'], 'workflow_attachment'>;

/** A submission that passed every check, ready to become a run. */
export interface AcceptedSubmission {
  request: RunRequest;
  engine: Engine;
  /** The workflow file, relative to `execution/`, with the `#fragment` naming the object to run in it, if given. */
  workflow: string;
  /** The run's inputs: a bundle's input files, if any, overridden by `workflow_params`. */
  params: Record<string, unknown>;
  tags: Record<string, string>;
  /** A bundle's options, if any, overridden by `workflow_engine_parameters`; all policed, those Ferry sets itself dropped. */
  userOptions: EngineOption[];
  /** The run's own options for its scheduler (`--time=…`), as sbatch arguments; empty without one. */
  schedulerOptions: string[];
  /** Lines for the run's system logs: options dropped, inputs taken from the attachments. */
  notes: string[];
}

function parseJsonField(name: string, text: string | undefined, message?: string): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    // Numbers as the client wrote them: the engine gets a big integer digit for digit.
    return parseExact(text);
  } catch (err) {
    throw new MalformedRequestError(message ?? `'${name}' is not valid JSON: ${(err as Error).message}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a submission and stages its workflow, in the order Toil reports
 * problems. Nothing outside the staging folder is touched, so a rejection
 * leaves no trace once the staging folder is discarded.
 */
export async function acceptSubmission(
  fields: SubmissionFields,
  staging: Staging,
  engines: EngineRegistry,
  policy: SourcePolicy,
  allowList?: WorkflowAllowList,
  scheduler?: SchedulerPolicy,
): Promise<AcceptedSubmission> {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && typeof value !== 'string') throw new MalformedRequestError(`'${key}' must be a string form field.`);
  }
  const rawParams = parseJsonField('workflow_params', fields.workflow_params, "Got a 'workflow_params' which does not decode to a JSON object");
  const params = rawParams === undefined ? {} : rawParams;
  if (!isPlainObject(params)) throw new MalformedRequestError("Got a 'workflow_params' which does not decode to a JSON object");

  const rawType = fields.workflow_type?.trim();
  if (!rawType) throw new MalformedRequestError("Missing 'workflow_type' in submission");
  const type = rawType.toUpperCase();
  // A type whose engine is still being probed for (Toil Python, just after the start) waits for the probe.
  if (engines.forType(type).length === 0) await engines.settled;
  if (engines.forType(type).length === 0) throw new VersionNotImplementedError(`workflow_type '${rawType}' is not supported.`);
  const versions = engines.typeVersions(type);
  const version = fields.workflow_type_version?.trim() ?? '';
  if (!versions.includes(version)) {
    throw new VersionNotImplementedError(
      `workflow_type '${rawType.toLowerCase()}' requires 'workflow_type_version' to be one of '[${versions.map((v) => `'${v}'`).join(', ')}]'.  Got '${version}' instead.`,
    );
  }
  const engine = engines.resolve(type, fields.workflow_engine?.trim());
  if (!engine.workflowTypeVersions.includes(version)) {
    throw new VersionNotImplementedError(`workflow_engine '${engine.name}' does not run ${type} ${version}.`);
  }
  const wantedEngineVersion = fields.workflow_engine_version?.trim();
  if (wantedEngineVersion) {
    if (!fields.workflow_engine?.trim()) throw new MalformedRequestError("'workflow_engine_version' needs 'workflow_engine' too.");
    const installed = await engine.detectVersion();
    if (installed !== wantedEngineVersion) {
      throw new VersionNotImplementedError(`workflow_engine '${engine.name}' version '${wantedEngineVersion}' is not available; this server has '${installed ?? 'none'}'.`);
    }
  }

  const rawTags = parseJsonField('tags', fields.tags);
  const tags = rawTags === undefined ? {} : rawTags;
  if (!isPlainObject(tags) || !Object.values(tags).every((v) => typeof v === 'string')) {
    throw new MalformedRequestError("'tags' must be a JSON object whose values are strings.");
  }
  const rawEngineParams = parseJsonField('workflow_engine_parameters', fields.workflow_engine_parameters);
  const engineParams = rawEngineParams === undefined ? {} : rawEngineParams;
  if (!isPlainObject(engineParams)) throw new MalformedRequestError("'workflow_engine_parameters' must be a JSON object.");
  const fromRequest = engineOptions(engineParams, engine, 'workflow_engine_parameters', scheduler);
  const requestOptions = fromRequest.options;
  const notes = [...fromRequest.notes];

  const url = fields.workflow_url?.trim();
  if (!url) throw new MalformedRequestError("Missing 'workflow_url' in submission");
  const { file, fragment } = await stageWorkflow(url, staging, policy);
  let workflow = file;
  let runParams = params;
  let userOptions = requestOptions;
  let schedulerOptions = fromRequest.scheduler;
  const staged = path.join(staging.executionDir, workflow);
  // The workflow as sent or fetched (a bundle before it is unpacked) is what the list names.
  await allowList?.check(url, staged);
  if (await isZipBundle(staged, staging.keptHead(staged, 4))) {
    if (fragment !== null) throw new MalformedRequestError(`workflow_url '${url}' names a workflow.zip bundle, which takes no '#' fragment.`);
    // Toil's workflow.zip: the request's params and options override the bundle's, key by key.
    const bundle = await openBundle(staged, staging.executionDir, type, policy);
    workflow = bundle.workflow;
    runParams = { ...bundle.inputs, ...params };
    // The bundle is the client's too: its options pass the same policy.
    const fromBundle = engineOptions(bundle.options, engine, bundle.optionsSource, scheduler);
    const overridden = (flag: string): boolean => Object.hasOwn(engineParams, flag);
    userOptions = [...fromBundle.options.filter((o) => !overridden(o.flag)), ...requestOptions];
    schedulerOptions = [...fromBundle.scheduler.filter((o) => !overridden(o.slice(0, o.indexOf('=')))), ...schedulerOptions];
    notes.unshift(...fromBundle.notes);
  } else if (fragment !== null && type !== 'CWL') {
    throw new MalformedRequestError(`workflow_url '${url}' has a '#' fragment, which only a CWL workflow takes (it names the object to run in a packed document).`);
  }
  // Last, as the engine may need the staged workflow to tell which inputs are files.
  const inputs = await checkInputs(engine, runParams, path.join(staging.executionDir, workflow), staging, policy.allowedFileRoots);
  notes.push(...inputs.notes);

  const request: RunRequest = {
    workflow_params: params as RunRequest['workflow_params'],
    workflow_type: rawType,
    workflow_type_version: version,
    tags: tags as Record<string, string>,
    // The request as the client sent it; a bundle's share shows in the run's inputs and command.
    workflow_engine_parameters: Object.fromEntries(fromRequest.sent.map((o) => [o.flag, o.value ?? ''])),
    workflow_url: url,
    ...(fields.workflow_engine ? { workflow_engine: fields.workflow_engine.trim() } : {}),
    ...(wantedEngineVersion ? { workflow_engine_version: wantedEngineVersion } : {}),
  };
  return {
    request,
    engine,
    workflow: fragment === null ? workflow : `${workflow}#${fragment}`,
    params: inputs.params,
    tags: tags as Record<string, string>,
    userOptions,
    schedulerOptions,
    notes,
  };
}

/**
 * Engine options from `{flag: value|null}` (the request's
 * `workflow_engine_parameters`, or a bundle's options file), each checked
 * against the engine's policy; `source` names where they came from in errors.
 * Those Ferry sets itself are dropped, with a note saying which and why.
 */
function engineOptions(
  params: Record<string, unknown>,
  engine: Engine,
  source: string,
  scheduler: SchedulerPolicy | undefined,
): { options: EngineOption[]; sent: EngineOption[]; scheduler: string[]; notes: string[] } {
  const options: EngineOption[] = [];
  const forScheduler: string[] = [];
  const sent: EngineOption[] = [];
  const dropped: string[] = [];
  for (const [flag, value] of Object.entries(params)) {
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new MalformedRequestError(`${source}: '${flag}' must have a string value or null.`);
    }
    if (!/^--?[A-Za-z][A-Za-z0-9-]*$/.test(flag)) throw new MalformedRequestError(`${source}: '${flag}' is not an option name.`);
    // An empty value is a bare switch, as WES clients send one (the spec's values are strings; Toil's server reads "" so too).
    const option: EngineOption = { flag, value: value === null || value === '' ? null : String(value) };
    // With a scheduler, its resource options are the run's job's, not the engine's.
    if (isSchedulerOption(scheduler, flag)) {
      forScheduler.push(schedulerOption(scheduler!, source, flag, option.value));
      sent.push(option);
      continue;
    }
    let owned: string | null;
    try {
      owned = engine.checkUserOption(option);
    } catch (err) {
      // The policy words its refusals for the request's field; name the real source.
      if (err instanceof WesError && source !== 'workflow_engine_parameters') {
        throw new WesError(err.statusCode, err.message.replace(/^workflow_engine_parameters: /, `${source}: `));
      }
      throw err;
    }
    sent.push(option);
    if (owned === null) options.push(option);
    else dropped.push(`'${flag}' (${owned})`);
  }
  const notes = dropped.length === 0 ? [] : [`${source}: Ferry sets ${dropped.length === 1 ? 'this option' : 'these options'} itself and dropped the value given: ${dropped.join(', ')}.`];
  return { options, sent, scheduler: forScheduler, notes };
}
