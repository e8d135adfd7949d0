import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import type { Test } from 'tap';
import type { FerryConfig } from '../../src/config/config.js';
import { findRunProcesses } from '../../src/tasks/run-processes.js';
import { buildTestApp, call, multipart, tempDir, workflowsDir, outputPath } from '../helper.js';

/**
 * Runs sandboxed from each other and from the server, on real engines: a
 * tool that looks for another run's output, the work folder, the state
 * store, the credential files and the server's home finds none of them,
 * while it can still use the system, write its own folder and read the
 * allowed file roots. The same look-around without the sandbox finds them,
 * so these checks can fail.
 */

const TOKEN = 'sandbox-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Layout {
  /** An allowed file root that also holds the work folder and the credential files: what the sandbox must mask inside it. */
  root: string;
  config: Partial<FerryConfig>;
}

async function submit(t: Test, app: FastifyInstance, fields: Record<string, string>, files: { filename: string; content: Buffer }[]) {
  const body = multipart(fields, files);
  return call(t, app, { method: 'POST', url: '/ga4gh/wes/v1/runs', payload: body.payload, headers: { ...body.headers, ...auth } });
}

async function waitForState(t: Test, app: FastifyInstance, runId: string, timeoutMs = 180_000): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const state = ((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/status`, headers: auth })).json() as { state: string }).state;
    if (['COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED'].includes(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

async function layout(t: Test): Promise<Layout> {
  const root = await tempDir(t, 'ferry-sandbox-');
  const tokens = path.join(root, 'tokens');
  await fs.writeFile(tokens, `alice ${sha256(TOKEN)}\n`);
  await fs.writeFile(path.join(root, 'shared.txt'), 'shared data\n');
  const workDir = path.join(root, 'work');
  await fs.mkdir(workDir);
  return { root, config: { workDir, authTokens: tokens, allowedFileRoots: [root] } };
}

/** Runs the snoop tool with `checks` (label → shell test) and answers each label's outcome. */
async function snoop(t: Test, app: FastifyInstance, engine: string, checks: Record<string, string>): Promise<Record<string, boolean>> {
  const script = Object.entries(checks)
    .map(([label, test]) => `if ( ${test} ) >/dev/null 2>&1; then echo "${label}=yes"; else echo "${label}=no"; fi`)
    .join('\n');
  const res = await submit(t, app, {
    workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'snoop.cwl', workflow_engine: engine,
    workflow_params: JSON.stringify({ script }),
  }, [{ filename: 'snoop.cwl', content: await fs.readFile(path.join(workflowsDir, 'snoop', 'snoop.cwl')) }]);
  t.equal(res.statusCode, 200, res.body);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE', `the snoop run on ${engine} completes`);
  const report = await fs.readFile(await outputFile(t, app, runId, 'report'), 'utf8');
  const found: Record<string, boolean> = {};
  for (const line of report.trim().split('\n')) {
    const [label, answer] = line.split('=');
    found[label!] = answer === 'yes';
  }
  return found;
}

async function outputFile(t: Test, app: FastifyInstance, runId: string, name: string): Promise<string> {
  const log = (await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}`, headers: auth })).json() as { outputs: Record<string, { location: string }> };
  return outputPath(app, log.outputs[name]!.location);
}

/** A finished run whose output another run will look for. */
async function victim(t: Test, app: FastifyInstance): Promise<{ runId: string; output: string }> {
  const res = await submit(t, app, {
    workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl',
    workflow_params: JSON.stringify({ message: 'secret of the first run' }),
  }, [{ filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) }]);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  return { runId, output: await outputFile(t, app, runId, 'output') };
}

/** The look-around: what a run must not see, and what it must still be able to do. */
function lookAround(l: Layout, other: { runId: string; output: string }, port: number): Record<string, string> {
  const { workDir, authTokens } = l.config as Required<Pick<FerryConfig, 'workDir' | 'authTokens'>>;
  const stateStore = path.join(workDir, 'state_store');
  return {
    other_output: `grep -q 'secret of the first run' '${other.output}'`,
    other_folder: `test -e '${path.join(workDir, other.runId)}'`,
    work_listing: `ls -a '${workDir}' | grep -q '${other.runId}'`,
    state_store: `ls '${stateStore}' | grep -q .`,
    tokens: `grep -q alice '${authTokens}'`,
    home: `test -d '${process.env.HOME ?? '/root'}' && ls -a '${process.env.HOME ?? '/root'}' | grep -q .`,
    shadow: 'grep -q root /etc/shadow',
    // The machine's device nodes belong to root: a run of a root server must not be able to change them (a no-op mode here).
    device_mode: 'chmod 666 /dev/null',
    root: 'test "$(id -u)" = 0',
    // The server and the supervisors are node processes; a run's own are not.
    server_processes: 'cat /proc/[0-9]*/comm | grep -qx node',
    // What a run still needs.
    system: 'test -x /usr/bin/python3 && /usr/bin/python3 -c "import json"',
    own_write: 'echo x > ./written && test -s ./written',
    tmp_write: 'echo x > /tmp/ferry-sandbox-probe && test -s /tmp/ferry-sandbox-probe',
    allowed_read: `grep -q 'shared data' '${path.join(l.root, 'shared.txt')}'`,
    allowed_write: `echo x > '${path.join(l.root, 'written-by-a-run')}'`,
    network: `/usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}/', timeout=5)"`,
  };
}

async function listen(t: Test): Promise<number> {
  const server = http.createServer((_req, res) => res.end('here\n'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

t.test('a sandboxed run sees its own folder, the system and the allowed roots, and nothing else', async (t) => {
  const l = await layout(t);
  const port = await listen(t);
  const app = await buildTestApp(t, { ...l.config, sandbox: 'bwrap' });
  const info = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { tags: Record<string, string> };
  t.same([info.tags.sandbox, info.tags.sandbox_network], ['bwrap', 'on'], 'service-info says which sandbox is in force');
  const other = await victim(t, app);
  for (const engine of ['cwltool', 'toil']) {
    t.test(`on ${engine}`, async (t) => {
      const found = await snoop(t, app, engine, lookAround(l, other, port));
      t.same(found, {
        other_output: false, other_folder: false, work_listing: false, state_store: false, tokens: false, home: false, shadow: false, server_processes: false,
        device_mode: false, root: false,
        system: true, own_write: true, tmp_write: true, allowed_read: true, allowed_write: false, network: true,
      });
    });
  }
  t.test('its /tmp is its own', async (t) => {
    t.rejects(fs.access('/tmp/ferry-sandbox-probe'), 'nothing written to the machine\'s /tmp');
    t.rejects(fs.access(path.join(l.root, 'written-by-a-run')), 'nothing written into the allowed root');
  });
});

t.test('--sandbox-network off: a run reaches no network, not even the machine\'s loopback', async (t) => {
  const l = await layout(t);
  const port = await listen(t);
  const app = await buildTestApp(t, { ...l.config, sandbox: 'bwrap', sandboxNetwork: false });
  const info = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { tags: Record<string, string> };
  t.equal(info.tags.sandbox_network, 'off');
  const found = await snoop(t, app, 'cwltool', { network: lookAround(l, { runId: 'x', output: '/x' }, port).network!, system: 'test -x /usr/bin/python3' });
  t.same(found, { network: false, system: true });
});

t.test('without the sandbox the same look-around finds what the sandbox hides', async (t) => {
  const l = await layout(t);
  const port = await listen(t);
  const app = await buildTestApp(t, { ...l.config, sandbox: 'none' });
  const info = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as { tags: Record<string, string> };
  t.equal(info.tags.sandbox, 'none');
  const other = await victim(t, app);
  const found = await snoop(t, app, 'cwltool', lookAround(l, other, port));
  t.match(found, { other_output: true, other_folder: true, work_listing: true, state_store: true, tokens: true, allowed_write: true, server_processes: true });
  await fs.rm('/tmp/ferry-sandbox-probe', { force: true });
});

t.test('cancel reaches the engine inside the sandbox, and no process of the run is left', async (t) => {
  const l = await layout(t);
  // A long grace period: the run ends CANCELED soon only if the engine itself got SIGTERM (not bubblewrap, not the grace period's SIGKILL).
  const app = await buildTestApp(t, { ...l.config, sandbox: 'bwrap', cancelGraceMs: 120_000 });
  for (const engine of ['cwltool', 'toil']) {
    t.test(`on ${engine}`, async (t) => {
      const res = await submit(t, app, {
        workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'snoop.cwl', workflow_engine: engine,
        workflow_params: JSON.stringify({ script: 'sleep 300' }),
      }, [{ filename: 'snoop.cwl', content: await fs.readFile(path.join(workflowsDir, 'snoop', 'snoop.cwl')) }]);
      const runId = (res.json() as { run_id: string }).run_id;
      const runDir = path.join(l.config.workDir!, runId);
      // Wait for the tool to run: a `sleep 300` among the run's processes.
      for (let i = 0; i < 600; i++) {
        const pids = await findRunProcesses(runId, runDir);
        const commands = await Promise.all(pids.map((pid) => fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
        if (commands.some((c) => c.startsWith('sleep\0'))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.equal((await call(t, app, { method: 'POST', url: `/ga4gh/wes/v1/runs/${runId}/cancel`, headers: auth })).statusCode, 200);
      t.equal(await waitForState(t, app, runId, 60_000), 'CANCELED');
      const left = await findRunProcesses(runId, runDir);
      if (left.length > 0) {
        for (const pid of left) {
          const read = (f: string) => fs.readFile(`/proc/${pid}/${f}`, 'utf8').catch((e: Error) => e.message);
          t.comment(`left: ${pid} cmdline=${JSON.stringify(await read('cmdline'))} stat=${await read('stat')}`);
        }
      }
      t.same(left, [], 'nothing of the run runs on');
    });
  }
});

t.test('a process a tool leaves behind, in a session of its own, is gone when the run ends', async (t) => {
  for (const sandbox of ['bwrap', 'none'] as const) {
    t.test(`sandbox ${sandbox}`, async (t) => {
      const l = await layout(t);
      const app = await buildTestApp(t, { ...l.config, sandbox });
      const res = await submit(t, app, {
        workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'snoop.cwl', workflow_engine: 'cwltool',
        workflow_params: JSON.stringify({ script: 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo left=yes' }),
      }, [{ filename: 'snoop.cwl', content: await fs.readFile(path.join(workflowsDir, 'snoop', 'snoop.cwl')) }]);
      t.equal(res.statusCode, 200, res.body);
      const runId = (res.json() as { run_id: string }).run_id;
      t.equal(await waitForState(t, app, runId), 'COMPLETE');
      t.match(await fs.readFile(await outputFile(t, app, runId, 'report'), 'utf8'), /left=yes/, 'the tool started it');
      t.same(await findRunProcesses(runId, path.join(l.config.workDir!, runId)), [], 'nothing of the run runs on once it is COMPLETE');
    });
  }
});
