/**
 * Section "api": the read path. One CWL run with 13 tasks, then its status and its run log
 * served under load by Ferry and by the bare Fastify ceiling answering the same bodies,
 * in interleaved rounds.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { load, submit, waitState, type LoadResult } from './client.js';
import { log, ROOT, WES, type BenchContext } from './context.js';
import { startCeiling, startFerry, stopFerry } from './ferry-process.js';
import { median, request } from './lib.js';

/** Requests per second and p99 of GET status and GET run log, Ferry against the ceiling. */
export async function sectionApi(ctx: BenchContext): Promise<void> {
  log('api: starting Ferry and running the 13-task CWL fixture with cwltool');
  const f = await startFerry(ctx, 'api', path.join(ctx.tmpRoot, 'api'));
  const dir = path.join(ROOT, 'scripts', 'bench', 'fixtures', 'scatter12');
  const runId = await submit(
    f,
    { workflow_type: 'CWL', workflow_type_version: 'v1.2', workflow_url: 'scatter12.cwl', workflow_params: await fs.readFile(path.join(dir, 'inputs.json'), 'utf8'), tags: '{"bench":"api"}' },
    [{ name: 'scatter12.cwl', file: path.join(dir, 'scatter12.cwl') }],
  );
  await waitState(f, runId, ['COMPLETE'], 100);
  const statusRes = await request(`${f.base}/runs/${runId}/status`);
  const logRes = await request(`${f.base}/runs/${runId}`);
  const runLog = JSON.parse(logRes.body) as { task_logs: unknown[] };
  if (runLog.task_logs.length < 12) throw new Error(`the fixture run has ${runLog.task_logs.length} task logs, expected at least 12`);
  const c = await startCeiling(ctx, { status: JSON.parse(statusRes.body), log: runLog });
  const cStatus = await request(`${c.root}${WES}/runs/${runId}/status`);
  const cLog = await request(`${c.root}${WES}/runs/${runId}`);
  ctx.notes.push(
    `api: run ${runId} has ${runLog.task_logs.length} task logs; bodies Ferry/ceiling: status ${statusRes.body.length}/${cStatus.body.length} B, run log ${logRes.body.length}/${cLog.body.length} B; ` +
      `autocannon ${ctx.opts.connections} connections, ${ctx.opts.warmup} s warm-up + ${ctx.opts.duration} s, ${ctx.opts.rounds} interleaved rounds, medians`,
  );

  const results: Record<string, { ferry: LoadResult[]; ceiling: LoadResult[] }> = { status: { ferry: [], ceiling: [] }, log: { ferry: [], ceiling: [] } };
  for (let r = 0; r < ctx.opts.rounds; r++) {
    for (const which of ['status', 'log'] as const) {
      const suffix = which === 'status' ? `/runs/${runId}/status` : `/runs/${runId}`;
      const order = r % 2 === 0 ? (['ceiling', 'ferry'] as const) : (['ferry', 'ceiling'] as const);
      for (const who of order) {
        const res = await load(ctx, `${who === 'ferry' ? f.root : c.root}${WES}${suffix}`);
        if (res.non2xx || res.errors) throw new Error(`${who} ${which}: ${res.non2xx} non-2xx answers, ${res.errors} errors`);
        results[which]![who].push(res);
        log(`api: round ${r + 1} ${which} ${who}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99} ms`);
      }
    }
  }
  ctx.raw.api = results;
  for (const [which, label, target] of [['status', 'GET /runs/{id}/status', 0.75], ['log', 'GET /runs/{id} (13 tasks)', 0.4]] as const) {
    const { ferry, ceiling: ceil } = results[which]!;
    const ratio = median(ferry.map((x, i) => x.rps / ceil[i]!.rps));
    ctx.rows.push({ metric: `${label} req/s`, ferry: median(ferry.map((x) => x.rps)), baseline: median(ceil.map((x) => x.rps)), unit: '/s', digits: 0, ratio, target: `≥ ${target.toFixed(2)}× ceiling`, ok: ratio >= target });
    ctx.rows.push({ metric: `${label} p99`, ferry: median(ferry.map((x) => x.p99)), baseline: median(ceil.map((x) => x.p99)), unit: 'ms', digits: 1 });
  }
  await stopFerry(ctx, f);
}

