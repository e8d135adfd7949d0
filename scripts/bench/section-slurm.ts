/**
 * Section "slurm": the time from a run's submission to its engine's start, through Slurm
 * (`--executor slurm`) against the local executor, for the same run. The tool of the run
 * (fixtures/tool-start) writes the wall-clock time at which it starts, i.e. once the engine
 * (cwltool) has started and launched it; POST → that time, and POST → COMPLETE seen by a client
 * polling every 20 ms, on a one-node Slurm cluster on this machine (scripts/slurm-cluster.sh, held
 * for the bench's process and released at its end), with the queue read every 0.5 s and every 2 s
 * (the default). Where the Slurm time goes comes from the run folder (slurm-job.sh written just
 * before sbatch; the engine's stdout, created by slurmstepd as the job's process starts), the
 * controller's and slurmd's logs (millisecond time stamps) and the client's own polling.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { localOutput, submit } from './client.js';
import { fixture, log, TERMINAL, type BenchContext } from './context.js';
import { startFerry, stopFerry, type Ferry } from './ferry-process.js';
import { getJson, median, run, sleep } from './lib.js';

const CLUSTER_SCRIPT = fixture('scripts', 'slurm-cluster.sh');
/** How often the client asks for the run's state. */
const CLIENT_POLL_MS = 20;

/** One run, its times in ms since the epoch (wall clock: the tool's `date`, file times and Slurm's logs are on it too). */
interface Sample {
  server: string;
  runId: string;
  /** POST sent. */
  post: number;
  /** POST → COMPLETE seen by the client (monotonic clock). */
  completeMs: number;
  /** The client first saw RUNNING; QUEUED → RUNNING is when Ferry saw the Slurm job start. */
  running: number | null;
  /** The engine's process started: its stdout file was created (by Ferry locally, by slurmstepd in a job). */
  engine: number;
  /** The tool started (its own `date +%s.%N`). */
  tool: number;
  /** The engine's last word: its stdout last written (cwltool prints the outputs' JSON as it ends). */
  engineEnd: number;
  /** start_time of the run log (1 s resolution). */
  startTime: string | null;
  /**
   * Slurm only: the batch script written, just before sbatch; the exit code file it writes as its
   * engine has ended; the job id; the daemons' log times (the controller accepted the job, allocated
   * it, slurmd launched it, slurmstepd was done with it, the controller saw it end).
   */
  script: number | null;
  scriptEnd: number | null;
  jobId: string | null;
  submitted: number | null;
  allocated: number | null;
  launched: number | null;
  stepDone: number | null;
  jobDone: number | null;
}

interface Server {
  label: string;
  ferry: Ferry;
  slurm: boolean;
}

/** Whether this process can start the cluster's daemons (root, or sudo without a password). */
function canBeRoot(): boolean {
  return process.getuid?.() === 0 || spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
}

/**
 * A time stamp of Slurm's logs (`2026-12-07T05:19:58.821`, the daemons' local time) in ms since the
 * epoch. The daemons run on this machine, with its time zone.
 */
const slurmTime = (s: string): number => new Date(s).getTime();

/** The first line of `text` matching `re` (whose first group is the time stamp), as ms since the epoch. */
function firstTime(text: string, re: RegExp): number | null {
  const m = re.exec(text);
  return m ? slurmTime(m[1]!) : null;
}

const TS = String.raw`^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\]`;

/** POST → RUNNING → COMPLETE seen by a client polling every 20 ms. */
async function follow(f: Ferry, runId: string): Promise<{ running: number | null }> {
  const deadline = Date.now() + 600_000;
  let running: number | null = null;
  for (;;) {
    const { state } = await getJson<{ state: string }>(`${f.base}/runs/${runId}/status`);
    if (state === 'RUNNING' && running === null) running = Date.now();
    if (state === 'COMPLETE') return { running };
    if (TERMINAL.includes(state)) throw new Error(`run ${runId} ended ${state}: ${JSON.stringify(await getJson(`${f.base}/runs/${runId}`)).slice(0, 2000)}`);
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${state}`);
    await sleep(CLIENT_POLL_MS);
  }
}

const fmt = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)}` : 'n/a');
/** The median of `b - a` over the samples that have both. */
function seg(samples: readonly Sample[], a: (s: Sample) => number | null, b: (s: Sample) => number | null): number {
  const d: number[] = [];
  for (const s of samples) {
    const x = a(s);
    const y = b(s);
    if (x !== null && y !== null) d.push(y - x);
  }
  return median(d);
}

/** Submission → engine and tool start, and → COMPLETE, through Slurm and locally. */
export async function sectionSlurm(ctx: BenchContext): Promise<void> {
  if (!canBeRoot()) {
    ctx.notes.push('slurm: skipped: the one-node cluster (scripts/slurm-cluster.sh) needs root, or sudo without a password');
    return;
  }
  // The cluster's daemons must not carry the bench's marker (cleanup would end them): the script
  // gets the bench's own environment, FERRY_SLURM_* settings included.
  const clusterEnv = { ...process.env };
  log('slurm: starting (or joining) the one-node Slurm cluster');
  const started = await run('bash', [CLUSTER_SCRIPT, 'start', '--holder', String(process.pid)], { env: clusterEnv });
  const runIds = new Set<string>();
  let released = false;
  let conf = '';
  /** Cancels what our runs may have left in the queue, then lets go of the cluster (which stops it if we started it). */
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    if (conf && runIds.size) {
      const env = { ...process.env, SLURM_CONF: conf };
      const q = await run('squeue', ['--noheader', '--format=%i|%j'], { env });
      const ours = q.stdout.split('\n').map((l) => l.split('|')).filter(([id, name]) => id && runIds.has((name ?? '').trim().replace(/^ferry-/, ''))).map(([id]) => id!.trim());
      if (ours.length) await run('scancel', ours, { env });
    }
    await run('bash', [CLUSTER_SCRIPT, 'release', String(process.pid)], { env: clusterEnv });
  };
  ctx.finalizers.push(release);
  if (started.code !== 0) {
    await release();
    throw new Error(`the Slurm cluster did not start: ${started.stderr.slice(-2000)}`);
  }
  conf = /SLURM_CONF=(\S+)/.exec((await run('bash', [CLUSTER_SCRIPT, 'env'], { env: clusterEnv })).stdout)?.[1] ?? '';
  if (!conf) throw new Error('no SLURM_CONF from scripts/slurm-cluster.sh env');
  const confText = await fs.readFile(conf, 'utf8');
  const logOf = (key: string): string | null => new RegExp(String.raw`^\s*${key}\s*=\s*(\S+)`, 'im').exec(confText)?.[1] ?? null;
  const ctldLog = logOf('SlurmctldLogFile');
  const slurmdLog = logOf('SlurmdLogFile');
  // Only what the logs say from now on: job ids start again at 1 when the cluster's state is wiped.
  const logSize = async (file: string | null): Promise<number> => (file ? (await fs.stat(file).catch(() => null))?.size ?? 0 : 0);
  const logTail = async (file: string | null, from: number): Promise<string> => (file ? ((await fs.readFile(file).catch(() => null))?.subarray(from).toString('utf8') ?? '') : '');
  const ctldFrom = await logSize(ctldLog);
  const slurmdFrom = await logSize(slurmdLog);

  const servers: Server[] = [];
  try {
    log('slurm: starting Ferry: local, Slurm polled every 0.5 s, Slurm polled every 2 s');
    const env = { SLURM_CONF: conf };
    const start = async (label: string, name: string, extra: string[], slurm: boolean): Promise<void> => {
      servers.push({ label, slurm, ferry: await startFerry(ctx, name, path.join(ctx.tmpRoot, name), extra, env) });
    };
    await start('local', 'slurm-local', [], false);
    await start('Slurm 0.5 s', 'slurm-poll-0.5', ['--executor', 'slurm', '--slurm-poll-seconds', '0.5'], true);
    await start('Slurm 2 s', 'slurm-poll-2', ['--executor', 'slurm'], true);
    const tool = fixture('scripts/bench/fixtures/tool-start/tool-start.cwl');
    const fields = { workflow_type: 'CWL', workflow_type_version: 'v1.0', workflow_url: 'tool-start.cwl', workflow_params: '{}', workflow_engine: 'cwltool' };

    const once = async (s: Server): Promise<Sample> => {
      const f = s.ferry;
      const post = Date.now();
      const t0 = process.hrtime.bigint();
      const runId = await submit(f, fields, [{ name: 'tool-start.cwl', file: tool }]);
      runIds.add(runId);
      const { running } = await follow(f, runId);
      const completeMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const rl = await getJson<{ outputs: Record<string, { location: string }>; run_log: { start_time?: string }; request: { tags?: Record<string, string> } }>(`${f.base}/runs/${runId}`);
      const out = rl.outputs.started;
      if (!out) throw new Error(`run ${runId}: no output 'started': ${JSON.stringify(rl.outputs)}`);
      const toolAt = Number((await fs.readFile(localOutput(f, runId, out.location), 'utf8')).trim()) * 1000;
      const runDir = path.join(f.workDir, runId);
      const stdout = await fs.stat(path.join(runDir, 'stdout'));
      const script = s.slurm ? (await fs.stat(path.join(runDir, 'slurm-job.sh'))).mtimeMs : null;
      const scriptEnd = s.slurm ? (await fs.stat(path.join(runDir, 'slurm-job.exit'))).mtimeMs : null;
      return {
        server: s.label, runId, post, completeMs, running, engine: stdout.birthtimeMs, tool: toolAt, engineEnd: stdout.mtimeMs, startTime: rl.run_log.start_time ?? null,
        script, scriptEnd, jobId: rl.request.tags?.slurm_job_id ?? null, submitted: null, allocated: null, launched: null, stepDone: null, jobDone: null,
      };
    };

    for (const s of servers) {
      const w = await once(s); // warm-up, not counted: cold caches, the first squeue, the first job on the node
      log(`slurm: warm-up ${s.label}: tool started ${fmt(w.tool - w.post)} ms after POST, COMPLETE after ${fmt(w.completeMs)} ms`);
    }
    const samples: Sample[] = [];
    for (let k = 0; k < ctx.opts.engineRuns; k++) {
      // Interleaved, in a rotating order: no server always runs right after another.
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + k) % servers.length]!;
        const x = await once(s);
        samples.push(x);
        log(`slurm: ${s.label} #${k + 1}: tool started ${fmt(x.tool - x.post)} ms after POST, COMPLETE after ${fmt(x.completeMs)} ms`);
      }
    }

    // The daemons' own word on each job, to the millisecond.
    const ctldText = await logTail(ctldLog, ctldFrom);
    const slurmdText = await logTail(slurmdLog, slurmdFrom);
    for (const x of samples) {
      if (x.jobId === null) continue;
      const id = x.jobId;
      x.submitted = firstTime(ctldText, new RegExp(`${TS} _slurm_rpc_submit_batch_job: JobId=${id} `, 'm'));
      // The main scheduler allocates ("sched: Allocate"), or the backfill one starts the job.
      x.allocated = firstTime(ctldText, new RegExp(`${TS} (?:sched: Allocate|sched/backfill: _start_job: Started) JobId=${id} `, 'm'));
      x.jobDone = firstTime(ctldText, new RegExp(`${TS} _job_complete: JobId=${id} `, 'm'));
      x.launched = firstTime(slurmdText, new RegExp(`${TS} Launching batch job ${id} `, 'm'));
      x.stepDone = firstTime(slurmdText, new RegExp(String.raw`${TS} \[${id}\.batch\] done with job`, 'm'));
    }
    ctx.raw.slurm = samples;

    const of = (label: string): Sample[] => samples.filter((x) => x.server === label);
    const local = of('local');
    const toolMs = (xs: Sample[]): number => median(xs.map((x) => x.tool - x.post));
    const completeMs = (xs: Sample[]): number => median(xs.map((x) => x.completeMs));
    const n = ctx.opts.engineRuns;
    const INFO = 'informative';
    for (const label of ['Slurm 0.5 s', 'Slurm 2 s']) {
      const xs = of(label);
      const poll = label === 'Slurm 0.5 s' ? 'poll 0.5 s' : 'poll 2 s, the default';
      const tS = toolMs(xs);
      const tL = toolMs(local);
      ctx.rows.push({ metric: `slurm: submission → tool start, Slurm (${poll}) vs local, median of ${n}`, ferry: tS, baseline: tL, unit: 'ms', digits: 0, target: INFO });
      ctx.rows.push({ metric: `slurm: submission → tool start, time Slurm (${poll}) adds`, ferry: tS - tL, unit: 'ms', digits: 0, target: INFO });
      const cS = completeMs(xs);
      const cL = completeMs(local);
      ctx.rows.push({ metric: `slurm: POST → COMPLETE, Slurm (${poll}) vs local, median of ${n}`, ferry: cS, baseline: cL, unit: 'ms', digits: 0, target: INFO });
      ctx.rows.push({ metric: `slurm: POST → COMPLETE, time Slurm (${poll}) adds`, ferry: cS - cL, unit: 'ms', digits: 0, target: INFO });
    }

    // Where the time goes: medians of each step (they need not add up to the median of the whole).
    const sl = of('Slurm 0.5 s');
    const sl2 = of('Slurm 2 s');
    const done = (x: Sample): number => x.post + x.completeMs;
    // The controller logs the allocation inside the submission's RPC when it schedules at once.
    const ctl = (x: Sample): number | null => (x.submitted === null ? x.allocated : x.allocated === null ? x.submitted : Math.min(x.submitted, x.allocated));
    const waits = [...sl, ...sl2].flatMap((x) => (x.allocated !== null && x.submitted !== null ? [x.allocated - x.submitted] : []));
    ctx.notes.push(
      `slurm: the run is fixtures/tool-start (cwltool, one \`date +%s.%N\`), the same on every server; times from POST sent; medians of ${n} interleaved rounds after one warm-up each; ` +
        `the client polls the status every ${CLIENT_POLL_MS} ms; Slurm: a one-node cluster on this machine (scripts/slurm-cluster.sh, batch_sched_delay=0), the engine in the same sandbox as locally; ` +
        `steps from the run folder (slurm-job.sh written just before sbatch, the engine's stdout created as it starts and last written as it ends, slurm-job.exit) and the daemons' logs (ms time stamps); each step is a median of its own`,
    );
    ctx.notes.push(
      `slurm: local: POST → engine process started ${fmt(seg(local, (x) => x.post, (x) => x.engine))} ms; → tool start ${fmt(seg(local, (x) => x.engine, (x) => x.tool))} ms (cwltool's start-up); ` +
        `tool start → engine's last output ${fmt(seg(local, (x) => x.tool, (x) => x.engineEnd))} ms; → COMPLETE seen ${fmt(seg(local, (x) => x.engineEnd, done))} ms`,
    );
    ctx.notes.push(
      `slurm: Slurm, poll 0.5 s, to the tool's start: POST → sbatch called ${fmt(seg(sl, (x) => x.post, (x) => x.script))} ms; ` +
        `→ the controller has the job ${fmt(seg(sl, (x) => x.script, ctl))} ms (sbatch: start-up, munge, RPC); ` +
        `→ allocated ${fmt(seg(sl, ctl, (x) => x.allocated))} ms (scheduling; submitted → allocated ${fmt(Math.min(...waits))}–${fmt(Math.max(...waits))} ms over both Slurm servers); ` +
        `→ slurmd launches it ${fmt(seg(sl, (x) => x.allocated, (x) => x.launched))} ms; → the job's process started ${fmt(seg(sl, (x) => x.launched, (x) => x.engine))} ms (slurmstepd); ` +
        `→ tool start ${fmt(seg(sl, (x) => x.engine, (x) => x.tool))} ms (cwltool's start-up); ` +
        `and the job's start → RUNNING shown ${fmt(seg(sl, (x) => x.engine, (x) => x.running))} ms (Ferry's queue poll, + the client's ${CLIENT_POLL_MS} ms)`,
    );
    ctx.notes.push(
      `slurm: Slurm, poll 0.5 s, after the tool's start: → engine's last output ${fmt(seg(sl, (x) => x.tool, (x) => x.engineEnd))} ms; ` +
        `→ the job's script done ${fmt(seg(sl, (x) => x.engineEnd, (x) => x.scriptEnd))} ms; → slurmstepd done ${fmt(seg(sl, (x) => x.scriptEnd, (x) => x.stepDone))} ms (with proctrack/pgid it waits 1 s, then 2 s more, while a process of the job's group is left, a zombie too); ` +
        `→ the controller has the job's end ${fmt(seg(sl, (x) => x.stepDone, (x) => x.jobDone))} ms; → COMPLETE seen ${fmt(seg(sl, (x) => x.jobDone, done))} ms (Ferry's queue poll, then its own finish)`,
    );
    ctx.notes.push(
      `slurm: Slurm, poll 2 s: POST → the job's process started ${fmt(seg(sl2, (x) => x.post, (x) => x.engine))} ms (0.5 s: ${fmt(seg(sl, (x) => x.post, (x) => x.engine))} ms; the poll is not on this path); ` +
        `the job's start → RUNNING shown ${fmt(seg(sl2, (x) => x.engine, (x) => x.running))} ms; the controller has the job's end → COMPLETE seen ${fmt(seg(sl2, (x) => x.jobDone, done))} ms ` +
        `(0.5 s: ${fmt(seg(sl, (x) => x.jobDone, done))} ms)`,
    );
  } finally {
    for (const s of servers) await stopFerry(ctx, s.ferry);
    await release();
  }
}
