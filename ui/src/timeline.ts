/** A timeline picture of a run's tasks: one bar a task, from its start to its end (or to now while it runs). */
import type { TaskLog } from './api.js';
import { h, s, seconds, showTime } from './dom.js';

const WIDTH = 900;
const LABEL = 200;
const ROW = 22;
const AXIS = 24;
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];

/**
 * An SVG of the tasks that have started, or a note that none has; its time
 * axis spans the run (`run`'s start to its end, or now) and every task.
 */
export function timeline(tasks: TaskLog[], run: { start_time?: string; end_time?: string } = {}, now = Date.now()): Element {
  const timed = tasks
    .map((task) => ({ task, start: Date.parse(task.start_time ?? ''), end: task.end_time ? Date.parse(task.end_time) : NaN }))
    .filter((t) => Number.isFinite(t.start))
    .sort((a, b) => a.start - b.start);
  if (timed.length === 0) return h('p', { class: 'muted' }, tasks.length ? 'No task has started yet.' : 'No tasks yet.');
  const runStart = Date.parse(run.start_time ?? '');
  const runEnd = run.end_time ? Date.parse(run.end_time) : now;
  const first = Math.min(timed[0]!.start, Number.isFinite(runStart) ? runStart : Infinity);
  const last = Math.max(...timed.map((t) => (Number.isFinite(t.end) ? t.end : now)), Number.isFinite(runEnd) ? runEnd : 0, first + 1000);
  const span = (last - first) / 1000;
  const step = STEPS.find((st) => span / st <= 8) ?? Math.ceil(span / 8);
  const scale = (WIDTH - LABEL - 10) / span;
  const x = (ms: number): number => LABEL + ((ms - first) / 1000) * scale;
  const height = AXIS + timed.length * ROW + 4;

  const ticks = [];
  for (let t = 0; t <= span + 1e-9; t += step) {
    const at = LABEL + t * scale;
    ticks.push(s('line', { x1: at, x2: at, y1: AXIS - 4, y2: height, class: 'grid' }), s('text', { x: at, y: AXIS - 8, class: 'tick', 'text-anchor': 'middle' }, seconds(t)));
  }
  const rows = timed.map(({ task, start, end }, i) => {
    const y = AXIS + i * ROW;
    const running = !Number.isFinite(end);
    const failed = !running && task.exit_code !== undefined && task.exit_code !== 0;
    const x1 = x(start);
    const w = Math.max(2, x(running ? now : end) - x1);
    const name = task.name || task.id;
    const tip = `${name}\nstarted ${showTime(task.start_time)}\n${running ? 'running' : `ended ${showTime(task.end_time)}`} (${seconds(Math.round(((running ? now : end) - start) / 1000))})${task.exit_code === undefined ? '' : `\nexit code ${task.exit_code}`}`;
    return s(
      'g',
      { class: `task${running ? ' running' : failed ? ' failed' : ''}`, 'data-task-id': task.id },
      s('title', {}, tip),
      s('text', { x: LABEL - 8, y: y + ROW / 2 + 4, class: 'label', 'text-anchor': 'end' }, name.length > 28 ? `${name.slice(0, 27)}…` : name),
      s('rect', { x: x1, y: y + 3, width: w, height: ROW - 6, rx: 3, class: 'bar' }),
    );
  });
  return s('svg', { class: 'timeline', viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img', 'aria-label': `Timeline of ${timed.length} task(s)` }, ticks, rows);
}
