import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engines/engine.js';
import { MalformedRequestError, OperationForbiddenError } from '../util/errors.js';
import { isInside } from '../util/path-safety.js';
import type { Staging } from './staging.js';
import { fileAllowed } from './workflow-source.js';

/** A run's inputs once their locations are checked. */
export interface CheckedInputs {
  /** The inputs the engine gets: as sent, or with some locations taken from the attachments. */
  params: Record<string, unknown>;
  /** Lines for the run's system logs saying what was rewritten, if anything. */
  notes: string[];
}

/** How many rewritten locations a system log line shows. */
const SHOWN = 5;

/**
 * Input files may come from the attachments (relative locations, which must
 * stay inside the run), from the web, or from local folders the server
 * allows; any other local path is refused (403) so a run cannot read the
 * server's files. The locations checked are those the run's engine says it
 * will read.
 *
 * One exception, for clients that name every input by its absolute
 * `file://` URL on their own machine, the files they attach included
 * (wes-client does): a local location outside the allowed folders whose
 * trailing path is that of an attachment (the longest such) is read from the
 * attachment instead, when the engine can rewrite its inputs. Nothing of the
 * server's is read that way, only what the client sent.
 */
export async function checkInputs(
  engine: Engine,
  params: Record<string, unknown>,
  workflowPath: string,
  staging: Staging,
  roots: readonly string[],
): Promise<CheckedInputs> {
  const locations = await engine.inputLocations(params, workflowPath);
  const relocated = new Map<string, string>();
  for (const loc of locations) {
    const outside = await localOutsideRoots(loc, staging.executionDir, roots);
    if (outside === null || relocated.has(loc)) continue;
    const attached = engine.relocateInputs ? attachedTail(outside, staging) : null;
    if (attached === null) throw new OperationForbiddenError(`Input location '${loc}' is outside the folders this server may read.`);
    relocated.set(loc, attached);
  }
  if (relocated.size === 0) return { params, notes: [] };
  const rewritten = await engine.relocateInputs!(params, workflowPath, (loc) => relocated.get(loc) ?? loc);
  const shown = [...relocated].slice(0, SHOWN).map(([from, to]) => `'${from}' → '${to}'`);
  const more = relocated.size > SHOWN ? `, and ${relocated.size - SHOWN} more` : '';
  return {
    params: rewritten,
    notes: [`Input locations outside the folders this server may read were taken from the attachments of the same name: ${shown.join(', ')}${more}.`],
  };
}

/**
 * Checks one input location: throws a 400 for a scheme this server does not
 * fetch, a malformed `file://` URL or a relative path climbing out of the
 * attachments. Returns the local path of a local location (absolute path or
 * `file://`) outside every allowed root, null for any location that may be
 * read as it is.
 */
async function localOutsideRoots(loc: string, executionDir: string, roots: readonly string[]): Promise<string | null> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(loc)?.[1]?.toLowerCase();
  let local: string;
  if (scheme === undefined && path.isAbsolute(loc)) {
    local = loc;
  } else if (scheme === undefined) {
    if (!isInside(executionDir, path.resolve(executionDir, loc))) throw new MalformedRequestError(`Input location '${loc}' climbs out of the run's attachments.`);
    return null;
  } else if (scheme === 'http' || scheme === 'https') {
    return null;
  } else if (scheme === 'file') {
    try {
      local = fileURLToPath(loc);
    } catch {
      throw new MalformedRequestError(`Input location '${loc}' is not a valid file:// URL.`);
    }
  } else {
    throw new MalformedRequestError(`Input location '${loc}' uses scheme '${scheme}', which this server does not fetch; use http(s), file or an attachment.`);
  }
  return roots.length > 0 && (await fileAllowed(local, roots)) ? null : local;
}

/**
 * The location, relative to `execution/`, of the attachment (or folder of
 * attachments) whose name is the longest trailing part of the local path
 * `local`; null when none is. Characters that would read as something else
 * in a relative URI (`%`, `#`, `?`, `:`, spaces) are percent-encoded, as CWL
 * runners read locations as URIs.
 */
export function attachedTail(local: string, staging: Staging): string | null {
  const parts = path.resolve(local).split(path.sep).filter((p) => p !== '');
  for (let i = 0; i < parts.length; i++) {
    const name = parts.slice(i).join('/');
    if (staging.attachmentNames.has(name) || staging.attachmentFolders.has(name)) {
      return name.replace(/[%#?:\s]/g, (c) => encodeURIComponent(c));
    }
  }
  return null;
}
