/**
 * Section "auth": what checking credentials costs the read path. The same run's status served
 * by a Ferry without authentication and by one that checks a static bearer token on every
 * request, in interleaved rounds.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { load, submit, waitState, type LoadResult } from './client.js';
import { log, ROOT, WES, type BenchContext } from './context.js';
import { startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { median } from './lib.js';

const TOKEN = 'bench-token-0123456789abcdef';

/** GET status with a bearer token against no authentication. */
export async function sectionAuth(ctx: BenchContext): Promise<void> {
  log('auth: starting a Ferry without authentication and one with bearer tokens');
  const tokens = path.join(ctx.tmpRoot, 'bench-tokens');
  await fs.writeFile(tokens, `bench ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
  const open = await startFerry(ctx, 'auth-none', path.join(ctx.tmpRoot, 'auth-none'));
  const locked = await startFerry(ctx, 'auth-token', path.join(ctx.tmpRoot, 'auth-token'), ['--auth-tokens', tokens]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const runOn = async (f: Ferry, headers: Record<string, string>): Promise<string> => {
    const dir = path.join(ROOT, 'scripts', 'bench', 'fixtures', 'scatter12');
    const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'scatter12.cwl', workflow_params: await fs.readFile(path.join(dir, 'inputs.json'), 'utf8') };
    const runId = await submit(f, fields, [{ name: 'scatter12.cwl', file: path.join(dir, 'scatter12.cwl') }], headers);
    await waitState(f, runId, ['COMPLETE'], 100, 600_000, headers);
    return runId;
  };
  const [openRun, lockedRun] = await Promise.all([runOn(open, {}), runOn(locked, auth)]);
  ctx.notes.push(`auth: GET status of a finished run; the token server checks a static bearer token (sha256, constant-time) on every request`);

  const results: { none: LoadResult[]; token: LoadResult[] } = { none: [], token: [] };
  for (let r = 0; r < ctx.opts.rounds; r++) {
    const order = r % 2 === 0 ? (['none', 'token'] as const) : (['token', 'none'] as const);
    for (const who of order) {
      const res =
        who === 'none' ? await load(ctx, `${open.root}${WES}/runs/${openRun}/status`) : await load(ctx, `${locked.root}${WES}/runs/${lockedRun}/status`, { headers: auth });
      if (res.non2xx || res.errors) throw new Error(`auth ${who}: ${res.non2xx} non-2xx answers, ${res.errors} errors`);
      results[who].push(res);
      log(`auth: round ${r + 1} ${who}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99} ms`);
    }
  }
  ctx.raw.auth = results;
  const ratio = median(results.token.map((x, i) => x.rps / results.none[i]!.rps));
  ctx.rows.push({
    metric: 'GET status with a static bearer token, req/s',
    ferry: median(results.token.map((x) => x.rps)),
    baseline: median(results.none.map((x) => x.rps)),
    unit: '/s',
    digits: 0,
    ratio,
    target: '≥ 0.80× no auth',
    ok: ratio >= 0.8,
  });
  await stopFerry(ctx, locked);
  await stopFerry(ctx, open);
}
