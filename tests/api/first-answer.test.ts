import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { components } from '../../generated/schema.js';
import { DEFAULT_PROBE_WAIT_MS } from '../../src/backend/service-info.js';
import { buildTestApp, call, submit, waitForState, workflowsDir } from '../helper.js';

type ServiceInfo = components['schemas']['ServiceInfo'];

// The server answers before its engines are probed (their --version takes
// seconds): service-info waits for the probes briefly, answers with what it
// has, and shows every version once they are done. How soon a fresh server
// answers is measured, not asserted: scripts/bench/first-answer.ts.

t.test('service-info answers while the engine probes run, and shows the versions once they are done', async (t) => {
  // A process of its own (tap runs each file so): no probe has run here yet.
  const app = await buildTestApp(t, {}, { probeWaitMs: DEFAULT_PROBE_WAIT_MS });
  let probed = false;
  void app.ferry.backend.enginesProbed().then(() => (probed = true));
  const first = await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' });
  const pending = !probed;
  t.equal(first.statusCode, 200, 'answered');
  const early = first.json() as ServiceInfo;
  t.same(Object.keys(early.workflow_engine_versions).sort(), ['cwltool', 'toil'], 'every engine listed');

  await app.ferry.backend.enginesProbed();
  const later = (await call(t, app, { method: 'GET', url: '/ga4gh/wes/v1/service-info' })).json() as ServiceInfo;
  const versions = (si: ServiceInfo, name: string): string[] => (si.workflow_engine_versions[name] as { workflow_engine_version: string[] }).workflow_engine_version;
  for (const name of ['cwltool', 'toil']) {
    t.ok(versions(later, name).length >= 1, `${name}'s version, once probed`);
    t.ok(versions(early, name).every((v) => versions(later, name).includes(v)), `${name}: the first answer showed only versions found`);
  }
  t.ok(Object.keys(later.workflow_type_versions).includes('PY'), "PY, once Toil's Python is found");
  if (pending) {
    const missing = ['cwltool', 'toil'].filter((n) => versions(early, n).length === 0);
    t.ok(missing.length > 0 || !Object.keys(early.workflow_type_versions).includes('PY'), `the first answer came while a probe still ran (without: ${missing.join(', ') || 'PY'})`);
  } else {
    t.comment('the probes ended before the first answer (a fast machine): nothing pending to see');
  }
});

t.test('every log line about a run names its run_id', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = await buildTestApp(t, {}, { logger: pino({ level: 'debug' }, sink) });
  const res = await submit(t, app, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: '{"message":"ids"}' }, [
    { filename: 'echo.cwl', content: await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl')) },
  ]);
  const runId = (res.json() as { run_id: string }).run_id;
  t.equal(await waitForState(t, app, runId), 'COMPLETE');
  await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}` });
  t.equal((await call(t, app, { method: 'GET', url: `/ga4gh/wes/v1/runs/${runId}/tasks/nope` })).statusCode, 404, 'a refusal about the run');
  await call(t, app, { method: 'DELETE', url: `/ga4gh/wes/v1/runs/${runId}` });
  // The requests about the run: every line of each of them, and every line that names the run.
  const about = new Set<unknown>(lines.filter((l) => JSON.stringify(l).includes(runId)).map((l) => l.reqId).filter((id) => id !== undefined));
  const concerned = lines.filter((l) => about.has(l.reqId) || JSON.stringify(l).includes(runId));
  t.ok(concerned.length >= 10, `${concerned.length} lines about the run`);
  t.same(concerned.filter((l) => l.run_id !== runId).map((l) => l.msg), [], 'each carries run_id');
  t.ok(concerned.some((l) => l.msg === 'request refused' && l.run_id === runId), 'a refusal too');
  t.ok(concerned.some((l) => l.msg === 'run accepted'), 'and the submission');
});
