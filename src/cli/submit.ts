/**
 * `ferry submit WORKFLOW [INPUTS]`: submits a local workflow with everything
 * it needs attached (see submission.ts), prints the run id, and with --wait
 * follows the run to its end as `ferry wait` does.
 */
import { CliError, parseCommand, printJson, session, tagPair, type CliIo } from './context.js';
import { prepareSubmission, sendSubmission, type SubmissionRequest } from './submission.js';
import { exitCodeOf, exitCodesHelp, waitForRun } from './wait.js';

export const submitUsage = 'ferry submit WORKFLOW [INPUTS.json|.yaml] [--attach PATH]... [--engine E] [--engine-option FLAG[=VALUE]]... [--tag K=V]... [--type T] [--type-version V] [--wait] [--dry-run] [--json]';

const help = `usage: ${submitUsage}

Submits WORKFLOW (a .cwl, .wdl or .py file; packed.cwl#main names a process in it; or an http(s)
URL) with INPUTS. What the workflow references locally (CWL run:, $import, $include, $mixin,
$schemas, File and Directory literals; WDL imports) and the files the inputs name (CWL File and
Directory objects with their secondaryFiles and listings, and the secondary files the workflow's
inputs declare; WDL strings that name local files) are attached under their common folder, and
the inputs' locations rewritten to match. Prints the run id.

  --attach PATH            attach a file or folder more (repeatable)
  --engine E               the engine to run on (workflow_engine), e.g. cwltool or toil
  --engine-option F[=V]    an engine option (workflow_engine_parameters), e.g. --engine-option=--parallel
  --tag K=V                a tag of the run (repeatable)
  --type, --type-version   the workflow's type and version, when they cannot be read from it
  --wait                   wait for the run to end; exit as ferry wait does (${exitCodesHelp})
  --dry-run                print what would be sent, send nothing
  --json                   print JSON`;

export const submissionOptions = {
  attach: { type: 'string', multiple: true },
  engine: { type: 'string' },
  'engine-option': { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  type: { type: 'string' },
  'type-version': { type: 'string' },
} as const;

/** The submission a command's parsed flags ask for. */
export function submissionRequest(
  values: { attach?: string[] | undefined; engine?: string | undefined; 'engine-option'?: string[] | undefined; tag?: string[] | undefined; type?: string | undefined; 'type-version'?: string | undefined },
  workflow: string,
  inputs: string | undefined,
): SubmissionRequest {
  const engineParameters: Record<string, string | null> = {};
  for (const option of values['engine-option'] ?? []) {
    const eq = option.indexOf('=');
    if (eq < 0) engineParameters[option] = null;
    else engineParameters[option.slice(0, eq)] = option.slice(eq + 1);
  }
  return {
    workflow,
    inputs,
    attach: values.attach,
    engine: values.engine,
    type: values.type,
    typeVersion: values['type-version'],
    tags: Object.fromEntries((values.tag ?? []).map(tagPair)),
    engineParameters,
  };
}

export async function submitCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...submissionOptions, wait: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } });
  if (values.help) {
    io.stdout.write(`${help}\n`);
    return 0;
  }
  const [workflow, inputs, ...more] = positionals;
  if (workflow === undefined || more.length) throw new CliError(`${workflow === undefined ? 'missing WORKFLOW' : `unexpected '${more[0]}'`} (usage: ${submitUsage})`);
  const s = session(values, io);
  const prepared = await prepareSubmission(s, submissionRequest(values, workflow, inputs));
  for (const warning of prepared.warnings) io.stderr.write(`ferry: warning: ${warning}\n`);
  if (values['dry-run']) {
    printJson(s, { ...prepared.fields, workflow_attachment: prepared.attachments.map((a) => a.name) });
    return 0;
  }
  const runId = await sendSubmission(s, prepared);
  if (!values.wait) {
    if (s.json) printJson(s, { run_id: runId });
    else io.stdout.write(`${runId}\n`);
    return 0;
  }
  if (!s.json) io.stdout.write(`${runId}\n`);
  const state = await waitForRun(s, runId, s.json ? {} : { progress: io.stdout });
  if (s.json) printJson(s, { run_id: runId, state });
  return exitCodeOf(state);
}
