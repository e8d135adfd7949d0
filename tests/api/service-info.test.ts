import fs from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { components } from '../../generated/schema.js';
import { buildTestApp, call, submit, workflowsDir } from '../helper.js';

type ServiceInfo = components['schemas']['ServiceInfo'];

const URL_SI = '/ga4gh/wes/v1/service-info';
const echo = await fs.readFile(path.join(workflowsDir, 'echo', 'echo.cwl'));

// One app for the whole file: a server default for toil only.
const app = await buildTestApp(t, { engineOptions: ['toil:--retryCount=2'], maxConcurrentRuns: 4 });

async function serviceInfo(tt: Test): Promise<ServiceInfo> {
  const res = await call(tt, app, { method: 'GET', url: URL_SI });
  tt.equal(res.statusCode, 200, 'service-info is 200');
  tt.match(res.headers['content-type'], /^application\/json/);
  return res.json() as ServiceInfo;
}

t.test('service-info is 200 and has every required Service field', async (t) => {
  const si = await serviceInfo(t);
  t.type(si.id, 'string');
  t.ok(si.id.length > 0, 'id is not empty');
  t.equal(si.id, app.ferry.config.serviceId);
  t.type(si.name, 'string');
  t.ok(si.name.length > 0, 'name is not empty');
  t.same(si.type, { group: 'org.ga4gh', artifact: 'wes', version: si.type.version });
  t.match(si.type.version, /^1\.1(\.\d+)?$/, 'type.version is WES 1.1');
  t.type(si.organization?.name, 'string');
  t.type(si.organization?.url, 'string');
  t.type(si.version, 'string');
  t.ok(si.version.length > 0, 'version is not empty');
  t.ok(si.supported_wes_versions.includes('1.1.0'), 'supports WES 1.1.0');
  t.same([...si.supported_filesystem_protocols].sort(), ['file', 'http', 'https']);
  t.type(si.auth_instructions_url, 'string');
});

t.test('workflow_type_versions: CWL v1.0, v1.1, v1.2', async (t) => {
  const si = await serviceInfo(t);
  t.same(Object.keys(si.workflow_type_versions).slice(0, 2), ['CWL', 'WDL'], 'CWL and WDL are offered (PY too where Toil\'s Python is installed)');
  t.same(si.workflow_type_versions.WDL?.workflow_type_version, ['draft-2', '1.0']);
  t.same(si.workflow_type_versions.CWL?.workflow_type_version, ['v1.0', 'v1.1', 'v1.2']);
});

t.test('workflow_engine_versions in the WES 1.1 object form, for cwltool and toil', async (t) => {
  const si = await serviceInfo(t);
  const ev = si.workflow_engine_versions as Record<string, unknown>;
  t.same(Object.keys(ev).sort(), ['cwltool', 'toil']);
  for (const name of ['cwltool', 'toil']) {
    const entry = ev[name] as { workflow_engine_version?: unknown };
    t.type(entry, 'object', `${name} entry is an object, not a bare string`);
    t.ok(Array.isArray(entry.workflow_engine_version), `${name}.workflow_engine_version is an array`);
    const versions = entry.workflow_engine_version as unknown[];
    t.ok(versions.length >= 1, `${name} reports its installed version`);
    for (const v of versions) t.match(v, /^\d+\.\d+/, `${name} version looks like a version`);
  }
});

t.test('default_workflow_engine_parameters reflect config.engineOptions', async (t) => {
  const si = await serviceInfo(t);
  t.same(si.default_workflow_engine_parameters, [{ name: 'toil:--retryCount', type: 'string', default_value: '2' }]);
  t.notOk(
    si.default_workflow_engine_parameters.some((p) => p.name?.startsWith('cwltool:')),
    'an option scoped to toil is not offered as a cwltool default',
  );
});

t.test('default_workflow_engine_parameters: unscoped options apply to every engine, switches have an empty value', async (t) => {
  const other = await buildTestApp(t, { engineOptions: ['--debug', 'cwltool:--on-error=continue'] });
  const res = await call(t, other, { method: 'GET', url: URL_SI });
  t.equal(res.statusCode, 200);
  const params = (res.json() as ServiceInfo).default_workflow_engine_parameters;
  t.same(
    [...params].sort((a, b) => String(a.name).localeCompare(String(b.name))),
    [
      { name: 'cwltool:--debug', type: 'string', default_value: '' },
      { name: 'cwltool:--on-error', type: 'string', default_value: 'continue' },
      { name: 'toil:--debug', type: 'string', default_value: '' },
    ],
  );
});

t.test('tags.wes_dialect follows the configured dialect', async (t) => {
  const si = await serviceInfo(t);
  t.equal(si.tags.wes_dialect, 'standard');
  const agc = await buildTestApp(t, { wesDialect: 'agc' });
  const res = await call(t, agc, { method: 'GET', url: URL_SI });
  t.equal((res.json() as ServiceInfo).tags.wes_dialect, 'agc');
});

t.test('system_state_counts counts runs', async (t) => {
  const before = await serviceInfo(t);
  t.same(before.system_state_counts, {}, 'no runs, no counts (only non-zero states are listed)');

  const submitted: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await submit(
      t,
      app,
      { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: JSON.stringify({ message: `m${i}` }) },
      [{ filename: 'echo.cwl', content: echo }],
    );
    t.equal(res.statusCode, 200, res.body);
    submitted.push((res.json() as { run_id: string }).run_id);
  }

  const after = await serviceInfo(t);
  const counts = after.system_state_counts;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  t.equal(total, 2, `two runs counted: ${JSON.stringify(counts)}`);
  const states = ['UNKNOWN', 'QUEUED', 'INITIALIZING', 'RUNNING', 'PAUSED', 'COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELING', 'CANCELED', 'PREEMPTED'];
  for (const [state, n] of Object.entries(counts)) {
    t.ok(states.includes(state), `${state} is a WES state`);
    t.ok(Number.isInteger(n) && n > 0, `${state}: only non-zero counts are listed`);
  }
  t.notOk('UNKNOWN' in counts, 'existing runs are never UNKNOWN');
});
