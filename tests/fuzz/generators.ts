import { buildRequest } from './raw-http.js';

/**
 * Seeded generators of hostile requests for Ferry. Everything random comes
 * from one mulberry32 stream, so a seed replays the same requests (given the
 * same answers: ids of runs the server accepted feed later requests).
 */

/** mulberry32: a tiny, fast, good-enough 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
  str(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  /**
   * With probability `p` one of `items` (when there is one), else `fallback()`.
   * Draws the same numbers whatever `items` holds, so that a seed replays the
   * same stream even when the server's answers (run ids, task ids, page
   * tokens) differ from one run to the next.
   */
  known<T>(items: readonly T[], p: number, fallback: () => T): T {
    const use = this.chance(p);
    const at = this.next();
    const other = fallback();
    return use && items.length > 0 ? items[Math.floor(at * items.length)]! : other;
  }
  /** Picks a key by weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }
}

/** One request to throw at the server, with what is acceptable as an answer. */
export interface Case {
  n: number;
  kind: string;
  desc: string;
  transport: 'raw' | 'fetch';
  method: string;
  /** The request target, for reports. */
  target: string;
  /** raw: the bytes, in writes. */
  chunks?: Buffer[];
  after?: 'wait' | 'fin' | 'rst';
  chunkDelayMs?: number;
  /** fetch: headers and body. */
  headers?: Record<string, string>;
  body?: string | Buffer | FormData;
  /** The HTTP framing itself is broken: the server may close without answering. */
  closureOk?: boolean;
  /** A submission that must be accepted (200). */
  valid?: boolean;
  /** A POST /runs (its 200s are counted). */
  submit?: boolean;
  /** How many answers the exchange must bring (pipelining); default 1. */
  expectResponses?: number;
  /** Harvest run ids, task ids and page tokens from the answer. */
  harvest?: boolean;
  timeoutMs?: number;
}

/** What generators know about the server and the run so far. */
export interface FuzzContext {
  rng: Rng;
  /** Marks every name that tries to escape: it must never appear outside a run's execution folder. */
  marker: string;
  echo: Buffer;
  /** Runs the server accepted. */
  runIds: string[];
  taskIds: string[];
  /** next_page_token values the server handed out, by listing (`runs` or `tasks:<run>`). */
  tokens: { kind: string; token: string }[];
  /** `maxFieldBytes` + 2048 'x' bytes, sliced for big fields. */
  big: Buffer;
  maxFieldBytes: number;
}

const HOST: [string, string] = ['Host', '127.0.0.1'];
const CLOSE: [string, string] = ['Connection', 'close'];

const UNKNOWN = `run-${'0'.repeat(32)}`;
export const ROUTES = [
  { path: '/', methods: ['GET'] },
  { path: '/engine/v1/status', methods: ['GET'] },
  { path: '/ga4gh/wes/v1/service-info', methods: ['GET'] },
  { path: '/ga4gh/wes/v1/runs', methods: ['GET', 'POST'] },
  { path: '/ga4gh/wes/v1/runs/{id}', methods: ['GET', 'DELETE'] },
  { path: '/ga4gh/wes/v1/runs/{id}/status', methods: ['GET'] },
  { path: '/ga4gh/wes/v1/runs/{id}/cancel', methods: ['POST'] },
  { path: '/ga4gh/wes/v1/runs/{id}/tasks', methods: ['GET'] },
  { path: '/ga4gh/wes/v1/runs/{id}/tasks/{task}', methods: ['GET'] },
  { path: '/toil/wes/v1/logs/{id}/stdout', methods: ['GET'] },
  { path: '/toil/wes/v1/logs/{id}/stderr', methods: ['GET'] },
] as const;

/** Methods Node's parser knows (others are refused below the app). */
const KNOWN_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'REPORT', 'COPY', 'MOVE'];
const BAD_METHODS = ['FOO', 'get', 'G\u00c9T', 'GET\u0000', '', 'GETPOST', 'BREW', 'X'.repeat(300)];

// ---------------------------------------------------------------- hostile values

const UNICODE_BITS = [
  '\u202e', // right-to-left override
  '\u200b', // zero-width space
  '\u0301', // combining acute
  '\uff0e', // fullwidth full stop
  '\u2025', // two-dot leader
  '\ufe52', // small full stop
  '\ud800', // lone surrogate
  '\udfff',
  '\ufeff', // BOM
  '\u0000',
  '\u001b[31m',
  '\r\n',
  '\u2028',
  '😀',
  'é',
  'ﷺ',
  '%00',
  '%2e%2e',
  '\\',
  '"',
  "'",
  '${x}',
  '{{x}}',
  '<script>',
];

/** Invalid or tricky UTF-8 byte sequences. */
const BAD_UTF8: Buffer[] = [
  Buffer.from([0xff]),
  Buffer.from([0xfe, 0xff]),
  Buffer.from([0xc0, 0xae]), // overlong '.'
  Buffer.from([0xc0, 0xaf]), // overlong '/'
  Buffer.from([0xe0, 0x80, 0xae]), // overlong '.'
  Buffer.from([0xed, 0xa0, 0x80]), // encoded surrogate
  Buffer.from([0xe2, 0x82]), // truncated
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
  Buffer.from([0x00]),
  Buffer.from([0x80]),
];

export function junkString(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return rng.str(rng.int(40), 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:%');
    case 1:
      return Array.from({ length: rng.range(1, 6) }, () => rng.pick(UNICODE_BITS)).join(rng.pick(['', 'a', '/', '.']));
    case 2:
      return rng.str(rng.range(1, 20), ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\t');
    case 3:
      return rng.pick(['', ' ', '\t', '\n', 'null', 'undefined', 'NaN', 'true', '0', '-1', '__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    case 4:
      return 'x'.repeat(rng.pick([255, 256, 4096, 65_536]));
    default:
      return String.fromCharCode(...Array.from({ length: rng.range(1, 12) }, () => rng.int(0x3000)));
  }
}

/** A field value as bytes: a string, sometimes spiked with invalid UTF-8 or NUL. */
export function junkBytes(rng: Rng, base = junkString(rng)): Buffer {
  if (!rng.chance(0.4)) return Buffer.from(base);
  const parts = [Buffer.from(base)];
  const at = rng.int(parts[0]!.length + 1);
  return Buffer.concat([parts[0]!.subarray(0, at), rng.pick(BAD_UTF8), parts[0]!.subarray(at)]);
}

/** Random JSON, sometimes with poison keys. */
function randomJson(rng: Rng, depth = 0): unknown {
  const k = rng.int(depth > 4 ? 5 : 8);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    case 3:
    case 4:
      return junkString(rng).slice(0, 200);
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        const key = rng.pick(['message', 'class', 'location', 'path', '__proto__', 'constructor', 'File', junkString(rng).slice(0, 30)]);
        o[key] = rng.chance(0.2) ? rng.pick(['File', 'Directory']) : randomJson(rng, depth + 1);
      }
      if (rng.chance(0.15)) o.class = rng.pick(['File', 'Directory']);
      if (rng.chance(0.1)) o.location = rng.pick(['file:///etc/passwd', '/etc/shadow', '../../x', 'http://127.0.0.1:1/x', 's3://b/k', 'file://host/x', 'http://', '%2e%2e/x']);
      return o;
    }
  }
}

/** `{"a":{"a":…}}` or `[[[…]]]`, `depth` levels. */
export function deepJson(depth: number, kind: 'object' | 'array' | 'mixed', inner = '1'): string {
  if (kind === 'object') return '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
  if (kind === 'array') return '['.repeat(depth) + inner + ']'.repeat(depth);
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    if (i % 2) {
      open.push('{"k":');
      close.push('}');
    } else {
      open.push('[');
      close.push(']');
    }
  }
  return open.join('') + inner + close.reverse().join('');
}

const BROKEN_JSON = ['{', '}', '{"a":', '{"a" 1}', '{"a":1,}', "{'a':1}", '{"a":01}', '{"a":NaN}', '{"a":Infinity}', '{"a":"\\x41"}', '{"a":"\\ud800"}', '[', '"', '\u0000', '{}{}', '{"a":1}garbage', '\ufeff{}', '{"a":1e99999}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}'];
const WRONG_TYPE_JSON = ['[]', '[1,2]', 'null', '42', '"text"', 'true', '1e400', '-0'];

/** A value for a JSON form field: valid, broken, wrong type, deep or poisoned. */
function jsonField(rng: Rng, good: string): string | Buffer {
  switch (rng.int(9)) {
    case 0:
      return good;
    case 1:
      return rng.pick(BROKEN_JSON);
    case 2:
      return rng.pick(WRONG_TYPE_JSON);
    case 3:
      return JSON.stringify(randomJson(rng));
    case 4:
      return `{"x":${deepJson(rng.pick([63, 64, 65, 200, 1000]), rng.pick(['object', 'array', 'mixed'] as const))}}`;
    case 5:
      return junkBytes(rng, good);
    case 6: {
      const o: Record<string, unknown> = {};
      for (let i = rng.range(1, 4); i > 0; i--) o[junkString(rng).slice(0, 40)] = rng.chance(0.7) ? junkString(rng).slice(0, 60) : randomJson(rng);
      return JSON.stringify(o);
    }
    case 7:
      return ' ' + good + '\n\n';
    default:
      return junkString(rng);
  }
}

// ---------------------------------------------------------------- submissions

const GOOD = {
  workflow_type: 'CWL',
  workflow_type_version: 'v1.0',
  workflow_url: 'echo.cwl',
  workflow_params: '{"message":"hello fuzz"}',
};

function fieldValue(ctx: FuzzContext, name: string): string | Buffer {
  const { rng } = ctx;
  switch (name) {
    case 'workflow_params':
      return jsonField(rng, GOOD.workflow_params);
    case 'tags':
      return jsonField(rng, '{"owner":"fuzz"}');
    case 'workflow_engine_parameters':
      return rng.chance(0.5)
        ? jsonField(rng, '{}')
        : JSON.stringify({
            [rng.pick(['--outdir', '-o', '--jobStore', '--writeMessages', '--tmpdir-prefix', '--basedir', '--debug', '--quiet', '--retryCount', '--x', 'not a flag', '--a=b', '--\u0000', '--' + 'x'.repeat(300)])]: rng.pick([
              null,
              '/tmp/elsewhere',
              '../../x',
              '1',
              ['a'],
              { a: 1 },
              true,
              1e308,
              '\u0000',
              `--x --y`,
            ]),
          });
    case 'workflow_type':
      return rng.pick(['CWL', 'cwl', ' CWL ', 'WDL', 'PY', 'ＣＷＬ', 'CWL\u0000', 'cwl;rm -rf /', '', 'constructor', '__proto__', 'toString', 'C\u0301WL']);
    case 'workflow_type_version':
      return rng.pick(['v1.0', 'v1.2', 'v2.0', '', 'v1.0\u0000', 'V1.0', ' v1.0', '1.0', 'draft-2', 'v1.0 ', '../v1.0']);
    case 'workflow_engine':
      return rng.pick(['cwltool', 'toil', 'CWLTOOL', 'nextflow', '', '../cwltool', 'cwltool\u0000', '__proto__', 'constructor', junkString(rng)]);
    case 'workflow_engine_version':
      return rng.pick(['', '1.0', '3.1.20240112164112', junkString(rng)]);
    case 'workflow_url':
      return workflowUrl(ctx);
    default:
      return junkBytes(rng);
  }
}

function workflowUrl(ctx: FuzzContext): string | Buffer {
  const { rng, marker } = ctx;
  return rng.pick<string | Buffer>([
    'echo.cwl',
    'echo.cwl',
    './echo.cwl',
    '../echo.cwl',
    '%2e%2e/echo.cwl',
    'echo.cwl%00',
    'echo.cwl\u0000',
    '/etc/passwd',
    'file:///etc/passwd',
    `file:///tmp/${marker}`,
    'file://',
    'file:',
    'file://remote/x.cwl',
    'http://127.0.0.1:1/x.cwl',
    'http://[::1]:1/x.cwl',
    'http://10.0.0.1/x.cwl',
    'http://169.254.169.254/latest/meta-data',
    'https://[::ffff:127.0.0.1]/x',
    'http://0/x',
    'HTTP://127.0.0.1/x',
    'http://',
    'HTTP:',
    'http://[',
    'https://a b/',
    'http://%zz/',
    'http://999.1.1.1/',
    's3://bucket/key',
    'ftp://127.0.0.1/x',
    'javascript:alert(1)',
    'data:text/plain,hi',
    'C:\\echo.cwl',
    '\\\\server\\share\\echo.cwl',
    'echo.cwl?x=1',
    'echo.cwl#frag',
    ' ',
    '',
    'x'.repeat(5000),
    'ｅｃｈｏ.cwl',
    '\u202eechо.cwl',
    Buffer.concat([Buffer.from('echo'), rng.pick(BAD_UTF8), Buffer.from('.cwl')]),
  ]);
}

/** Attachment names that try to escape, confuse or overflow. Each escaping one carries the marker. */
export function trickyFilename(ctx: FuzzContext): string | Buffer {
  const { rng, marker: m } = ctx;
  const longSeg = (n: number) => 'a'.repeat(n);
  return rng.pick<string | Buffer>([
    `../${m}`,
    `../../${m}`,
    `../../../../../../../../tmp/${m}`,
    `/tmp/${m}`,
    `/${m}`,
    `//${m}`,
    `a/../../${m}`,
    `./../${m}`,
    `a/./../../${m}`,
    `..\\${m}`,
    `..\\..\\${m}`,
    `a\\..\\..\\${m}`,
    `C:\\${m}`,
    `C:/${m}`,
    `\\\\srv\\share\\${m}`,
    `%2e%2e/${m}`,
    `%2e%2e%2f${m}`,
    `..%2f${m}`,
    `..%252f${m}`,
    `\uff0e\uff0e/${m}`,
    `\u2025/${m}`,
    `\ufe52\ufe52/${m}`,
    `\u2024\u2024/${m}`,
    `.\u0000./${m}`,
    `..\u0000/${m}`,
    `${m}\u0000.cwl`,
    `\u202e${m}lwc.exe`,
    `e\u0301cho-${m}.cwl`,
    `${m}\u200b`,
    `....//${m}`,
    `.../${m}`,
    `..../${m}`,
    ` ../${m}`,
    `.. /${m}`,
    `~/${m}`,
    `~root/${m}`,
    `$HOME/${m}`,
    `../.staging/${m}`,
    `../../state_store/${m}`,
    `../../../${m}/../work/x`,
    `${'a/'.repeat(2030)}${m}`,
    `${longSeg(255)}/${m}`,
    `${longSeg(256)}/${m}`,
    `${Array.from({ length: 17 }, () => longSeg(239)).join('/')}/${m}`,
    `${'€'.repeat(85)}/${m}`,
    `${'€'.repeat(86)}/${m}`,
    `${m}/`,
    '.',
    '..',
    '',
    '/',
    `a\n${m}`,
    `a\r\nContent-Type: text/evil\r\n\r\n${m}`,
    `a";name="workflow_url`,
    `${m}";filename*=UTF-8''..%2F..%2F${m}`,
    Buffer.concat([Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f]), Buffer.from(m)]),
    Buffer.concat([Buffer.from([0xe0, 0x80, 0xae, 0xe0, 0x80, 0xae, 0x2f]), Buffer.from(m)]),
    Buffer.concat([Buffer.from('..'), Buffer.from([0xc0, 0xaf]), Buffer.from(m)]),
    Buffer.concat([Buffer.from(m), Buffer.from([0xff, 0xfe])]),
  ]);
}

/** Names that are odd but legal: a valid submission may carry them. */
export function legalOddFilename(ctx: FuzzContext): string {
  const { rng } = ctx;
  return rng.pick([
    '%2e%2e/inside.txt',
    '\uff0e\uff0e/inside.txt',
    '\u202etxt.exe',
    'e\u0301cho.txt',
    'sub/dir/deep.txt',
    'a//b.txt',
    '...txt',
    '..a',
    'a..',
    ' space .txt',
    '😀.txt',
    'x'.repeat(255),
    `${'d/'.repeat(40)}f.txt`,
    'outputs.json',
    'stdout',
    '.staging',
    'request.json',
  ]);
}

export interface MultipartPart {
  /** Raw header lines, without CRLF. */
  headers: (string | Buffer)[];
  body: Buffer;
}

export function fieldPart(name: string | Buffer, value: string | Buffer, extra: string[] = []): MultipartPart {
  return { headers: [Buffer.concat([Buffer.from('Content-Disposition: form-data; name="'), Buffer.from(name), Buffer.from('"')]), ...extra], body: Buffer.from(value) };
}

export function filePart(filename: string | Buffer, content: Buffer, field = 'workflow_attachment', star = false): MultipartPart {
  const fname = star
    ? Buffer.from(`filename*=UTF-8''${percentEncode(filename)}`)
    : Buffer.concat([Buffer.from('filename="'), Buffer.from(filename), Buffer.from('"')]);
  return {
    headers: [Buffer.concat([Buffer.from(`Content-Disposition: form-data; name="${field}"; `), fname]), 'Content-Type: application/octet-stream'],
    body: content,
  };
}

export function multipartBody(boundary: string, parts: MultipartPart[], opts: { final?: boolean; eol?: string; preamble?: string; epilogue?: string } = {}): Buffer {
  const eol = opts.eol ?? '\r\n';
  const out: Buffer[] = [];
  if (opts.preamble) out.push(Buffer.from(opts.preamble + eol));
  for (const p of parts) {
    out.push(Buffer.from(`--${boundary}${eol}`));
    for (const h of p.headers) out.push(Buffer.from(h), Buffer.from(eol));
    out.push(Buffer.from(eol), p.body, Buffer.from(eol));
  }
  if (opts.final !== false) out.push(Buffer.from(`--${boundary}--${eol}`));
  if (opts.epilogue) out.push(Buffer.from(opts.epilogue));
  return Buffer.concat(out);
}

function boundaryFor(rng: Rng): string {
  return `----fuzz${rng.hex(16)}`;
}

function postRuns(headers: [string, string | Buffer][], body: Buffer, extraHeaders: [string, string | Buffer][] = []): Buffer {
  return buildRequest('POST', '/ga4gh/wes/v1/runs', [HOST, CLOSE, ...headers, ...extraHeaders], body);
}

function mpRequest(boundary: string, body: Buffer, extra: [string, string | Buffer][] = []): Buffer {
  return postRuns(
    [
      ['Content-Type', `multipart/form-data; boundary=${boundary}`],
      ['Content-Length', String(body.length)],
    ],
    body,
    extra,
  );
}

/** The good fields, some replaced or dropped. */
/**
 * The good fields with `mutations` of them replaced or dropped, then `spoiler`
 * (a field that makes the submission certainly invalid) if given. One value
 * per name, except for the odd junk field, so that parts can be shuffled.
 */
function mutatedFields(ctx: FuzzContext, mutations: number, spoiler?: [string, string]): [string | Buffer, string | Buffer][] {
  const { rng } = ctx;
  const fields = new Map<string, string | Buffer>(Object.entries(GOOD));
  const names = ['workflow_params', 'workflow_type', 'workflow_type_version', 'workflow_url', 'tags', 'workflow_engine', 'workflow_engine_version', 'workflow_engine_parameters'];
  for (let i = 0; i < mutations; i++) {
    const name = rng.pick(names);
    if (rng.chance(0.15)) fields.delete(name);
    else fields.set(name, fieldValue(ctx, name));
  }
  // A workflow_url other than the attachment's name spoils the submission already, deep in its checks: keep it.
  if (spoiler && fields.get('workflow_url') === GOOD.workflow_url) fields.set(spoiler[0], spoiler[1]);
  const out: [string | Buffer, string | Buffer][] = [...fields.entries()];
  if (rng.chance(0.15)) out.push([rng.pick<string | Buffer>(['__proto__', 'constructor', '', 'workflow_params', 'a"b', 'x'.repeat(300), junkBytes(rng)]), junkBytes(rng)]);
  return out;
}

function definitelyInvalid(ctx: FuzzContext): [string, string] {
  // Any one of these makes a submission fail validation without a doubt.
  return ctx.rng.pick<[string, string]>([
    ['workflow_type_version', 'v9.9'],
    ['workflow_type', 'NOPE'],
    ['workflow_params', '[]'],
    ['tags', '{"a":1}'],
    ['workflow_url', 'missing.cwl'],
  ]);
}

// ---------------------------------------------------------------- generators

type Gen = (ctx: FuzzContext) => Omit<Case, 'n'>;

const gens: Record<string, Gen> = {
  /** Every route with every method, some with bodies of every type. */
  routeMethod(ctx) {
    const { rng } = ctx;
    const route = rng.pick(ROUTES);
    const path = fillPath(ctx, route.path);
    const bad = rng.chance(0.1);
    const method = bad ? rng.pick(BAD_METHODS) : rng.chance(0.4) ? rng.pick(route.methods) : rng.pick(KNOWN_METHODS);
    const withBody = method !== 'GET' && method !== 'HEAD' && rng.chance(0.5);
    const headers: [string, string][] = [HOST, CLOSE];
    let body: Buffer | undefined;
    if (withBody) {
      const [ct, b] = randomTypedBody(ctx);
      if (ct !== null) headers.push(['Content-Type', ct]);
      body = b;
      headers.push(['Content-Length', String(b.length)]);
    }
    return {
      kind: 'route-method',
      desc: `${method} ${path}${withBody ? ` with ${headers.find((h) => h[0] === 'Content-Type')?.[1] ?? 'no type'} body` : ''}`,
      transport: 'raw',
      method,
      target: path,
      chunks: [buildRequest(method, path, headers, body)],
      closureOk: bad,
      submit: method === 'POST' && route.path === '/ga4gh/wes/v1/runs',
    };
  },

  /** Run ids and task ids: real, random, traversal, oversized, badly encoded. */
  runIds(ctx) {
    const { rng } = ctx;
    const route = rng.pick(ROUTES.filter((r) => r.path.includes('{id}')));
    const raw = rng.chance(0.5);
    const id = hostileId(ctx, raw);
    const task = hostileId(ctx, raw, true);
    const path = route.path.replace('{id}', id).replace('{task}', task);
    const method = route.methods[0];
    const rawOnly = /[\u0000-\u0020\u007f-\uffff#?]/.test(path) || path.includes('/..') || path.includes('/./');
    if (raw || rawOnly) {
      return {
        kind: 'run-ids',
        desc: `${method} ${path.slice(0, 200)}`,
        transport: 'raw',
        method,
        target: path,
        chunks: [buildRequest(method, Buffer.from(path, 'latin1'), [HOST, CLOSE, ...(method === 'POST' ? ([['Content-Length', '0']] as [string, string][]) : [])])],
        // Raw control bytes or spaces in a request line are broken HTTP.
        closureOk: /[\u0000-\u0020\u007f-\u00ff]/.test(path),
      };
    }
    return { kind: 'run-ids', desc: `${method} ${path.slice(0, 200)}`, transport: 'fetch', method, target: path };
  },

  /** Paging: absurd page sizes, forged and foreign tokens. */
  listing(ctx) {
    const { rng } = ctx;
    const runId = rng.known(ctx.runIds, 0.6, () => UNKNOWN);
    const onTasks = rng.chance(0.35);
    const base = onTasks ? `/ga4gh/wes/v1/runs/${runId}/tasks` : '/ga4gh/wes/v1/runs';
    const q: string[] = [];
    if (rng.chance(0.7)) q.push(`page_size=${percentEncode(rng.pick(PAGE_SIZES))}`);
    if (rng.chance(0.6)) q.push(`page_token=${percentEncode(forgedToken(ctx))}`);
    if (rng.chance(0.1)) q.push(`page_size=${rng.int(5)}`, `page_token=${rng.hex(4)}`);
    if (rng.chance(0.1)) q.push(rng.pick(['_=1', '__proto__=1', 'constructor[a]=1', 'page_size[]=1', 'page_size[a]=2', 'a=%ZZ', '%00=1', 'page_token=%FF%FE']));
    const path = `${base}${q.length ? '?' + q.join('&') : ''}`;
    return { kind: 'listing', desc: `GET ${path.slice(0, 300)}`, transport: 'fetch', method: 'GET', target: path, harvest: true };
  },

  /** The log routes with every kind of Range header. */
  logs(ctx) {
    const { rng } = ctx;
    const id = rng.known(ctx.runIds, 0.8, () => rng.pick([UNKNOWN, `run-${rng.hex(32)}`, 'x', '..%2f..%2fetc']));
    const which = rng.pick(['stdout', 'stderr']);
    const path = `/toil/wes/v1/logs/${id}/${which}`;
    const range = rng.pick(RANGES)(rng);
    const method = rng.chance(0.2) ? 'HEAD' : 'GET';
    const extra: [string, string][] = [];
    if (rng.chance(0.2)) extra.push([rng.pick(['If-Range', 'If-None-Match', 'If-Modified-Since', 'Accept-Ranges', 'Accept-Encoding']), rng.pick(['*', 'gzip, br', 'Thu, 01 Jan 1970 00:00:00 GMT', '"x"', 'junk\u00ff'])]);
    const tooBig = range.length > 15_000;
    const badBytes = /[\u0000-\u0008\u000a-\u001f\u007f]/.test(range);
    if (rng.chance(0.5) || tooBig || badBytes || /[^\u0020-\u007e]/.test(range)) {
      return {
        kind: 'logs',
        desc: `${method} ${path} Range: ${JSON.stringify(range.slice(0, 80))}${range.length > 80 ? `… (${range.length} chars)` : ''}`,
        transport: 'raw',
        method,
        target: path,
        chunks: [buildRequest(method, path, [HOST, CLOSE, ['Range', Buffer.from(range, 'latin1')], ...extra])],
        closureOk: tooBig || badBytes,
      };
    }
    return {
      kind: 'logs',
      desc: `${method} ${path} Range: ${JSON.stringify(range.slice(0, 80))}`,
      transport: 'fetch',
      method,
      target: path,
      headers: { range, ...Object.fromEntries(extra.filter(([, v]) => /^[\u0020-\u007e]*$/.test(v))) },
    };
  },

  /** Well-framed multipart with hostile field values. */
  multipartFields(ctx) {
    const { rng } = ctx;
    // Mostly certain to be refused (a missing workflow file is the last check), so that few runs start by accident.
    const fields = mutatedFields(ctx, rng.range(1, 4), rng.chance(0.95) ? (rng.chance(0.7) ? ['workflow_url', 'missing.cwl'] : definitelyInvalid(ctx)) : undefined);
    const parts = fields.map(([k, v]) => fieldPart(k, v, rng.chance(0.1) ? [rng.pick(['Content-Type: application/json', 'Content-Type: text/plain; charset=utf-16', 'Content-Transfer-Encoding: base64', 'Content-Type: multipart/mixed; boundary=zz'])] : []));
    if (rng.chance(0.8)) parts.push(filePart('echo.cwl', ctx.echo));
    if (rng.chance(0.2)) parts.push(filePart(legalOddFilename(ctx), Buffer.from('x')));
    const boundary = boundaryFor(rng);
    const body = multipartBody(boundary, shuffle(rng, parts));
    const slow = rng.chance(0.15);
    return {
      kind: 'multipart-fields',
      desc: `POST /runs multipart fields ${describeFields(fields)}`,
      transport: 'raw',
      method: 'POST',
      target: '/ga4gh/wes/v1/runs',
      chunks: slow ? splitRandom(rng, mpRequest(boundary, body)) : [mpRequest(boundary, body)],
      chunkDelayMs: slow ? 2 : undefined,
      submit: true,
    };
  },

  /** Broken multipart: boundaries, framing, truncation, lengths. */
  multipartBroken(ctx) {
    const { rng } = ctx;
    const boundary = boundaryFor(rng);
    const fields = mutatedFields(ctx, rng.int(2), rng.chance(0.95) ? definitelyInvalid(ctx) : undefined);
    const parts = fields.map(([k, v]) => fieldPart(k, v));
    parts.push(filePart('echo.cwl', ctx.echo));
    const good = multipartBody(boundary, parts);
    const variant = rng.int(24);
    const base: Omit<Case, 'n' | 'desc' | 'chunks'> = { kind: 'multipart-broken', transport: 'raw', method: 'POST', target: '/ga4gh/wes/v1/runs', submit: true };
    const typed = (ct: string | Buffer, body: Buffer, extra: [string, string | Buffer][] = []) =>
      postRuns([['Content-Type', ct], ['Content-Length', String(body.length)], ...extra], body);
    switch (variant) {
      case 0:
        return { ...base, desc: 'no boundary parameter', chunks: [typed('multipart/form-data', good)] };
      case 1:
        return { ...base, desc: 'boundary mismatch', chunks: [typed(`multipart/form-data; boundary=${boundary}x`, good)] };
      case 2:
        return { ...base, desc: 'no final boundary', chunks: [mpRequest(boundary, multipartBody(boundary, parts, { final: false }))] };
      case 3: {
        const req = mpRequest(boundary, good);
        const cut = rng.range(1, req.length - 1);
        return { ...base, desc: `truncated at byte ${cut}/${req.length}, then FIN`, chunks: [req.subarray(0, cut)], after: 'fin', closureOk: true };
      }
      case 4: {
        const req = mpRequest(boundary, good);
        const cut = rng.range(1, req.length - 1);
        return { ...base, desc: `truncated at byte ${cut}/${req.length}, then RST`, chunks: [req.subarray(0, cut)], after: 'rst', closureOk: true };
      }
      case 5:
        return {
          ...base,
          desc: 'Content-Length larger than the body, then FIN',
          chunks: [typed(`multipart/form-data; boundary=${boundary}`, good, []).subarray(0)].map((b) => Buffer.from(b.toString('latin1').replace(/Content-Length: \d+/, `Content-Length: ${good.length + rng.range(1, 10_000)}`), 'latin1')),
          after: 'fin',
          closureOk: true,
        };
      case 6:
        return {
          ...base,
          desc: 'Content-Length smaller than the body',
          chunks: [Buffer.from(mpRequest(boundary, good).toString('latin1').replace(/Content-Length: \d+/, `Content-Length: ${rng.int(good.length)}`), 'latin1')],
          closureOk: true,
        };
      case 7:
        return { ...base, desc: 'no Content-Length, no Transfer-Encoding', chunks: [postRuns([['Content-Type', `multipart/form-data; boundary=${boundary}`]], good)], closureOk: true };
      case 8: {
        // Chunked, well formed, in random slices: must work like any body.
        const chunks = splitRandom(rng, good).map((c) => Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]));
        const head = buildRequest('POST', '/ga4gh/wes/v1/runs', [HOST, CLOSE, ['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Transfer-Encoding', 'chunked']]);
        return { ...base, desc: 'chunked transfer, good framing', chunks: [head, ...chunks, Buffer.from('0\r\n\r\n')], chunkDelayMs: 1 };
      }
      case 9: {
        const head = buildRequest('POST', '/ga4gh/wes/v1/runs', [HOST, CLOSE, ['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Transfer-Encoding', 'chunked']]);
        const bad = rng.pick(['zz\r\n', `${(good.length + 50).toString(16)}\r\n`, '-1\r\n', 'ffffffffffffffffff\r\n', '5;ext="\u0000"\r\n']);
        return { ...base, desc: `chunked with a bad chunk size ${JSON.stringify(bad)}`, chunks: [head, Buffer.from(bad), good.subarray(0, 100)], after: 'fin', closureOk: true };
      }
      case 10:
        return { ...base, desc: 'LF-only line endings', chunks: [mpRequest(boundary, multipartBody(boundary, parts, { eol: '\n' }))] };
      case 11:
        return {
          ...base,
          desc: 'part without Content-Disposition / with garbage headers',
          chunks: [mpRequest(boundary, multipartBody(boundary, [{ headers: [rng.pick(['Content-Type: text/plain', 'garbage', 'Content-Disposition: attachment', 'Content-Disposition: form-data', 'Content-Disposition: form-data; name=', 'Content-Disposition: form-data; name="a', ': x', 'Content-Disposition: form-data; name*=UTF-8\'\'%FF'])], body: Buffer.from('v') }, ...parts]))],
        };
      case 12:
        return { ...base, desc: 'no blank line between part headers and body', chunks: [mpRequest(boundary, Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="workflow_type"\r\nCWL\r\n--${boundary}--\r\n`))] };
      case 13: {
        const b = rng.pick(['x'.repeat(71), 'x'.repeat(200), 'a b', '"quoted"', 'ü', '--', '', ';', 'a\u0000b', '=']);
        return { ...base, desc: `odd boundary ${JSON.stringify(b.slice(0, 20))}`, chunks: [typed(Buffer.from(`multipart/form-data; boundary=${b}`), multipartBody(b.replace(/"/g, ''), parts))], closureOk: /\u0000/.test(b) };
      }
      case 14:
        return { ...base, desc: 'preamble and epilogue junk', chunks: [mpRequest(boundary, multipartBody(boundary, parts, { preamble: junkString(rng), epilogue: junkString(rng) }))] };
      case 15:
        return { ...base, desc: 'empty body', chunks: [mpRequest(boundary, Buffer.alloc(0))] };
      case 16: {
        const many = Array.from({ length: rng.pick([101, 150]) }, (_, i) => fieldPart(`f${i}`, 'v'));
        return { ...base, desc: `${many.length} fields`, chunks: [mpRequest(boundary, multipartBody(boundary, [...parts, ...many]))] };
      }
      case 17: {
        const files = Array.from({ length: 25 }, (_, i) => filePart(`f${i}.txt`, Buffer.from('x')));
        return { ...base, desc: `${files.length + 1} attachments (limit 20)`, chunks: [mpRequest(boundary, multipartBody(boundary, [...parts, ...files]))] };
      }
      case 18: {
        const headers = Array.from({ length: 120 }, (_, i) => `X-H${i}: v`);
        return { ...base, desc: '120 header lines in a part', chunks: [mpRequest(boundary, multipartBody(boundary, [{ headers: ['Content-Disposition: form-data; name="a"', ...headers], body: Buffer.from('v') }, ...parts]))] };
      }
      case 19:
        return { ...base, desc: 'a 100 KB part header', chunks: [mpRequest(boundary, multipartBody(boundary, [fieldPart('a'.repeat(100_000), 'v'), ...parts]))] };
      case 20:
        return { ...base, desc: 'two boundary parameters', chunks: [typed(`multipart/form-data; boundary=${boundary}; boundary=other`, good)] };
      case 21:
        return { ...base, desc: 'Content-Type duplicated', chunks: [postRuns([['Content-Type', 'text/plain'], ['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Content-Length', String(good.length)]], good)] };
      case 22: {
        const nested = multipartBody('inner', [fieldPart('workflow_type', 'CWL')]);
        return { ...base, desc: 'nested multipart/mixed part', chunks: [mpRequest(boundary, multipartBody(boundary, [{ headers: ['Content-Disposition: form-data; name="workflow_attachment"', 'Content-Type: multipart/mixed; boundary=inner'], body: nested }, ...parts]))] };
      }
      default: {
        // Random bytes flipped inside a good body.
        const req = Buffer.from(mpRequest(boundary, good));
        const headEnd = req.indexOf('\r\n\r\n') + 4;
        for (let i = rng.range(1, 8); i > 0; i--) req[headEnd + rng.int(req.length - headEnd)] = rng.int(256);
        return { ...base, desc: 'bytes flipped in the body', chunks: [req] };
      }
    }
  },

  /** Attachment names that climb out, are absolute, hold odd characters or are far too long. */
  filenames(ctx) {
    const { rng } = ctx;
    const boundary = boundaryFor(rng);
    const form = new Map<string, string>(Object.entries(GOOD));
    // Mostly invalid otherwise, so that the name is what is tested and few runs start.
    if (rng.chance(0.96)) form.set(...definitelyInvalid(ctx));
    const fields = [...form.entries()];
    const names = Array.from({ length: rng.range(1, 3) }, () => trickyFilename(ctx));
    const parts = [...fields.map(([k, v]) => fieldPart(k, v)), filePart('echo.cwl', ctx.echo)];
    const star = rng.chance(0.15);
    for (const name of names) parts.push(filePart(name, Buffer.from(`escaped ${ctx.marker}`), rng.chance(0.9) ? 'workflow_attachment' : rng.pick(['workflow_params', 'x', 'file']), star));
    const body = multipartBody(boundary, shuffle(rng, parts));
    return {
      kind: 'filenames',
      desc: `POST /runs with attachment names ${names.map((n) => JSON.stringify(n.toString().slice(0, 60)) + (n.length > 60 ? `…(${n.length})` : '')).join(', ')}${star ? ' (as filename*)' : ''}`,
      transport: 'raw',
      method: 'POST',
      target: '/ga4gh/wes/v1/runs',
      chunks: [mpRequest(boundary, body)],
      submit: true,
    };
  },

  /** url-encoded submissions (wes-client's form when nothing is attached). */
  urlencoded(ctx) {
    const { rng } = ctx;
    const fields = mutatedFields(ctx, rng.range(1, 3));
    let body: Buffer;
    if (rng.chance(0.7)) {
      body = Buffer.from(fields.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&'));
    } else {
      // Hand-made: bad escapes, raw bytes, separators.
      body = Buffer.concat(
        fields.map(([k, v], i) => Buffer.concat([Buffer.from(i ? rng.pick(['&', ';', '&&', '&=&']) : ''), Buffer.from(k), Buffer.from(rng.pick(['=', '==', ''])), Buffer.from(v), Buffer.from(rng.pick(['', '%', '%Z', '%E0%A4', '%00', '+', '%FF']))])),
      );
    }
    const ct = rng.pick(['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/x-www-form-urlencoded; charset=iso-8859-1', 'application/x-www-form-urlencoded;;;']);
    return {
      kind: 'urlencoded',
      desc: `POST /runs ${ct} ${describeFields(fields)}`,
      transport: 'raw',
      method: 'POST',
      target: '/ga4gh/wes/v1/runs',
      chunks: [postRuns([['Content-Type', ct], ['Content-Length', String(body.length)]], body)],
      submit: true,
    };
  },

  /** Wrong and missing content types on every route. */
  contentTypes(ctx) {
    const { rng } = ctx;
    const route = rng.pick(ROUTES);
    const path = fillPath(ctx, route.path);
    const method = rng.chance(0.7) ? rng.pick(route.methods) : rng.pick(['POST', 'PUT', 'PATCH', 'DELETE']);
    const [ct, body] = randomTypedBody(ctx);
    const headers: [string, string | Buffer][] = [HOST, CLOSE, ['Content-Length', String(body.length)]];
    if (ct !== null) headers.push(['Content-Type', ct]);
    return {
      kind: 'content-types',
      desc: `${method} ${path} Content-Type ${JSON.stringify(ct)} (${body.length} bytes)`,
      transport: 'raw',
      method,
      target: path,
      chunks: [buildRequest(method, path, headers, body)],
      submit: method === 'POST' && route.path === '/ga4gh/wes/v1/runs',
    };
  },

  /** Odd and oversized headers. */
  headers(ctx) {
    const { rng } = ctx;
    const route = rng.pick(ROUTES);
    const path = fillPath(ctx, route.path);
    const method = route.methods[0];
    const headers: [string, string | Buffer][] = [HOST, CLOSE];
    let closureOk = false;
    let after: Case['after'] = 'wait';
    let body: Buffer | undefined;
    const variant = rng.int(12);
    let what = '';
    switch (variant) {
      case 0: {
        const n = rng.range(20, 150);
        for (let i = 0; i < n; i++) headers.push([`X-${rng.hex(6)}`, junkString(rng).replace(/[\r\n\u0000-\u001f]/g, '').slice(0, 100) || 'v']);
        what = `${n} random headers`;
        break;
      }
      case 1:
        headers.push(['X-Big', 'x'.repeat(rng.pick([8_000, 15_000, 20_000, 70_000]))]);
        closureOk = true;
        what = 'one oversized header';
        break;
      case 2:
        headers.push(['X-Bin', Buffer.concat([Buffer.from('a'), rng.pick(BAD_UTF8.filter((b) => b[0]! >= 0x80)), Buffer.from('b')])]);
        what = 'obs-text bytes in a header value';
        break;
      case 3:
        headers.push(['X-Nul', Buffer.from('a\u0000b')]);
        closureOk = true;
        what = 'NUL in a header value';
        break;
      case 4:
        headers.push([rng.pick(['Bad Name', 'Bad:Name', 'Bäd', '', '(x)']), 'v']);
        closureOk = true;
        what = 'invalid header name';
        break;
      case 5:
        headers.push(['Content-Length', rng.pick(['-1', 'abc', '1e3', '0x10', ' 5', '5, 6', '5, 5', '99999999999999999999'])]);
        closureOk = true;
        // Some of these are lenient spellings of a real length: without a FIN the server would rightly wait for the body.
        after = 'fin';
        what = 'invalid Content-Length';
        break;
      case 6:
        headers.push(['Content-Length', '2'], ['Content-Length', '3']);
        body = Buffer.from('abc');
        closureOk = true;
        what = 'two different Content-Lengths';
        break;
      case 7:
        headers.push(['Transfer-Encoding', rng.pick(['gzip', 'chunked, chunked', 'identity', 'chunked;x', 'xchunked'])], ['Content-Length', '0']);
        closureOk = true;
        what = 'odd Transfer-Encoding';
        break;
      case 8:
        headers.push(['Expect', '100-continue'], ['Content-Length', '2'], ['Content-Type', 'application/json']);
        body = Buffer.from('{}');
        what = 'Expect: 100-continue';
        break;
      case 9:
        headers.push(['Expect', rng.pick(['200-ok', 'x', '100-continue, foo'])]);
        what = 'unknown Expect';
        break;
      case 10:
        headers.push(['X-Folded', 'a'], [' continued', 'b']);
        closureOk = true;
        what = 'obsolete line folding';
        break;
      default:
        headers.push([rng.pick(['Origin', 'Authorization', 'Cookie', 'X-Forwarded-For', 'X-Forwarded-Proto', 'Forwarded', 'Accept', 'Accept-Encoding', 'User-Agent', 'Host']), junkString(rng).replace(/[\r\n\u0000-\u001f]/g, '').slice(0, 2000) || 'v']);
        what = 'odd value of a common header';
    }
    if (method === 'POST' && !headers.some((h) => h[0] === 'Content-Length' || h[0] === 'Transfer-Encoding')) headers.push(['Content-Length', '0']);
    return {
      kind: 'headers',
      desc: `${method} ${path} ${what}`,
      transport: 'raw',
      method,
      target: path,
      chunks: [buildRequest(method, path, headers, body)],
      closureOk,
      after,
      submit: method === 'POST' && route.path === '/ga4gh/wes/v1/runs',
    };
  },

  /** Broken HTTP itself. */
  protocol(ctx) {
    const { rng } = ctx;
    const variants: [string, Buffer][] = [
      ['random bytes', rng.bytes(rng.range(1, 200))],
      ['random printable line', Buffer.from(junkString(rng) + '\r\n\r\n')],
      ['HTTP/0.9 request', Buffer.from('GET /engine/v1/status\r\n\r\n')],
      ['HTTP/9.9', Buffer.from('GET /engine/v1/status HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['HTTP/1.0 without Host', Buffer.from('GET /ga4gh/wes/v1/runs HTTP/1.0\r\n\r\n')],
      ['HTTP/1.1 without Host', Buffer.from('GET /ga4gh/wes/v1/runs HTTP/1.1\r\nConnection: close\r\n\r\n')],
      ['LF-only request', Buffer.from('GET /ga4gh/wes/v1/service-info HTTP/1.1\nHost: x\nConnection: close\n\n')],
      ['header without colon', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n')],
      ['two Host headers', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')],
      ['absolute-form target', Buffer.from('GET http://evil.example/ga4gh/wes/v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['asterisk target', Buffer.from('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['CONNECT', Buffer.from('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n')],
      ['HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
      ['TLS ClientHello', Buffer.from('16030100a5010000a10303', 'hex')],
      ['request line of 20 KB', Buffer.from(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)],
      ['only CRLFs', Buffer.from('\r\n\r\n\r\n')],
      ['space before the method', Buffer.from(' GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['tab in the request line', Buffer.from('GET\t/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
      ['NUL in the target', Buffer.from('GET /ga4gh/wes/v1/runs/\u0000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1')],
      ['invalid UTF-8 in the target', Buffer.concat([Buffer.from('GET /ga4gh/wes/v1/runs/'), rng.pick(BAD_UTF8.filter((b) => b[0] !== 0)), Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')])],
      ['headers never finished', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n')],
    ];
    const [what, bytes] = rng.pick(variants);
    // Pipelining two good requests on one connection is legal: both must be answered.
    if (rng.chance(0.08)) {
      return {
        kind: 'protocol',
        desc: 'two pipelined requests',
        transport: 'raw',
        method: 'GET',
        target: '/engine/v1/status',
        chunks: [Buffer.from('GET /engine/v1/status HTTP/1.1\r\nHost: x\r\n\r\nGET /ga4gh/wes/v1/runs/x/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
        expectResponses: 2,
      };
    }
    // Unfinished requests are followed by a FIN, or the server would rightly wait for the rest.
    const needsFin = ['random bytes', 'random printable line', 'only CRLFs', 'headers never finished', 'TLS ClientHello', 'CONNECT'].includes(what);
    return { kind: 'protocol', desc: what, transport: 'raw', method: what.startsWith('OPTIONS') ? 'OPTIONS' : 'GET', target: '?', chunks: [bytes], after: needsFin ? 'fin' : 'wait', closureOk: true, timeoutMs: 10_000 };
  },

  /** Deep nesting (100 000 levels) and huge strings, within and beyond the limits. */
  huge(ctx) {
    const { rng } = ctx;
    const boundary = boundaryFor(rng);
    const variant = rng.int(10);
    const field = rng.pick(['workflow_params', 'tags', 'workflow_engine_parameters', 'workflow_url', 'workflow_type']);
    const fields: [string, string | Buffer][] = Object.entries(GOOD).filter(([k]) => k !== field);
    if (variant === 5) {
      // Wide rather than deep: 200 000 keys.
      const wide = `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i % 7 === 0 ? '{"class":"File","location":"x"}' : '0'}`).join(',')}}`;
      const body = multipartBody(boundary, [...fields.map(([k, v]) => fieldPart(k, v)), fieldPart(field, wide), fieldPart('workflow_url', 'missing.cwl'), filePart('echo.cwl', ctx.echo)]);
      return { kind: 'huge', desc: `${field} with 200 000 keys`, transport: 'raw', method: 'POST', target: '/ga4gh/wes/v1/runs', chunks: [mpRequest(boundary, body)], submit: true, timeoutMs: 60_000 };
    }
    if (variant < 6) {
      const depth = rng.pick([100_000, 100_000, 20_000, 65]);
      const kind = rng.pick(['object', 'array', 'mixed'] as const);
      const value = field === 'workflow_params' && rng.chance(0.5) ? `{"message":"x","deep":${deepJson(depth, kind)}}` : deepJson(depth, kind);
      const body = multipartBody(boundary, [...fields.map(([k, v]) => fieldPart(k, v)), fieldPart(field, value), filePart('echo.cwl', ctx.echo)]);
      return { kind: 'huge', desc: `${field} nested ${depth} deep (${kind})`, transport: 'raw', method: 'POST', target: '/ga4gh/wes/v1/runs', chunks: [mpRequest(boundary, body)], submit: true, timeoutMs: 30_000 };
    }
    const beyond = variant >= 8;
    const size = beyond ? ctx.maxFieldBytes + 1024 : 10 * 1024 * 1024;
    const str = ctx.big.subarray(0, size);
    const value = field === 'workflow_params' ? Buffer.concat([Buffer.from('{"message":"'), str.subarray(0, size - 16), Buffer.from('"}')]) : str;
    if (variant === 9 || variant === 7) {
      // url-encoded: the whole body counts against the body limit.
      const body = Buffer.concat([Buffer.from(`workflow_type_version=v9&${field}=`), value]);
      return {
        kind: 'huge',
        desc: `url-encoded ${field} of ${value.length} bytes (${beyond ? 'beyond' : 'within'} the limit)`,
        transport: 'raw',
        method: 'POST',
        target: '/ga4gh/wes/v1/runs',
        chunks: [postRuns([['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', String(body.length)]], body)],
        submit: true,
        timeoutMs: 60_000,
      };
    }
    // Within the limit but otherwise invalid, so no run starts with 10 MB of input.
    const extra = beyond ? [] : [fieldPart('workflow_type_version', 'v9')];
    const body = multipartBody(boundary, [...fields.filter(([k]) => beyond || k !== 'workflow_type_version').map(([k, v]) => fieldPart(k, v)), ...extra, fieldPart(field, value), filePart('echo.cwl', ctx.echo)]);
    return {
      kind: 'huge',
      desc: `multipart ${field} of ${value.length} bytes (${beyond ? 'beyond' : 'within'} the limit)`,
      transport: 'raw',
      method: 'POST',
      target: '/ga4gh/wes/v1/runs',
      chunks: [mpRequest(boundary, body)],
      submit: true,
      timeoutMs: 60_000,
    };
  },

  /** A valid submission: the echo workflow, sometimes with odd but legal extras. */
  valid(ctx) {
    const { rng } = ctx;
    const message = rng.pick(['hello', 'héllo wörld', '😀', 'a b c', '--help', '$(id)', '; rm -rf /', 'x'.repeat(1000), '\u202eRTL']);
    const params = JSON.stringify({ message });
    const tags = rng.chance(0.5) ? JSON.stringify({ fuzz: 'yes', [rng.pick(['k', 'ü', '__proto__', 'a.b', ''])]: junkString(rng).replace(/\u0000/g, '').slice(0, 50) }) : undefined;
    const extras = rng.chance(0.3) ? Array.from({ length: rng.range(1, 3) }, () => legalOddFilename(ctx)) : [];
    // Names of what the server itself writes into the run: accepting or refusing is the server's call, a 5xx is not.
    const contested = rng.chance(0.12);
    if (contested) extras.push(rng.pick(['wes_inputs.json', 'wes_inputs.json/inside', 'wes_inputs.json/a/b']));
    const uniqueExtras = [...new Set(extras)].filter((n, i, all) => !all.some((o) => o !== n && (o.startsWith(n + '/') || n.startsWith(o + '/'))) && i >= 0);
    const fields: Record<string, string> = { ...GOOD, workflow_type: rng.pick(['CWL', 'cwl', 'Cwl']), workflow_params: params, ...(tags ? { tags } : {}) };
    if (rng.chance(0.2)) fields.workflow_engine = 'cwltool';
    if (rng.chance(0.5)) {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append('workflow_attachment', new Blob([ctx.echo]), 'echo.cwl');
      for (const n of uniqueExtras) form.append('workflow_attachment', new Blob(['extra']), n);
      return { kind: 'valid', desc: `valid submission (fetch FormData) extras ${JSON.stringify(uniqueExtras)}`, transport: 'fetch', method: 'POST', target: '/ga4gh/wes/v1/runs', body: form, valid: !contested, submit: true, harvest: true };
    }
    const boundary = boundaryFor(rng);
    const parts = [...Object.entries(fields).map(([k, v]) => fieldPart(k, v)), filePart('echo.cwl', ctx.echo), ...uniqueExtras.map((n) => filePart(n, Buffer.from('extra')))];
    return {
      kind: 'valid',
      desc: `valid submission (raw multipart) extras ${JSON.stringify(uniqueExtras)}`,
      transport: 'raw',
      method: 'POST',
      target: '/ga4gh/wes/v1/runs',
      chunks: [mpRequest(boundary, multipartBody(boundary, shuffle(rng, parts)))],
      valid: !contested,
      submit: true,
      harvest: true,
    };
  },
};

export const WEIGHTS: Record<keyof typeof gens, number> = {
  routeMethod: 12,
  runIds: 12,
  listing: 9,
  logs: 8,
  multipartFields: 14,
  multipartBroken: 11,
  filenames: 10,
  urlencoded: 6,
  contentTypes: 6,
  headers: 6,
  protocol: 3,
  huge: 1.2,
  valid: 1.6,
};

/**
 * Every route with every method, and every route with a spread of content
 * types, once each: sent first, so that no combination is left to chance.
 */
export function sweep(ctx: FuzzContext): Omit<Case, 'n'>[] {
  const out: Omit<Case, 'n'>[] = [];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
  const types: (string | null)[] = [null, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/octet-stream'];
  for (const route of ROUTES) {
    const path = fillPath(ctx, route.path);
    for (const method of methods) {
      const headers: [string, string][] = [HOST, CLOSE];
      if (method !== 'GET' && method !== 'HEAD') headers.push(['Content-Length', '0']);
      out.push({ kind: 'sweep', desc: `${method} ${path}`, transport: 'raw', method, target: path, chunks: [buildRequest(method, path, headers)], submit: method === 'POST' && route.path === '/ga4gh/wes/v1/runs' });
    }
    for (const ct of types) {
      const method = route.methods.includes('POST' as never) ? 'POST' : 'GET';
      const body = Buffer.from(ct === 'application/json' ? '{"workflow_url":"echo.cwl"}' : ct === 'application/x-www-form-urlencoded' ? 'workflow_url=echo.cwl' : 'workflow_url');
      const headers: [string, string][] = [HOST, CLOSE, ['Content-Length', String(body.length)]];
      if (ct !== null) headers.push(['Content-Type', ct]);
      out.push({ kind: 'sweep', desc: `${method} ${path} Content-Type ${JSON.stringify(ct)}`, transport: 'raw', method, target: path, chunks: [buildRequest(method, path, headers, body)], submit: method === 'POST' && route.path === '/ga4gh/wes/v1/runs' });
    }
  }
  // One url-encoded form of 1.5 million fields (14 MB, under the body limit): it must not freeze the server.
  const many = Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => `k${i}=`).join('&'));
  out.push({
    kind: 'sweep',
    desc: `POST /runs url-encoded with 1 500 000 fields (${many.length} bytes)`,
    transport: 'raw',
    method: 'POST',
    target: '/ga4gh/wes/v1/runs',
    chunks: [postRuns([['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', String(many.length)]], many)],
    submit: true,
    timeoutMs: 120_000,
  });
  return out;
}

export function generate(ctx: FuzzContext, n: number): Case {
  const kind = ctx.rng.weighted(WEIGHTS);
  return { n, ...gens[kind]!(ctx) };
}

// ---------------------------------------------------------------- helpers

const PAGE_SIZES = ['1e30', '-1', '1.5', 'NaN', '0', '1', '2', '7', '1000', '1001', '99999999999999999999', 'Infinity', '-Infinity', '0x10', '1e3', ' 1', '1 ', '+1', '٣', '１', '', '[]', '\u0000', '9007199254740993', '-0', '1.0', '1e-7', 'true', 'null', '1,2', '01'];

function forgedToken(ctx: FuzzContext): string {
  const { rng } = ctx;
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const real = rng.known(ctx.tokens.map((x) => x.token), 1, () => b64({ k: 'runs', c: 1 }));
  const runId = rng.known(ctx.runIds, 1, () => UNKNOWN);
  return rng.pick([
    () => rng.bytes(rng.range(1, 64)).toString('base64url'),
    () => rng.bytes(rng.range(1, 64)).toString('base64'),
    () => b64({ k: `tasks:${runId}`, c: rng.int(5) }),
    () => b64({ k: 'tasks:run-' + rng.hex(32), c: 0 }),
    () => b64({ k: 'runs', c: rng.pick([-1, 1.5, 1e308, 2 ** 53, '1', null, 0, 1, 999999]) }),
    () => b64({ k: 'runs' }),
    () => b64({ c: 1 }),
    () => b64({ k: 'runs', c: 1, __proto__: { admin: true } }),
    () => b64('{"k":"runs","c":1,"__proto__":{"x":1}}'),
    () => b64([]),
    () => b64(null),
    () => b64('"x"'),
    () => b64('not json'),
    () => b64({ k: ['runs'], c: [1] }),
    () => real,
    () => real + '=',
    () => real.slice(0, -1),
    () => real + real,
    () => 'A'.repeat(rng.pick([256, 257, 5000])),
    () => '',
    () => '%00',
    () => '../../etc/passwd',
    () => junkString(rng),
  ])();
}

const RANGES: ((rng: Rng) => string)[] = [
  () => 'bytes=0-0',
  () => 'bytes=0-',
  () => 'bytes=-1',
  () => 'bytes=-0',
  () => 'bytes=5-3',
  (r) => `bytes=${r.int(100)}-${r.int(100)}`,
  () => 'bytes=0-99999999999999999999999',
  () => 'bytes=99999999999999999999-',
  () => 'bytes=-99999999999999999999999',
  () => 'bytes=9007199254740993-',
  () => 'bytes=1-2,3-4',
  () => 'bytes=0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1',
  () => 'bytes=--1',
  () => 'bytes=a-b',
  () => 'bytes = 0-1',
  () => 'items=0-1',
  () => 'bytes=0-1e3',
  () => '',
  () => 'bytes=',
  () => 'bytes=-',
  () => 'bytes=٣-٤',
  () => 'bytes=0x10-0x20',
  () => 'BYTES=0-1',
  () => 'bytes=0-1\u0000',
  () => 'bytes=\u00ff-1',
  (r) => `bytes=${'9'.repeat(r.pick([400, 8000]))}-`,
  (r) => `bytes=0-${'9'.repeat(r.pick([400, 8000]))}`,
  () => `bytes=${'1-2,'.repeat(3000)}3-4`,
  () => `bytes=${'9'.repeat(20_000)}-`,
];

function hostileId(ctx: FuzzContext, raw: boolean, task = false): string {
  const { rng } = ctx;
  const real = rng.known(task ? ctx.taskIds : ctx.runIds, 0.3, () => null as string | null);
  const made = hostileMadeId(ctx, raw);
  return real ?? made;
}

function hostileMadeId(ctx: FuzzContext, raw: boolean): string {
  const { rng, marker } = ctx;
  const options: (() => string)[] = [
    () => `run-${rng.hex(32)}`,
    () => `run-${rng.hex(32).toUpperCase()}`,
    () => `run-${rng.hex(31)}`,
    () => `run-${rng.hex(33)}`,
    () => rng.hex(32),
    () => '..',
    () => '..%2f..',
    () => '..%2F..%2F..%2Fetc%2Fpasswd',
    () => `..%2f..%2f${marker}`,
    () => '%2e%2e',
    () => '%2e%2e%2f%2e%2e',
    () => '%252e%252e',
    () => '%c0%ae%c0%ae',
    () => `run-${rng.hex(32)}%00`,
    () => `run-${rng.hex(32)}%2f..`,
    () => `run-${rng.hex(32)}%2F..%2F..`,
    () => '%00',
    () => '%E2%80%AE',
    () => '%EF%BC%8E%EF%BC%8E',
    () => '%E0%A4%A',
    () => '%ZZ',
    () => '%',
    () => '%FF%FE',
    () => 'a;b',
    () => 'a%3Fb',
    () => 'a%23b',
    () => 'x'.repeat(rng.pick([100, 511, 512, 513, 5000])),
    () => `run-${'0'.repeat(32)}`,
    () => ' ',
    () => '\\..\\..',
    () => '__proto__',
    () => 'constructor',
    () => '.',
  ];
  if (raw) {
    options.push(
      () => '../..',
      () => './.',
      () => `run-${rng.hex(32)}#x`,
      () => `run-${rng.hex(32)}?page_size=-1`,
      () => 'a\u0000b',
      () => 'a b',
      () => '\u00ff\u00fe',
    );
  }
  return rng.pick(options)();
}

function fillPath(ctx: FuzzContext, template: string): string {
  const { rng } = ctx;
  const made = `run-${rng.hex(32)}`;
  const id = rng.known(ctx.runIds, 0.5, () => (rng.chance(0.5) ? UNKNOWN : made));
  const task = rng.known(ctx.taskIds, 0.5, () => rng.hex(8));
  return template.replace('{id}', id).replace('{task}', task);
}

/** A content type (null: none) and a body of whatever kind. */
function randomTypedBody(ctx: FuzzContext): [string | null, Buffer] {
  const { rng } = ctx;
  const ct = rng.pick<string | null>([
    null,
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'Application/JSON',
    'text/plain',
    'text/html',
    'application/xml',
    'application/octet-stream',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
    `multipart/form-data; boundary=${boundaryFor(rng)}`,
    'multipart/mixed; boundary=x',
    'application/vnd.api+json',
    '*/*',
    '',
    ';;;',
    'application/json;;charset=',
    'x'.repeat(2000),
    'application/json, text/plain',
  ]);
  const body = rng.pick<() => Buffer>([
    () => Buffer.alloc(0),
    () => Buffer.from('{}'),
    () => Buffer.from(rng.pick(BROKEN_JSON)),
    () => Buffer.from(JSON.stringify(randomJson(rng))),
    () => Buffer.from(deepJson(rng.pick([1000, 100_000]), 'array')),
    () => Buffer.from('a=1&b=%ZZ'),
    () => rng.bytes(rng.range(1, 2000)),
    () => Buffer.from(`--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--x--\r\n`),
    () => junkBytes(rng),
  ])();
  return [ct, body];
}

/** Percent-encodes every byte that is not unreserved (works on invalid UTF-8 and lone surrogates too). */
function percentEncode(v: string | Buffer): string {
  let out = '';
  for (const byte of Buffer.from(v)) out += /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function splitRandom(rng: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < b.length) {
    const n = Math.min(b.length - pos, rng.range(1, Math.max(2, Math.ceil(b.length / 4))));
    out.push(b.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

function describeFields(fields: [string | Buffer, string | Buffer][]): string {
  return fields
    .map(([k, v]) => {
      const s = v.toString();
      const shown = JSON.stringify(s.length > 60 ? s.slice(0, 60) : s) + (s.length > 60 ? `…(${v.length} bytes)` : '');
      return `${k.toString().slice(0, 30)}=${shown}`;
    })
    .join(' ');
}
