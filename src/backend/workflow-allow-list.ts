import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { OperationForbiddenError } from '../util/errors.js';

/** What a `--workflow-allow-list` file admits: workflow files by their digest, and URLs by prefix. */
interface AllowedWorkflows {
  digests: ReadonlySet<string>;
  prefixes: readonly string[];
}

/**
 * Registered workflows only: a submission runs only a workflow whose file
 * (or workflow.zip bundle, as sent) has a listed sha256, or whose
 * `workflow_url` starts with a listed prefix. The file holds one entry a
 * line: `sha256:HEX` (or the bare 64 hex digits) or an `http(s)://` or
 * `file://` URL prefix that names at least a folder of a host (it holds a
 * `/` after the host, so `https://example.org` cannot admit
 * `https://example.org.evil.net`); `#` starts a comment. URLs are compared
 * in their parsed form, so `..` and encoded dots cannot walk out of a
 * prefix. The file is read again when it changes; at start a broken file
 * stops the server, later a broken version leaves the last good one in force.
 */
export class WorkflowAllowList {
  private allowed: AllowedWorkflows;
  private stamp: string;

  private constructor(
    private readonly file: string,
    first: { allowed: AllowedWorkflows; stamp: string },
  ) {
    this.allowed = first.allowed;
    this.stamp = first.stamp;
  }

  /** Reads the file; throws an Error naming the file and line when it is malformed. */
  static async open(file: string): Promise<WorkflowAllowList> {
    return new WorkflowAllowList(file, await read(file));
  }

  /**
   * Throws a 403 unless the workflow is allowed: by its URL's prefix, else by
   * the digest of `stagedFile` (the file as the client sent or the server
   * fetched it, before any bundle is unpacked).
   */
  async check(workflowUrl: string, stagedFile: string): Promise<void> {
    await this.refresh();
    const { digests, prefixes } = this.allowed;
    const href = canonicalUrl(workflowUrl);
    if (href !== null && prefixes.some((p) => href.startsWith(p))) return;
    const digest = await sha256Of(stagedFile);
    if (digests.has(digest)) return;
    throw new OperationForbiddenError(`Workflow '${workflowUrl}' (sha256:${digest}) is not on this server's list of allowed workflows.`);
  }

  /** Picks up a changed file; a broken new version leaves the last good one in force. */
  private async refresh(): Promise<void> {
    const stat = await fs.stat(this.file).catch(() => null);
    if (stat === null || stampOf(stat) === this.stamp) return;
    const next = await read(this.file).catch(() => null);
    if (next) ({ allowed: this.allowed, stamp: this.stamp } = next);
  }
}

function stampOf(stat: { mtimeMs: number; size: number; ino: number }): string {
  return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
}

async function read(file: string): Promise<{ allowed: AllowedWorkflows; stamp: string }> {
  const stat = await fs.stat(file);
  const text = await fs.readFile(file, 'utf8');
  const digests = new Set<string>();
  const prefixes: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const digest = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(line)?.[1];
    if (digest) digests.add(digest.toLowerCase());
    else if (/^(https?|file):\/\/[^/\s]*\/\S*$/i.test(line) && canonicalUrl(line) !== null) prefixes.push(canonicalUrl(line)!);
    else throw new Error(`${file} line ${i + 1}: expected sha256:HEX, or an http(s):// or file:// URL prefix with a path (at least the / after the host).`);
  });
  return { allowed: { digests, prefixes }, stamp: stampOf(stat) };
}

/** An absolute http(s) or file URL in parsed form (dot segments resolved); null for anything else. */
function canonicalUrl(text: string): string | null {
  try {
    const url = new URL(text);
    return ['http:', 'https:', 'file:'].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
