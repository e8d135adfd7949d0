/**
 * The commands that read or act on runs as they are: `status`, `log`,
 * `tasks`, `list`, `cancel` and `delete`. Each prints a short text for people,
 * or the server's JSON with --json.
 */
import type { components, RunState } from '../client/client.js';
import { stringifyExact } from '../util/exact-json.js';
import { allPages, answer, CliError, onePositional, parseCommand, printJson, runLog, session, tagPair, type CliIo, type Session } from './context.js';
import { allTasks } from './wait.js';

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** A command over one run: parses its flags, prints its usage on --help, runs `act`. */
function runCommand(usage: string, act: (s: Session, runId: string) => Promise<void>): Command {
  return async (argv, io) => {
    const { values, positionals } = parseCommand(argv, {});
    if (values.help) {
      io.stdout.write(`usage: ${usage}\n`);
      return 0;
    }
    const runId = onePositional(positionals, 'RUN', usage);
    await act(session(values, io), runId);
    return 0;
  };
}

const runPath = (runId: string) => ({ params: { path: { run_id: runId } } });

/** Aligned columns, for tables people read. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export const statusCommand = runCommand('ferry status RUN [--json]', async (s, runId) => {
  const status = await answer(s, s.client.GET('/ga4gh/wes/v1/runs/{run_id}/status', runPath(runId)));
  if (s.json) printJson(s, status);
  else s.io.stdout.write(`${status.state ?? 'UNKNOWN'}\n`);
});

export const logCommand = runCommand('ferry log RUN [--json]', async (s, runId) => {
  const log = await runLog(s, runId);
  if (s.json) return printJson(s, log);
  const r = log.request;
  const run = log.run_log;
  const lines: [string, string | undefined][] = [
    ['run', log.run_id],
    ['state', log.state],
    ['workflow', r ? `${r.workflow_type} ${r.workflow_type_version} ${r.workflow_url}` : undefined],
    ['engine', r?.workflow_engine ? `${r.workflow_engine}${r.workflow_engine_version ? ` ${r.workflow_engine_version}` : ''}` : undefined],
    ['tags', r?.tags && Object.keys(r.tags).length ? Object.entries(r.tags).map(([k, v]) => `${k}=${v}`).join(' ') : undefined],
    ['started', run?.start_time],
    ['ended', run?.end_time],
    ['exit code', run?.exit_code === undefined || run.exit_code === null ? undefined : String(run.exit_code)],
    ['command', run?.cmd?.join(' ')],
    ['stdout', run?.stdout],
    ['stderr', run?.stderr],
  ];
  let text = lines.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`).join('\n') + '\n';
  if (run?.system_logs?.length) text += `system logs:\n${run.system_logs.map((l) => `  ${l}`).join('\n')}\n`;
  if (log.outputs && Object.keys(log.outputs).length) text += `outputs:\n${stringifyExact(log.outputs, 2).replace(/^/gm, '  ')}\n`;
  s.io.stdout.write(text);
});

export const tasksCommand = runCommand('ferry tasks RUN [--json]', async (s, runId) => {
  const tasks = await allTasks(s, runId);
  if (s.json) return printJson(s, tasks);
  if (!tasks.length) return void s.io.stdout.write('no tasks\n');
  const state = (t: (typeof tasks)[number]) => (t.end_time || typeof t.exit_code === 'number' ? 'done' : t.start_time ? 'running' : 'waiting');
  const rows = tasks.map((t) => [t.id, t.name, state(t), typeof t.exit_code === 'number' ? String(t.exit_code) : '-', t.start_time ?? '-', t.end_time ?? '-']);
  s.io.stdout.write(table([['ID', 'NAME', 'STATE', 'EXIT', 'STARTED', 'ENDED'], ...rows]));
});

export const cancelCommand = runCommand('ferry cancel RUN [--json]', async (s, runId) => {
  const done = await answer(s, s.client.POST('/ga4gh/wes/v1/runs/{run_id}/cancel', runPath(runId)));
  if (s.json) printJson(s, done);
  else s.io.stdout.write(`${done.run_id ?? runId}\n`);
});

export const deleteCommand = runCommand('ferry delete RUN [--json]', async (s, runId) => {
  const done = await answer(s, s.client.DELETE('/ga4gh/wes/v1/runs/{run_id}', runPath(runId)));
  if (s.json) printJson(s, done);
  else s.io.stdout.write(`${done.run_id ?? runId}\n`);
});

const listUsage = 'ferry list [--state S]... [--tag K[=V]] [--asc] [--limit N] [--json]';


/** `ferry list`: the runs the caller may see, newest first, every page (or the first N). */
export const listCommand: Command = async (argv, io) => {
  const { values, positionals } = parseCommand(argv, { state: { type: 'string', multiple: true }, tag: { type: 'string' }, asc: { type: 'boolean', default: false }, limit: { type: 'string' } });
  if (values.help) {
    io.stdout.write(`usage: ${listUsage}\n`);
    return 0;
  }
  if (positionals.length) throw new CliError(`unexpected '${positionals[0]}' (usage: ${listUsage})`);
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit > 0) || !Number.isInteger(limit === Infinity ? 0 : limit)) throw new CliError(`--limit takes a whole number above 0, not '${values.limit}'`);
  const s = session(values, io);
  const [tagKey, tagValue] = values.tag === undefined ? [] : values.tag.includes('=') ? tagPair(values.tag) : [values.tag];
  const runs = await allPages(async (token, got) => {
    const query = {
      page_size: Math.min(limit - got, 1000),
      ...(values.state?.length ? { state: values.state.map((st) => st.toUpperCase() as RunState) } : {}),
      ...(tagKey !== undefined ? { tag_key: tagKey } : {}),
      ...(tagValue !== undefined ? { tag_value: tagValue } : {}),
      ...(values.asc ? { sort_order: 'asc' as const } : {}),
      ...(token ? { page_token: token } : {}),
    };
    const page = await answer(s, s.client.GET('/ga4gh/wes/v1/runs', { params: { query } }));
    return { items: page.runs ?? [], next_page_token: page.next_page_token };
  }, limit);
  if (s.json) printJson(s, runs.slice(0, limit));
  else if (!runs.length) io.stdout.write('no runs\n');
  else {
    const rows = runs.slice(0, limit).map((r) => {
      const sum = r as components['schemas']['RunSummary'];
      return [r.run_id ?? '', r.state ?? '', sum.start_time ?? '-', sum.end_time ?? '-', Object.entries(sum.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')];
    });
    io.stdout.write(table([['RUN', 'STATE', 'STARTED', 'ENDED', 'TAGS'], ...rows]));
  }
  return 0;
};
