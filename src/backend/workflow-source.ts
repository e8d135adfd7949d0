import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import dns from 'node:dns/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { MalformedRequestError, OperationForbiddenError, PayloadTooLargeError, errnoCode, isStorageTrouble } from '../util/errors.js';
import { isInside } from '../util/path-safety.js';
import { checkAttachmentName, type Staging } from './staging.js';

export interface SourcePolicy {
  allowedFileRoots: readonly string[];
  downloadTimeoutMs: number;
  maxDownloadBytes: number;
  allowPrivateDownloads: boolean;
  /** Limits on a workflow.zip bundle, once staged (see bundle.ts). */
  maxZipEntries: number;
  maxZipBytes: number;
}

/** Whether a local path may be read: it (with links resolved) lies under an allowed root. */
export async function fileAllowed(p: string, roots: readonly string[]): Promise<boolean> {
  let real: string;
  try {
    real = await fs.realpath(p);
  } catch {
    real = path.resolve(p);
  }
  for (const root of roots) {
    const realRoot = await fs.realpath(root).catch(() => path.resolve(root));
    if (isInside(realRoot, real)) return true;
  }
  return false;
}

/** The workflow a `workflow_url` names, once staged. */
export interface StagedWorkflow {
  /** The workflow file, relative to `execution/`. */
  file: string;
  /** The `#fragment` naming the object to run inside it (`packed.cwl#main`), if one was given. */
  fragment: string | null;
}

/** What a fragment may hold: the ids of packed CWL documents (`main`, `upper.cwl`, `main/step`). */
const FRAGMENT = /^[\w.~:@/+-]{1,1024}$/;

/**
 * Puts the workflow a `workflow_url` names into the staging folder:
 * - exactly the name of an attachment: that attachment, however the name
 *   would read as a URL (`colon:test.cwl` is a file name, not a scheme);
 * - else the part before any `#` is the workflow, and what follows it the
 *   object to run inside it (toil-wes-cwl-runner sends `packed.cwl#main`):
 * - no scheme: one of the attachments;
 * - `file://`: copied in, only from under an allowed root (else 403);
 * - `http(s)://`: downloaded, with a time and size limit, and (unless
 *   allowed) never from loopback or private addresses.
 */
export async function stageWorkflow(url: string, staging: Staging, policy: SourcePolicy): Promise<StagedWorkflow> {
  const exact = attachedAs(url, staging) ?? attachedAs(decodeURIComponentSafe(url), staging);
  if (exact !== null) return { file: exact, fragment: null };
  const hash = url.indexOf('#');
  if (hash === -1) return { file: await stageFile(url, staging, policy), fragment: null };
  const fragment = url.slice(hash + 1);
  if (fragment !== '' && !FRAGMENT.test(fragment)) {
    throw new MalformedRequestError(`workflow_url '${url}' has a '#' fragment that is not the id of an object in a workflow.`);
  }
  return { file: await stageFile(url.slice(0, hash), staging, policy), fragment: fragment || null };
}

/** The attachment whose name is exactly `name`, or null. */
function attachedAs(name: string, staging: Staging): string | null {
  try {
    return checkAttachmentName(name) === name && staging.attachmentNames.has(name) ? name : null;
  } catch {
    return null;
  }
}

/** Stages the workflow file `url` names (no fragment); returns its path relative to `execution/`. */
async function stageFile(url: string, staging: Staging, policy: SourcePolicy): Promise<string> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (staging.attachmentNames.size === 0) throw new MalformedRequestError("Relative 'workflow_url' but missing 'workflow_attachment'");
    let name: string;
    try {
      name = checkAttachmentName(decodeURIComponentSafe(url));
    } catch {
      throw new MalformedRequestError(`workflow_url '${url}' is not a valid relative path.`);
    }
    if (!staging.attachmentNames.has(name)) {
      throw new MalformedRequestError(`workflow_url '${url}' names no attached file.`);
    }
    return name;
  }
  if (scheme === 'file') {
    let local: string;
    try {
      local = fileURLToPath(url);
    } catch {
      throw new MalformedRequestError(`workflow_url '${url}' is not a valid file:// URL.`);
    }
    if (policy.allowedFileRoots.length === 0 || !(await fileAllowed(local, policy.allowedFileRoots))) {
      throw new OperationForbiddenError(`workflow_url '${url}' is outside the folders this server may read.`);
    }
    const name = uniqueName(staging, path.basename(local));
    try {
      await fs.copyFile(local, path.join(staging.executionDir, name));
    } catch (err) {
      if (isStorageTrouble(err)) throw err; // our disk, not the client's URL: a 507
      throw new MalformedRequestError(`workflow_url '${url}' cannot be read (${errnoCode(err) ?? 'error'}).`);
    }
    return name;
  }
  if (scheme === 'http' || scheme === 'https') {
    return download(url, staging, policy);
  }
  throw new MalformedRequestError(`workflow_url scheme '${scheme}' is not supported; use an attachment, file://, http:// or https://.`);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function uniqueName(staging: Staging, base: string): string {
  const clean = base.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '') || 'workflow';
  let name = clean;
  for (let i = 1; staging.attachmentNames.has(name); i++) name = `${i}-${clean}`;
  return name;
}

async function download(url: string, staging: Staging, policy: SourcePolicy): Promise<string> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new MalformedRequestError(`workflow_url '${url}' is not a valid URL.`);
  }
  if (!current.hostname) throw new MalformedRequestError(`workflow_url '${url}' names no host.`);
  const signal = AbortSignal.timeout(policy.downloadTimeoutMs);
  for (let hop = 0; hop < 5; hop++) {
    if (!policy.allowPrivateDownloads) await refusePrivate(current);
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', signal });
    } catch (err) {
      throw new MalformedRequestError(`workflow_url '${url}' could not be fetched: ${(err as Error).message}.`);
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      current = new URL(res.headers.get('location')!, current);
      if (current.protocol !== 'http:' && current.protocol !== 'https:') break;
      continue;
    }
    if (!res.ok || !res.body) {
      throw new MalformedRequestError(`workflow_url '${url}' could not be fetched: HTTP ${res.status}.`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > policy.maxDownloadBytes) throw new PayloadTooLargeError(`workflow_url '${url}' is larger than ${policy.maxDownloadBytes} bytes.`);
    const name = uniqueName(staging, decodeURIComponentSafe(path.posix.basename(current.pathname)) || 'workflow');
    let seen = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > policy.maxDownloadBytes) done(new PayloadTooLargeError(`workflow_url '${url}' is larger than ${policy.maxDownloadBytes} bytes.`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), limit, createWriteStream(path.join(staging.executionDir, name)));
    } catch (err) {
      if (err instanceof PayloadTooLargeError || isStorageTrouble(err)) throw err;
      throw new MalformedRequestError(`workflow_url '${url}' could not be fetched: ${(err as Error).message}.`);
    }
    return name;
  }
  throw new MalformedRequestError(`workflow_url '${url}' redirects too often or to an unsupported scheme.`);
}

async function refusePrivate(url: URL): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw new MalformedRequestError(`workflow_url host '${host}' cannot be resolved.`);
  }
  if (addresses.some(isPrivateAddress)) {
    throw new OperationForbiddenError(`workflow_url host '${host}' is a private or loopback address, which this server does not fetch from.`);
  }
}

/** Loopback, private, link-local and unspecified addresses (v4 and v6). */
export function isPrivateAddress(address: string): boolean {
  const list = new net.BlockList();
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addSubnet('10.0.0.0', 8, 'ipv4');
  list.addSubnet('100.64.0.0', 10, 'ipv4');
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('172.16.0.0', 12, 'ipv4');
  list.addSubnet('192.168.0.0', 16, 'ipv4');
  list.addAddress('::', 'ipv6');
  list.addAddress('::1', 'ipv6');
  list.addSubnet('fc00::', 7, 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return list.check(mapped[1]!, 'ipv4');
  return list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}
