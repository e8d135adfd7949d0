/**
 * Where clients find things. The backend hands out links from the server's
 * root (`/toil/wes/v1/logs/…`, `/ga4gh/wes/v1/runs/…/outputs/…`); each answer
 * gets them absolute here, on the base the client reached: `--public-url`
 * when set, else the request's own scheme and Host (and, with
 * `--trust-proxy`, the proxy's X-Forwarded-Proto/Host/Prefix).
 */
import type { FastifyRequest } from 'fastify';
import { LOCAL_PATH, type ApiLinks } from '../backend/api-links.js';

const WES = '/ga4gh/wes/v1';
const RUNS = `${WES}/runs/`;

/** Links from the server's root, which {@link absoluteLinks} completes per request. */
export const rootLinks: ApiLinks = {
  stdout: (runId) => `/toil/wes/v1/logs/${encodeURIComponent(runId)}/stdout`,
  stderr: (runId) => `/toil/wes/v1/logs/${encodeURIComponent(runId)}/stderr`,
  taskLogs: (runId) => `${RUNS}${encodeURIComponent(runId)}/tasks`,
  output: (runId, relative) => `${RUNS}${encodeURIComponent(runId)}/outputs/${relative.split('/').map(encodeURIComponent).join('/')}`,
  // The root's redirect stays relative: it works behind any prefix.
  serviceInfo: () => 'ga4gh/wes/v1/service-info',
};

/** A Host (or X-Forwarded-Host) fit to put in a URL: a name or address, and a port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** An X-Forwarded-Prefix fit to put in a URL: `/`-separated plain segments. */
const PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+\/?$/;

/** The base every link of an answer to `request` starts with (no trailing slash). */
export function requestBase(request: FastifyRequest, publicUrl: string | undefined, trustProxy: boolean): string {
  if (publicUrl !== undefined) return publicUrl;
  // Fastify reads X-Forwarded-Proto/Host only when trustProxy is on.
  const proto = request.protocol === 'https' ? 'https' : 'http';
  const host = HOST.test(request.host) ? request.host : `${request.socket.localAddress?.includes(':') ? `[${request.socket.localAddress}]` : (request.socket.localAddress ?? 'localhost')}:${request.socket.localPort ?? 80}`;
  let prefix = '';
  if (trustProxy) {
    const given = request.headers['x-forwarded-prefix'];
    const value = (Array.isArray(given) ? given[0] : given)?.trim();
    if (value && PREFIX.test(value) && !value.split('/').some((s) => s === '..' || s === '.' || /%2e/i.test(s))) prefix = value.replace(/\/+$/, '');
  }
  return `${proto}://${host}${prefix}`;
}

/**
 * The answer of an operation with its links made absolute on `base`. Only
 * the fields that hold links are copied; the rest is shared with the backend's
 * (possibly cached) answer, which is never changed.
 */
export function absoluteLinks(operationId: string, body: unknown, base: string, local = false): unknown {
  if (typeof body !== 'object' || body === null) return body;
  if (operationId === 'GetRunLog') {
    const log = body as { run_log?: Record<string, unknown>; task_logs_url?: unknown; outputs?: unknown };
    const runLog = log.run_log ? { ...log.run_log, stdout: onBase(log.run_log.stdout, base), stderr: onBase(log.run_log.stderr, base) } : undefined;
    return {
      ...log,
      ...(runLog ? { run_log: runLog } : {}),
      ...(log.task_logs_url !== undefined ? { task_logs_url: onBase(log.task_logs_url, base) } : {}),
      ...(log.outputs !== undefined ? { outputs: outputsOnBase(log.outputs, base, local) } : {}),
    };
  }
  if (operationId === 'ListRunOutputs') {
    const list = body as { outputs: { location: string }[] };
    return { ...list, outputs: list.outputs.map((o) => ({ ...o, location: onBase(o.location, base) })) };
  }
  if (operationId === 'GetRunOutput' && Array.isArray((body as { listing?: unknown }).listing)) {
    return outputsOnBase(body, base);
  }
  return body;
}

function onBase(link: unknown, base: string): unknown {
  return typeof link === 'string' && link.startsWith('/') ? base + link : link;
}

/**
 * Every File's and Directory's `location` under a run (outputs,
 * secondaryFiles, listings), on `base`; for a client on this machine
 * (`local`), its `path` here too, as a local cwl-runner harness checks it
 * (what Toil's server gives every client).
 */
function outputsOnBase(value: unknown, base: string, local = false): unknown {
  if (Array.isArray(value)) return value.map((v) => outputsOnBase(v, base, local));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  // for…in rather than Object.entries: no array of pairs per object of every answer's outputs.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const v = (value as Record<string, unknown>)[key];
    out[key] = key === 'location' && typeof v === 'string' && v.startsWith(RUNS) ? base + v : outputsOnBase(v, base, local);
  }
  const here = (value as { [LOCAL_PATH]?: string })[LOCAL_PATH];
  if (local && here !== undefined) out.path = here;
  return out;
}
