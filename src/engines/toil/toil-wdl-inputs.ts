import fs from 'node:fs/promises';
import path from 'node:path';
import { MalformedRequestError } from '../../util/errors.js';
import { everyString } from '../input-walk.js';
import { parseWdl, type WdlDocument } from '../wdl/parser.js';
import { fileStrings, holdsFiles, parseWdlType, type WdlType } from '../wdl/types.js';

/**
 * The keys of a run's inputs that Toil 5.9's WDL runner reads for the
 * declarations whose type may hold a File, with those types.
 *
 * The runner (toil/wdl/wdl_synthesis.py, `json_var`) looks up
 * `<workflow>.<name>` for every declaration of the workflow (its `input`
 * section, its body, inside `if` blocks) and `<workflow>.<task>.<name>` for
 * every declaration of a task (its `input` section and body; the task's
 * name, not the call's alias). A value found there replaces the declaration's
 * expression, and every File in it is imported when the run starts. Listed
 * besides, though the runner ignores them, so that no engine's keying slips
 * through: declarations inside `scatter` blocks, and `<workflow>.<call
 * alias>.<name>`, the key other WDL engines read.
 */
export function toilWdlFileInputs(doc: WdlDocument): Map<string, WdlType> {
  const keys = new Map<string, WdlType>();
  const wf = doc.workflow;
  if (!wf) return keys;
  const add = (key: string, typeText: string | null): void => {
    if (typeText === null) return;
    // A type this reader cannot take apart is taken as one that may hold files anywhere.
    const type = parseWdlType(typeText) ?? { name: typeText, params: [], optional: false, nonEmpty: false };
    if (holdsFiles(type)) keys.set(key, type);
  };
  for (const decl of wf.declarations) add(`${wf.name}.${decl.name}`, decl.type);
  for (const task of doc.tasks.values()) {
    for (const decl of task.declarations) add(`${wf.name}.${task.name}.${decl.name}`, decl.type);
  }
  for (const call of wf.calls) {
    for (const decl of doc.tasks.get(call.task)?.declarations ?? []) add(`${wf.name}.${call.alias}.${decl.name}`, decl.type);
  }
  return keys;
}

/**
 * Every string in a run's inputs that Toil 5.9's WDL runner reads as a file:
 * those at the File positions of the declarations {@link toilWdlFileInputs}
 * lists. It imports http(s), file, s3, gs and wasb URLs through Toil and
 * anything else as a local path, relative to the run's execution folder.
 *
 * The runner pastes a top-level string value between double quotes into the
 * Python script it compiles (toil/wdl/utils.py, `dict_from_JSON`), so a `"`
 * or `\` in it changes what the script reads; where the value may name a
 * file, such a value is refused (400) rather than checked as written.
 *
 * When the workflow cannot be read here (such a run cannot complete anyway:
 * its outputs are found through the same reader) which inputs are Files is
 * unknown, so every string that would name something outside the run's
 * attachments — an absolute path, a URL, a path climbing out — is returned,
 * and every top-level string is held to the quoting rule; plain words and
 * names of attachments stay accepted, as before.
 */
export async function toilWdlInputLocations(params: Record<string, unknown>, workflowPath: string): Promise<string[]> {
  let doc: WdlDocument | null;
  try {
    doc = parseWdl(await fs.readFile(workflowPath, 'utf8'));
  } catch {
    doc = null;
  }
  if (!doc?.workflow) {
    for (const [key, value] of Object.entries(params)) refuseQuoted(key, value);
    return everyString(params).filter(mayLeaveAttachments);
  }
  const locations: string[] = [];
  for (const [key, type] of toilWdlFileInputs(doc)) {
    if (!Object.hasOwn(params, key)) continue;
    refuseQuoted(key, params[key]);
    fileStrings(type, params[key], 1, locations);
  }
  return locations;
}

function refuseQuoted(key: string, value: unknown): void {
  if (typeof value === 'string' && /["\\]/.test(value)) {
    throw new MalformedRequestError(
      `Input '${key}' holds a quote or a backslash, which Toil 5.9's WDL runner would not read as written (it pastes the value into the Python script it compiles).`,
    );
  }
}

/** An absolute path, a URL, or a relative path with a `..` step. */
function mayLeaveAttachments(s: string): boolean {
  return path.isAbsolute(s) || /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s) || /^file:/i.test(s) || s.split('/').includes('..');
}
