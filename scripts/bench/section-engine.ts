/**
 * Section "engine": the time Ferry adds to a run, for cwltool and toil-cwl-runner: a client's
 * POST → COMPLETE against the same engine command run directly in a fresh folder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { submit, waitState } from './client.js';
import { fixture, log, type BenchContext } from './context.js';
import { startFerry, stopFerry } from './ferry-process.js';
import { getJson, median, run } from './lib.js';

/** max − min, rounded. */
const spread = (xs: number[]): string => (Math.max(...xs) - Math.min(...xs)).toFixed(0);

/** Ferry's overhead per run, against the engine run directly and around the engine in the same run. */
export async function sectionEngine(ctx: BenchContext): Promise<void> {
  log('engine: starting Ferry');
  // At info level the run's supervisor logs the engine's start and end (supervisor.log, times in ms).
  const f = await startFerry(ctx, 'engine', path.join(ctx.tmpRoot, 'engine'), ['--log-level', 'info']);
  const echo = fixture('tests/fixtures/workflows/echo/echo.cwl');
  const params = await fs.readFile(fixture('tests/fixtures/workflows/echo/inputs.json'), 'utf8');
  let fresh = 0;

  /** POST → COMPLETE seen by a client polling every 20 ms. */
  const throughFerry = async (engine: string): Promise<{ ms: number; runId: string }> => {
    const t0 = process.hrtime.bigint();
    const runId = await submit(f, { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'echo.cwl', workflow_params: params, workflow_engine: engine }, [{ name: 'echo.cwl', file: echo }]);
    await waitState(f, runId, ['COMPLETE'], 20);
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, runId };
  };
  /** The engine's own time in the run: its supervisor's "engine started" → "engine ended". */
  const engineTime = async (runId: string): Promise<number> => {
    const lines = (await fs.readFile(path.join(f.workDir, runId, 'supervisor.log'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; time: number });
    const at = (msg: string): number => {
      const line = lines.find((l) => l.msg === msg);
      if (!line) throw new Error(`${runId}: no "${msg}" in its supervisor.log`);
      return line.time;
    };
    return at('engine ended') - at('engine started');
  };
  /** The run's own command (from its run log), in a fresh folder with the environment Ferry gives engines. */
  const direct = async (runId: string): Promise<number> => {
    const { run_log: rl } = await getJson<{ run_log: { cmd: string[] } }>(`${f.base}/runs/${runId}`);
    const runDir = path.join(f.workDir, runId);
    const dir = path.join(ctx.tmpRoot, 'direct', `d${fresh++}`);
    await fs.mkdir(path.join(dir, 'execution'), { recursive: true });
    await fs.mkdir(path.join(dir, 'tmp'));
    await fs.mkdir(path.join(dir, 'outputs'));
    await fs.copyFile(echo, path.join(dir, 'execution', 'echo.cwl'));
    await fs.copyFile(path.join(runDir, 'execution', 'wes_inputs.json'), path.join(dir, 'execution', 'wes_inputs.json'));
    const cmd = rl.cmd.map((a) => a.split(runDir).join(dir));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(dir, 'tmp'), TMPDIR: path.join(dir, 'tmp'), LANG: process.env.LANG ?? 'C.UTF-8' };
    const r = await run(cmd[0]!, cmd.slice(1), { cwd: path.join(dir, 'execution'), env });
    if (r.code !== 0) throw new Error(`direct ${cmd.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return r.ms;
  };

  const res: Record<string, { ferry: number[]; direct: number[]; engine: number[]; cmd: string[] }> = {};
  for (const engine of ['cwltool', 'toil']) {
    const w = await throughFerry(engine); // warm-up, not counted: first runs pay for cold caches
    await direct(w.runId);
    const r = (res[engine] = { ferry: [] as number[], direct: [] as number[], engine: [] as number[], cmd: [] as string[] });
    r.cmd = (await getJson<{ run_log: { cmd: string[] } }>(`${f.base}/runs/${w.runId}`)).run_log.cmd;
    for (let k = 0; k < ctx.opts.engineRuns; k++) {
      const { ms, runId } = await throughFerry(engine);
      const inRun = await engineTime(runId);
      const d = await direct(runId);
      r.ferry.push(ms);
      r.direct.push(d);
      r.engine.push(inRun);
      log(`engine: ${engine} #${k + 1}: Ferry ${ms.toFixed(0)} ms (its engine ${inRun.toFixed(0)} ms), direct ${d.toFixed(0)} ms`);
    }
  }
  ctx.raw.engine = res;
  for (const [engine, r] of Object.entries(res)) {
    const name = engine === 'toil' ? 'toil-cwl-runner' : engine;
    const mf = median(r.ferry);
    const md = median(r.direct);
    ctx.rows.push({ metric: `${name} echo: POST → COMPLETE vs direct, median of ${ctx.opts.engineRuns}`, ferry: mf, baseline: md, unit: 'ms', digits: 0 });
    ctx.rows.push({ metric: `${name} echo: time Ferry adds (vs a direct run; the direct runs spread over ${spread(r.direct)} ms)`, ferry: mf - md, unit: 'ms', digits: 0 });
    const added = median(r.ferry.map((x, i) => x - r.engine[i]!));
    ctx.rows.push({ metric: `${name} echo: time Ferry adds around its engine, in the same run`, ferry: added, baseline: median(r.engine), unit: 'ms', digits: 0, target: '≤ 150 ms', ok: added <= 150 });
  }
  ctx.notes.push(
    `engine: direct = the run log's cmd, paths moved to a fresh folder, same environment as Ferry gives engines; Ferry = client POST → status COMPLETE polled every 20 ms; one warm-up each, not counted. ` +
      `"Around its engine" = POST → COMPLETE minus the engine's own time in that run (its supervisor's log: process spawned → exited, the sandbox's start counted as the engine's), median of the per-run differences; ` +
      `the direct comparison differs two wall times that vary from run to run by the spread shown (max − min of the direct runs)`,
  );
  await stopFerry(ctx, f);
}

