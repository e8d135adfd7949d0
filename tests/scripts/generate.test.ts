/**
 * The code generator (scripts/generate.ts) run as a command on a copy of the repository's
 * generator, spec/ and generated/: it must refuse every spec it cannot bundle faithfully, with a
 * `generate: …` message naming what is wrong and without touching generated/, and it must notice
 * (and repair) a generated/ that no longer matches spec/.
 *
 * Only the copies are edited; the upstream files in spec/ stay verbatim.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { operationIds } from '../../generated/operations.js';
import { tempDir } from '../helper.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WES = 'workflow_execution_service.openapi.yaml';
const FERRY = 'ferry.yaml';
const SERVICE_INFO = 'service-info.yaml';
const SERVICE_INFO_URL = 'https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/service-info.yaml';
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
/** One generator run; generous, since the machine may be busy with other test files. */
const RUN_TIMEOUT_MS = 90_000;
/**
 * The generator runs as `npm run generate` would: without tap's loader hooks (NODE_OPTIONS),
 * which would only slow every run down.
 */
const GENERATOR_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS' && !/^_?TAP/.test(key)),
);

// Each case spawns the generator (a few seconds of CPU): two at a time.
t.jobs = 2;

/**
 * A self-contained copy of the generator: it finds spec/ and generated/ relative to its own
 * files, so it reads and writes only inside the copy.
 */
const pristine = await tempDir(t, 'ferry-generate-');
for (const entry of ['scripts', 'spec', 'generated', 'package.json', 'tsconfig.json']) {
  await fs.cp(path.join(REPO, entry), path.join(pristine, entry), { recursive: true });
}
await fs.symlink(await fs.realpath(path.join(REPO, 'node_modules')), path.join(pristine, 'node_modules'), 'dir');

/** Every file of a folder tree (relative path -> content). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = await fs.readFile(full, 'utf8');
  }
  return out;
}

const pristineGenerated = await snapshot(path.join(pristine, 'generated'));

/** A fresh copy of the pristine tree for one test. */
async function copyTree(tt: Test): Promise<string> {
  const dir = await tempDir(tt, 'ferry-generate-case-');
  await fs.cp(pristine, dir, { recursive: true });
  return dir;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the copy's generator, as `npm run generate[:check]` would, in the copy. */
function generate(dir: string, ...args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(dir, 'node_modules', '.bin', 'tsx'),
      ['scripts/generate.ts', ...args],
      { cwd: dir, env: GENERATOR_ENV, timeout: RUN_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`generator did not run to an exit code (${err.message}): ${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** `from` replaced by `to`; `from` must occur exactly once, so a changed spec fails here loudly. */
function replaceOnce(text: string, from: string, to: string): string {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`expected ${JSON.stringify(from)} once in the spec, found it ${count} times`);
  return text.replace(from, () => to);
}

/** A textual edit of a copied spec file. */
type TextEdit = (text: string) => string;

async function editSpec(dir: string, file: string, edit: TextEdit): Promise<void> {
  const full = path.join(dir, 'spec', file);
  await fs.writeFile(full, edit(await fs.readFile(full, 'utf8')));
}

/**
 * A structural edit: `value` set at `keys` in the parsed file, written back as YAML. Every parent
 * must already exist, so a changed spec fails here rather than testing something else.
 */
function setInYaml(keys: string[], value: unknown): TextEdit {
  return (text) => {
    const doc: unknown = parseYaml(text);
    let node = doc;
    for (const key of keys.slice(0, -1)) {
      const next: unknown = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
      if (typeof next !== 'object' || next === null) throw new Error(`no ${keys.join('.')} to set in the spec`);
      node = next;
    }
    (node as Record<string, unknown>)[keys.at(-1)!] = value;
    return stringifyYaml(doc);
  };
}

t.test('an untouched copy is up to date', async (t) => {
  const res = await generate(pristine, '--check');
  t.equal(res.code, 0, `exit 0 (stderr: ${res.stderr})`);
  t.match(res.stdout, /generated\/ is up to date/);
  t.equal(res.stderr, '');
});

interface FailureCase {
  name: string;
  edits: Partial<Record<string, TextEdit>>;
  /** What the message must mention (each one). */
  stderr: RegExp[];
}

/** A Ferry-only path, to be added to ferry.yaml under another (possibly colliding) name. */
function ferryOperation(operationId: string, parameters: unknown[] = []): Record<string, unknown> {
  return {
    get: {
      operationId,
      parameters,
      responses: { '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  };
}

/** A query parameter ferry.yaml might add to a WES operation. */
const ORDER_PARAMETER = { name: 'order', in: 'query', schema: { type: 'string' } };

/** Where ferry.yaml's RunNotFound response names its body schema. */
const RUN_NOT_FOUND_SCHEMA = ['components', 'responses', 'RunNotFound', 'content', 'application/json', 'schema'];

const failures: FailureCase[] = [
  {
    name: 'a dangling $ref in WES',
    edits: { [WES]: (s) => replaceOnce(s, "$ref: '#/components/schemas/RunLog'", "$ref: '#/components/schemas/NoSuchRunLog'") },
    stderr: [/#\/components\/schemas\/NoSuchRunLog/, /workflow_execution_service\.openapi\.yaml/],
  },
  {
    name: 'a dangling $ref in ferry.yaml',
    edits: {
      [FERRY]: (s) => replaceOnce(s, "$ref: '#/components/headers/UnsatisfiedContentRange'", "$ref: '#/components/headers/NoSuchHeader'"),
    },
    stderr: [/#\/components\/headers\/NoSuchHeader/, /ferry\.yaml/],
  },
  {
    name: 'a $ref in ferry.yaml to a component only WES has',
    edits: {
      [FERRY]: setInYaml(RUN_NOT_FOUND_SCHEMA, { $ref: '#/components/schemas/RunLog' }),
    },
    stderr: [/#\/components\/schemas\/RunLog/, /ferry\.yaml/],
  },
  {
    name: 'a dangling $ref in service-info.yaml',
    edits: {
      [SERVICE_INFO]: (s) =>
        replaceOnce(s, "$ref: '#/components/schemas/ServiceType'", "$ref: '#/components/schemas/NoSuchServiceType'"),
    },
    stderr: [/#\/components\/schemas\/NoSuchServiceType/, /service-info\.yaml/],
  },
  {
    name: 'a URL $ref with no local copy (in WES)',
    edits: { [WES]: (s) => replaceOnce(s, SERVICE_INFO_URL, SERVICE_INFO_URL.replace('v1.0.0', 'v1.1.0')) },
    stderr: [/ga4gh-service-info\/v1\.1\.0\/service-info\.yaml/, /EXTERNAL_DOCS/],
  },
  {
    name: 'a URL $ref with no local copy (in ferry.yaml)',
    edits: {
      [FERRY]: (s) =>
        replaceOnce(
          s,
          "$ref: '#/components/headers/UnsatisfiedContentRange'",
          "$ref: 'https://example.org/headers.yaml#/components/headers/UnsatisfiedContentRange'",
        ),
    },
    stderr: [/https:\/\/example\.org\/headers\.yaml/, /EXTERNAL_DOCS/],
  },
  {
    // The file exists next to it, but only the configured URLs may be followed.
    name: 'a relative-file $ref (ferry.yaml into the WES file)',
    edits: {
      [FERRY]: setInYaml(RUN_NOT_FOUND_SCHEMA, { $ref: `./${WES}#/components/schemas/ErrorResponse` }),
    },
    stderr: [/workflow_execution_service\.openapi\.yaml/, /EXTERNAL_DOCS/],
  },
  {
    name: 'a relative-file $ref (WES to the local service-info.yaml instead of its URL)',
    edits: { [WES]: (s) => replaceOnce(s, SERVICE_INFO_URL, SERVICE_INFO) },
    stderr: [/service-info\.yaml/, /EXTERNAL_DOCS/],
  },
  {
    name: 'a duplicate operationId within ferry.yaml',
    edits: { [FERRY]: (s) => replaceOnce(s, 'operationId: GetRoot', 'operationId: GetEngineStatus') },
    stderr: [/GetEngineStatus/, /operationId/],
  },
  {
    name: 'a duplicate operationId across ferry.yaml and WES',
    edits: { [FERRY]: (s) => replaceOnce(s, 'operationId: GetRoot', 'operationId: GetServiceInfo') },
    stderr: [/GetServiceInfo/, /operationId/],
  },
  {
    name: 'a missing operationId (ferry.yaml)',
    edits: { [FERRY]: (s) => replaceOnce(s, '      operationId: GetEngineStatus\n', '') },
    stderr: [/operationId/, /engine~1v1~1status|\/engine\/v1\/status/],
  },
  {
    name: 'a missing operationId (WES)',
    edits: { [WES]: (s) => replaceOnce(s, '      operationId: CancelRun\n', '') },
    stderr: [/operationId/, /cancel/],
  },
  {
    name: 'a path ferry.yaml defines that WES already has',
    edits: {
      [FERRY]: setInYaml(['paths', '/ga4gh/wes/v1/service-info'], ferryOperation('GetFerryServiceInfo')),
    },
    stderr: [/\/ga4gh\/wes\/v1\/service-info/, /already defined/],
  },
  {
    // OpenAPI: "Templated paths with the same hierarchy but different templated names MUST NOT
    // exist as they are identical."
    name: 'a path ferry.yaml defines that WES already has, under another parameter name',
    edits: {
      [FERRY]: setInYaml(
        ['paths', '/ga4gh/wes/v1/runs/{id}'],
        ferryOperation('GetFerryRun', [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]),
      ),
    },
    stderr: [/\/ga4gh\/wes\/v1\/runs\/\{id\}/, /\/ga4gh\/wes\/v1\/runs\/\{run_id\}/, /already defined/],
  },
  {
    // ferry.yaml adds DELETE to WES's /runs/{run_id}; a method WES already has there is a clash.
    name: 'an operation ferry.yaml adds to a WES path under a method WES has there',
    edits: {
      [FERRY]: setInYaml(['paths', '/ga4gh/wes/v1/runs/{run_id}', 'get'], ferryOperation('GetFerryRun', [{ $ref: '#/components/parameters/RunIdPath' }]).get),
    },
    stderr: [/\/ga4gh\/wes\/v1\/runs\/\{run_id\}/, /already defined with a GET operation/],
  },
  {
    name: 'a path-level key ferry.yaml sets on a WES path it adds an operation to',
    edits: {
      [FERRY]: setInYaml(['paths', '/ga4gh/wes/v1/runs/{run_id}', 'summary'], 'A run'),
    },
    stderr: [/\/ga4gh\/wes\/v1\/runs\/\{run_id\}/, /may only add operations to it, not "summary"/],
  },
  {
    name: 'an operation ferry.yaml adds to a WES path spelled with another parameter name',
    edits: {
      [FERRY]: setInYaml(
        ['paths', '/ga4gh/wes/v1/runs/{id}'],
        { delete: ferryOperation('DeleteFerryRun', [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]).get },
      ),
    },
    stderr: [/\/ga4gh\/wes\/v1\/runs\/\{id\}/, /already defined as "\/ga4gh\/wes\/v1\/runs\/\{run_id\}"/],
  },
  {
    name: 'a parameter added to an operation WES does not have',
    edits: { [FERRY]: setInYaml(['x-ferry-operation-parameters'], { ListRunz: [ORDER_PARAMETER] }) },
    stderr: [/x-ferry-operation-parameters\.ListRunz/, /no operation "ListRunz"/],
  },
  {
    name: 'a parameter added to one of ferry.yaml\'s own operations',
    edits: { [FERRY]: setInYaml(['x-ferry-operation-parameters'], { GetRoot: [ORDER_PARAMETER] }) },
    stderr: [/x-ferry-operation-parameters\.GetRoot/, /no operation "GetRoot"/],
  },
  {
    name: 'a parameter added that the WES operation already has',
    edits: {
      [FERRY]: setInYaml(['x-ferry-operation-parameters'], { ListRuns: [{ name: 'page_size', in: 'query', schema: { type: 'string' } }] }),
    },
    stderr: [/ListRuns already has the query parameter "page_size"/],
  },
  {
    name: 'the same parameter added twice',
    edits: {
      [FERRY]: setInYaml(['x-ferry-operation-parameters'], { ListRuns: [ORDER_PARAMETER, ORDER_PARAMETER] }),
    },
    stderr: [/ListRuns already has the query parameter "order"/],
  },
  {
    name: 'an added parameter whose $ref leads nowhere',
    edits: {
      [FERRY]: setInYaml(['x-ferry-operation-parameters'], { ListRuns: [{ $ref: '#/components/parameters/NoSuchFilter' }] }),
    },
    stderr: [/#\/components\/parameters\/NoSuchFilter/, /ferry\.yaml/],
  },
  {
    name: 'a component of ferry.yaml that differs from the WES one of the same name',
    edits: {
      [FERRY]: (s) => replaceOnce(s, 'description: A detailed error message.', 'description: A detailed message.'),
    },
    stderr: [/components\.schemas\.ErrorResponse/],
  },
  {
    name: 'a component of ferry.yaml named like a different one service-info.yaml brings in',
    edits: {
      [FERRY]: setInYaml(['components', 'schemas', 'Service'], { type: 'object', properties: { id: { type: 'string' } } }),
    },
    stderr: [/components\.schemas\.Service\b/],
  },
  {
    name: 'a component of WES named like a different one service-info.yaml brings in',
    edits: {
      [WES]: (s) =>
        replaceOnce(s, '\n  schemas:\n', '\n  schemas:\n    Service:\n      type: object\n      properties:\n        id:\n          type: string\n'),
    },
    stderr: [/Service/, /workflow_execution_service\.openapi\.yaml/],
  },
  {
    name: 'openapi: 3.1.0 in ferry.yaml',
    edits: { [FERRY]: (s) => replaceOnce(s, 'openapi: 3.0.3\n', 'openapi: 3.1.0\n') },
    stderr: [/ferry\.yaml/, /3\.1\.0/],
  },
  {
    name: 'openapi: 3.1.0 in WES',
    edits: { [WES]: (s) => replaceOnce(s, 'openapi: 3.0.0\n', 'openapi: 3.1.0\n') },
    stderr: [/workflow_execution_service\.openapi\.yaml/, /3\.1\.0/],
  },
  {
    name: 'openapi: 3.1.0 in service-info.yaml',
    edits: { [SERVICE_INFO]: (s) => replaceOnce(s, 'openapi: 3.0.2\n', 'openapi: 3.1.0\n') },
    stderr: [/service-info\.yaml/, /3\.1\.0/],
  },
  {
    name: 'a new WES API version in servers',
    edits: { [WES]: (s) => replaceOnce(s, '      default: v1\n', '      default: v2\n') },
    stderr: [/\/ga4gh\/wes\/v2/, /WES_BASE_PATH/],
  },
  {
    name: 'a new WES base path in servers',
    edits: { [WES]: (s) => replaceOnce(s, '      default: ga4gh/wes\n', '      default: api/wes\n') },
    stderr: [/\/api\/wes\/v1/, /WES_BASE_PATH/],
  },
];

for (const c of failures) {
  t.test(`fails on ${c.name}`, async (t) => {
    const dir = await copyTree(t);
    for (const [file, edit] of Object.entries(c.edits)) if (edit) await editSpec(dir, file, edit);
    const res = await generate(dir, '--check');
    t.equal(res.code, 1, 'exit 1');
    t.match(res.stderr, /^generate: /, 'a generate: message');
    t.notMatch(res.stderr, /\n\s+at .*:\d+:\d+\)?\n/, 'no stack trace');
    for (const pattern of c.stderr) t.match(res.stderr, pattern, `the message mentions ${pattern}`);
    t.same(await snapshot(path.join(dir, 'generated')), pristineGenerated, 'generated/ is unchanged');
  });
}

t.test('a valid spec change makes generated/ stale until it is regenerated', async (t) => {
  const dir = await copyTree(t);
  const text = 'Liveness probe, checked by the generator test.';
  await editSpec(dir, FERRY, (s) =>
    replaceOnce(s, 'description: Liveness probe. Answers `OK` as plain text while the server is up.', `description: ${text}`),
  );

  const stale = await generate(dir, '--check');
  t.equal(stale.code, 1, '--check: exit 1');
  t.match(stale.stderr, /generated\/ is out of date/);
  t.match(stale.stderr, /generated\/openapi\.json \(differs\)/);
  t.same(await snapshot(path.join(dir, 'generated')), pristineGenerated, '--check wrote nothing');

  const write = await generate(dir);
  t.equal(write.code, 0, `generate: exit 0 (stderr: ${write.stderr})`);
  t.match(write.stdout, /wrote generated\/openapi\.json/);
  const bundled = JSON.parse(await fs.readFile(path.join(dir, 'generated', 'openapi.json'), 'utf8')) as {
    paths: Record<string, { get?: { description?: string } }>;
  };
  t.equal(bundled.paths['/engine/v1/status']?.get?.description, text, 'the new description is in openapi.json');

  const fresh = await generate(dir, '--check');
  t.equal(fresh.code, 0, `--check after generate: exit 0 (stderr: ${fresh.stderr})`);
  t.match(fresh.stdout, /generated\/ is up to date/);
});

t.test('parameters ferry.yaml adds to a WES operation follow its own, in generated/ and its types', async (t) => {
  const dir = await copyTree(t);
  await editSpec(dir, FERRY, setInYaml(['x-ferry-operation-parameters'], { ListTasks: [ORDER_PARAMETER] }));
  const res = await generate(dir);
  t.equal(res.code, 0, `generate: exit 0 (stderr: ${res.stderr})`);
  const bundled = JSON.parse(await fs.readFile(path.join(dir, 'generated', 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { parameters?: { name?: string; $ref?: string }[] }>>;
  };
  const params = bundled.paths['/ga4gh/wes/v1/runs/{run_id}/tasks']?.['get']?.parameters ?? [];
  t.same(params.map((p) => p.name ?? p.$ref), ['run_id', 'page_size', 'page_token', 'order'], "after the operation's own");
  t.notOk('x-ferry-operation-parameters' in bundled, 'the extension itself is not served');
  const schema = await fs.readFile(path.join(dir, 'generated', 'schema.ts'), 'utf8');
  t.match(schema, /ListTasks: \{\n\s+parameters: \{\n\s+query\?: \{[^}]*\border\?: string;/, 'the query type has it');
});

t.test("the repository's generated/operations.ts matches its openapi.json", async (t) => {
  const bundled = JSON.parse(await fs.readFile(path.join(REPO, 'generated', 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string }>>;
  };
  const fromSpec = Object.values(bundled.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([, op]) => op.operationId),
  );
  t.same([...operationIds], fromSpec, 'operationIds lists every operation, in document order');
  t.equal(new Set(fromSpec).size, fromSpec.length, 'no operationId twice');

  const listRuns = (bundled.paths['/ga4gh/wes/v1/runs']?.['get'] as { parameters?: ({ name?: string; $ref?: string })[] } | undefined)?.parameters ?? [];
  t.same(
    listRuns.map((p) => p.name ?? p.$ref),
    ['page_size', 'page_token', ...['StateFilter', 'TagKeyFilter', 'TagValueFilter', 'SortOrder'].map((n) => `#/components/parameters/${n}`)],
    "ListRuns: WES's parameters, then ferry.yaml's filters",
  );

  const source = await fs.readFile(path.join(REPO, 'generated', 'operations.ts'), 'utf8');
  t.match(source, /^export interface OperationHandlers<Files = UploadedFile\[\], Caller = undefined> \{$/m, 'OperationHandlers takes Files and Caller');
  t.match(source, /^ {2}RunWorkflow\(input: RunWorkflowInput<Files>, caller: Caller\): Promise<RunWorkflowResult>;$/m, 'and hands Files to RunWorkflow');
  t.match(source, /^ {2}GetRunLog\(input: GetRunLogInput, caller: Caller\): Promise<GetRunLogResult>;$/m, 'every operation learns who calls');

  const runPath = bundled.paths['/ga4gh/wes/v1/runs/{run_id}'];
  t.same(Object.keys(runPath ?? {}).filter((k) => HTTP_METHODS.has(k)), ['get', 'delete'], "ferry.yaml's DELETE joins WES's GET on /runs/{run_id}");
  t.equal(runPath?.delete?.operationId, 'DeleteRun');
});
