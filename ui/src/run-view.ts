/**
 * One run: its state, times, command and system logs, a timeline of its
 * tasks, its outputs to download, the engine's stdout and stderr followed
 * while it runs, and the buttons to cancel and delete it.
 */
import { api, FINAL_STATES, hasCredentials, problem, saveBlob, type RunLog, type RunOutputFile, type TaskLog } from './api.js';
import { every, fill, h, showBytes, showDuration, showTime } from './dom.js';
import { LogTail, type Stream } from './log-tail.js';
import { stateBadge } from './states.js';
import { timeline } from './timeline.js';

const REFRESH_MS = 2000;
const LOG_MS = 1000;
/** Pages of tasks or outputs read at most (of 1000 each). */
const MOST_PAGES = 10;

export function runView(main: HTMLElement, runId: string): () => void {
  const path = { run_id: runId };
  const badge = h('span', { id: 'run-state' });
  const error = h('p', { class: 'error', role: 'alert', id: 'run-error' });
  const cancel = h('button', { type: 'button', id: 'cancel', disabled: true }, 'Cancel run');
  const remove = h('button', { type: 'button', id: 'delete', class: 'danger', disabled: true }, 'Delete run');
  const facts = h('dl', { class: 'facts' });
  const command = h('pre', { class: 'cmd', id: 'run-cmd' });
  const systemLogs = h('pre', { class: 'syslog', id: 'run-system-logs' });
  const tasks = h('div', { class: 'timeline-box', id: 'run-timeline' });
  const outputs = h('div', { id: 'run-outputs' }, h('p', { class: 'muted' }, 'Outputs appear when the run has finished.'));
  const request = h('pre', { class: 'json', id: 'run-request' });

  const tails: Record<Stream, LogTail> = { stderr: new LogTail(runId, 'stderr'), stdout: new LogTail(runId, 'stdout') };
  let shown: Stream = 'stderr';
  const tabs = (['stderr', 'stdout'] as const).map((stream) =>
    h('button', { type: 'button', role: 'tab', id: `tab-${stream}`, 'aria-selected': String(stream === shown) }, stream === 'stderr' ? 'Engine log (stderr)' : 'Engine output (stdout)'),
  );
  const logBox = h('div', { class: 'log-box' }, tails.stderr.pre);
  tabs.forEach((tab, i) =>
    tab.addEventListener('click', () => {
      shown = i === 0 ? 'stderr' : 'stdout';
      tabs.forEach((t, j) => t.setAttribute('aria-selected', String(j === i)));
      fill(logBox, tails[shown].pre);
      void tails[shown].poll();
    }),
  );

  let runLog: RunLog | undefined;
  let final = false;
  let gone = false;
  let outputsRead = false;

  const renderLog = (log: RunLog): void => {
    const req = log.request;
    const rl = log.run_log ?? {};
    fill(badge, stateBadge(log.state));
    const row = (name: string, ...value: (Node | string)[]): HTMLElement[] => [h('dt', {}, name), h('dd', {}, ...value)];
    fill(
      facts,
      row('Workflow', req ? `${req.workflow_type} ${req.workflow_type_version}: ${req.workflow_url}` : ''),
      req?.workflow_engine ? row('Engine', `${req.workflow_engine}${req.workflow_engine_version ? ` ${req.workflow_engine_version}` : ''}`) : [],
      row('Started (UTC)', showTime(rl.start_time) || '—'),
      row('Ended (UTC)', showTime(rl.end_time) || '—'),
      row('Took', showDuration(rl.start_time, rl.end_time) || '—'),
      rl.exit_code === undefined || rl.exit_code === null ? [] : row('Exit code', String(rl.exit_code)),
      row('Tags', ...(Object.keys(req?.tags ?? {}).length ? Object.entries(req?.tags ?? {}).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`)) : ['—'])),
    );
    command.textContent = rl.cmd?.length ? rl.cmd.map(quote).join(' ') : '(not started yet)';
    systemLogs.textContent = rl.system_logs?.length ? rl.system_logs.join('\n') : '(none)';
    request.textContent = JSON.stringify({ workflow_params: req?.workflow_params ?? {}, workflow_engine_parameters: req?.workflow_engine_parameters }, null, 2);
    const state = log.state ?? 'UNKNOWN';
    cancel.disabled = FINAL_STATES.has(state) || state === 'CANCELING';
    remove.disabled = !FINAL_STATES.has(state);
  };

  const loadTasks = async (): Promise<void> => {
    const all: TaskLog[] = [];
    let token = '';
    for (let page = 0; page < MOST_PAGES; page++) {
      const result = await api().GET('/ga4gh/wes/v1/runs/{run_id}/tasks', { params: { path, query: { page_size: 1000, ...(token ? { page_token: token } : {}) } } });
      if (!result.data) return;
      all.push(...(result.data.task_logs ?? []));
      token = result.data.next_page_token ?? '';
      if (!token) break;
    }
    fill(tasks, timeline(all, runLog?.run_log));
  };

  const loadOutputs = async (): Promise<void> => {
    const files: RunOutputFile[] = [];
    let token = '';
    for (let page = 0; page < MOST_PAGES; page++) {
      const result = await api().GET('/ga4gh/wes/v1/runs/{run_id}/outputs', { params: { path, query: { page_size: 1000, ...(token ? { page_token: token } : {}) } } });
      if (result.response.status === 404) break;
      if (!result.data) return;
      files.push(...result.data.outputs);
      token = result.data.next_page_token;
      if (!token) break;
    }
    outputsRead = true;
    const object = runLog?.outputs && Object.keys(runLog.outputs).length ? h('details', {}, h('summary', {}, 'Output object'), h('pre', { class: 'json' }, JSON.stringify(runLog.outputs, null, 2))) : null;
    if (files.length === 0) {
      fill(outputs, h('p', { class: 'muted' }, 'No output files.'), object);
      return;
    }
    const zip = h('button', { type: 'button', id: 'download-zip' }, 'Download all (.zip)');
    zip.addEventListener('click', () => void downloadZip());
    fill(
      outputs,
      h('table', { class: 'outputs' }, h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Size'))), h('tbody', {}, files.map(outputRow))),
      h('p', {}, zip),
      object,
    );
  };

  const outputRow = (file: RunOutputFile): HTMLTableRowElement => {
    const name = file.path.split('/').pop() ?? file.path;
    // A plain link when no credentials are needed; with them, fetched through the client (a link cannot send a header).
    const link = h('a', { href: file.location, download: name, class: 'download', 'data-path': file.path }, file.path);
    link.addEventListener('click', (event) => {
      if (!hasCredentials()) return;
      event.preventDefault();
      void (async () => {
        const result = await api().GET('/ga4gh/wes/v1/runs/{run_id}/outputs/{path}', { params: { path: { run_id: runId, path: file.path } }, parseAs: 'blob' });
        // An empty file comes with no data (Content-Length: 0): still a file to save.
        if (result.data instanceof Blob) saveBlob(result.data, name);
        else if (result.response.ok) saveBlob(new Blob([]), name);
        else error.textContent = `Download failed: ${problem(result)}`;
      })();
    });
    return h('tr', {}, h('td', {}, link), h('td', { class: 'num' }, showBytes(file.size)));
  };

  const downloadZip = async (): Promise<void> => {
    const result = await api().GET('/ga4gh/wes/v1/runs/{run_id}/outputs.zip', { params: { path }, parseAs: 'blob' });
    if (result.data instanceof Blob) saveBlob(result.data, `${runId}-outputs.zip`);
    else error.textContent = `Download failed: ${problem(result)}`;
  };

  const refresh = async (): Promise<boolean> => {
    const result = await api().GET('/ga4gh/wes/v1/runs/{run_id}', { params: { path } });
    if (!result.data) {
      gone = result.response.status === 404;
      error.textContent = gone ? `No run ${runId} (it may have been deleted).` : problem(result);
      return !gone;
    }
    error.textContent = '';
    runLog = result.data;
    renderLog(runLog);
    final = FINAL_STATES.has(runLog.state ?? 'UNKNOWN');
    await loadTasks();
    if (final && !outputsRead) await loadOutputs();
    // A finished run changes no more.
    return !final;
  };

  cancel.addEventListener('click', () =>
    void (async () => {
      cancel.disabled = true;
      const result = await api().POST('/ga4gh/wes/v1/runs/{run_id}/cancel', { params: { path } });
      if (!result.data) error.textContent = `Cancel failed: ${problem(result)}`;
      await refresh();
    })(),
  );
  remove.addEventListener('click', () =>
    void (async () => {
      if (!confirm(`Delete run ${runId} and everything of it (outputs, logs)?`)) return;
      const result = await api().DELETE('/ga4gh/wes/v1/runs/{run_id}', { params: { path } });
      if (result.data) location.hash = '#/';
      else error.textContent = `Delete failed: ${problem(result)}`;
    })(),
  );

  fill(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Runs')),
    h('div', { class: 'heading' }, h('h1', { class: 'mono' }, runId), badge, h('span', { class: 'spacer' }), cancel, remove),
    error,
    facts,
    h('section', {}, h('h2', {}, 'Command'), command),
    h('section', {}, h('h2', {}, 'System logs'), systemLogs),
    h('section', {}, h('h2', {}, 'Tasks'), tasks),
    h('section', {}, h('h2', {}, 'Outputs'), outputs),
    h('section', {}, h('h2', {}, 'Logs'), h('div', { class: 'tabs', role: 'tablist' }, tabs), logBox),
    h('section', {}, h('details', {}, h('summary', {}, 'Parameters'), request)),
  );

  const stopRun = every(REFRESH_MS, refresh);
  // The logs go on until the run has ended and nothing more came.
  const stopLogs = every(LOG_MS, async () => {
    if (gone) return false;
    const wasFinal = final;
    const grew = await tails[shown].poll();
    return !(wasFinal && !grew);
  });
  return () => {
    stopRun();
    stopLogs();
  };
}

/** A command word as a shell would need it. */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
