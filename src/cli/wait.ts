/**
 * `ferry wait RUN`: follows a run until it ends, with a live progress line on
 * a terminal and one plain line per state change otherwise, and exits with a
 * code that tells the final state.
 */
import { FINAL_STATES, type components, type RunState } from '../client/client.js';
import { allPages, answer, onePositional, parseCommand, printJson, session, type CliIo, type Session } from './context.js';

/** The exit code of each final state (COMPLETE 0); anything else that goes wrong is 1. */
export const STATE_EXIT_CODES: Readonly<Record<string, number>> = { COMPLETE: 0, EXECUTOR_ERROR: 2, SYSTEM_ERROR: 3, CANCELED: 4, PREEMPTED: 5 };

/** The exit code for a run that ended in `state`. */
export function exitCodeOf(state: string): number {
  return STATE_EXIT_CODES[state] ?? 1;
}

type TaskLog = components['schemas']['TaskLog'];

/** Every task of a run, all pages. */
export async function allTasks(s: Session, runId: string): Promise<TaskLog[]> {
  return allPages(async (token) => {
    const query = { page_size: 1000, ...(token ? { page_token: token } : {}) };
    const page = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}/tasks', { params: { path: { run_id: runId }, query } }));
    return { items: page.task_logs ?? [], next_page_token: page.next_page_token };
  });
}

/** A task is done once it has an end time or an exit code, running once it has started. */
export function taskCounts(tasks: TaskLog[]): { done: number; running: number; total: number } {
  const done = tasks.filter((t) => t.end_time || (t.exit_code !== undefined && t.exit_code !== null)).length;
  const running = tasks.filter((t) => t.start_time && !t.end_time && (t.exit_code === undefined || t.exit_code === null)).length;
  return { done, running, total: tasks.length };
}

/** `1:02:03`, `2:03`, `0:05`. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export interface WaitOptions {
  /** Where progress goes (stdout for `wait`, stderr when stdout carries something else); none: silent. */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  /** How long between two polls of the run's status, in ms. */
  intervalMs?: number;
}

/**
 * Polls a run until it is in a final state, showing progress; returns that
 * state. On a terminal the progress line is rewritten in place every poll;
 * elsewhere a line is written only when the state changes.
 */
export async function waitForRun(s: Session, runId: string, options: WaitOptions = {}): Promise<RunState> {
  const out = options.progress;
  const live = out?.isTTY === true;
  const began = Date.now();
  let startedAt: number | undefined;
  let last: RunState | undefined;
  for (let poll = 0; ; poll++) {
    const status = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}/status', { params: { path: { run_id: runId } } }));
    const state = status.state ?? 'UNKNOWN';
    const changed = state !== last;
    last = state;
    if (out && (live || changed)) {
      if (changed && startedAt === undefined) {
        const log = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}', { params: { path: { run_id: runId } } }));
        const start = Date.parse(log.run_log?.start_time ?? '');
        if (!Number.isNaN(start)) startedAt = start;
      }
      const counts = taskCounts(await allTasks(s, runId));
      // A task a run's end cut short never ends: once the run has, none is called running.
      const running = FINAL_STATES.has(state) ? '' : `, ${counts.running} running`;
      const tasks = counts.total > 0 ? `  tasks ${counts.done}/${counts.total} done${running}` : '';
      const line = `${runId}  ${state.padEnd(14)}  ${clock(Date.now() - (startedAt ?? began))}${tasks}`;
      if (live) out.write(`\r\x1b[2K${line}${FINAL_STATES.has(state) ? '\n' : ''}`);
      else out.write(`${line}\n`);
    }
    if (FINAL_STATES.has(state)) return state;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? Math.min(2000, 250 * 2 ** poll)));
  }
}

export const waitUsage = 'ferry wait RUN [--json]';

/** `ferry wait RUN`: exits 0 for COMPLETE, else the code of the final state (see STATE_EXIT_CODES). */
export async function waitCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, {});
  if (values.help) {
    io.stdout.write(`usage: ${waitUsage}\n${exitCodesHelp}\n`);
    return 0;
  }
  const runId = onePositional(positionals, 'RUN', waitUsage);
  const s = session(values, io);
  const state = await waitForRun(s, runId, s.json ? {} : { progress: io.stdout });
  if (s.json) printJson(s, { run_id: runId, state });
  return exitCodeOf(state);
}

export const exitCodesHelp = `exit codes: 0 COMPLETE, 2 EXECUTOR_ERROR, 3 SYSTEM_ERROR, 4 CANCELED, 5 PREEMPTED, 1 any other error`;
