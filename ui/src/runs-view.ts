/** The runs table: paged, filtered by state and tag, refreshed every two seconds. */
import { api, problem, type RunState, type Schemas } from './api.js';
import { every, fill, h, showDuration, showTime } from './dom.js';
import { ACTIVE_STATES, STATES, stateBadge } from './states.js';

type Listed = Schemas['RunStatus'] | Schemas['RunSummary'];

const PAGE_SIZES = [10, 25, 50, 100];
const REFRESH_MS = 2000;

/** The filters, as they stand in the page's address (`#/?state=RUNNING&tag_key=…`). */
interface Filters {
  state: string;
  tagKey: string;
  tagValue: string;
  pageSize: number;
}

function readFilters(query: URLSearchParams): Filters {
  const size = Number(query.get('page_size'));
  return {
    state: query.get('state') ?? '',
    tagKey: query.get('tag_key') ?? '',
    tagValue: query.get('tag_value') ?? '',
    // Any size the API takes may be put in the address; the menu offers a few.
    pageSize: Number.isInteger(size) && size >= 1 && size <= 1000 ? size : 25,
  };
}

function filterHash(f: Filters): string {
  const q = new URLSearchParams();
  if (f.state) q.set('state', f.state);
  if (f.tagKey) q.set('tag_key', f.tagKey);
  if (f.tagKey && f.tagValue) q.set('tag_value', f.tagValue);
  if (f.pageSize !== 25) q.set('page_size', String(f.pageSize));
  const s = q.toString();
  return s ? `#/?${s}` : '#/';
}

/** The states a filter value stands for: one state, `active`, or none (every run). */
function statesOf(filter: string): RunState[] | undefined {
  if (filter === 'active') return ACTIVE_STATES;
  return STATES.includes(filter as RunState) ? [filter as RunState] : undefined;
}

export function runsView(main: HTMLElement, query: URLSearchParams): () => void {
  const filters = readFilters(query);
  /** Tokens of the pages before and of this one ('' is the first page). */
  const tokens: string[] = [''];
  let nextToken = '';

  const stateSelect = h(
    'select',
    { name: 'state', id: 'filter-state' },
    h('option', { value: '' }, 'any state'),
    h('option', { value: 'active' }, 'active'),
    STATES.map((st) => h('option', { value: st }, st)),
  );
  stateSelect.value = filters.state;
  const tagKey = h('input', { name: 'tag_key', id: 'filter-tag-key', placeholder: 'key', value: filters.tagKey, size: 12 });
  const tagValue = h('input', { name: 'tag_value', id: 'filter-tag-value', placeholder: 'value (optional)', value: filters.tagValue, size: 14 });
  const sizes = PAGE_SIZES.includes(filters.pageSize) ? PAGE_SIZES : [...PAGE_SIZES, filters.pageSize].sort((a, b) => a - b);
  const pageSize = h('select', { name: 'page_size', id: 'filter-page-size' }, sizes.map((n) => h('option', { value: n }, `${n} a page`)));
  pageSize.value = String(filters.pageSize);

  const apply = (event?: Event): void => {
    event?.preventDefault();
    location.hash = filterHash({ state: stateSelect.value, tagKey: tagKey.value.trim(), tagValue: tagValue.value, pageSize: Number(pageSize.value) });
  };
  stateSelect.addEventListener('change', () => apply());
  pageSize.addEventListener('change', () => apply());
  const form = h(
    'form',
    { class: 'filters', onsubmit: apply },
    h('label', { for: 'filter-state' }, 'State'),
    stateSelect,
    h('label', { for: 'filter-tag-key' }, 'Tag'),
    tagKey,
    h('span', {}, '='),
    tagValue,
    h('button', { type: 'submit' }, 'Filter'),
    filters.state || filters.tagKey ? h('a', { href: '#/', class: 'clear' }, 'clear') : null,
    pageSize,
  );

  const body = h('tbody', {});
  const table = h(
    'table',
    { class: 'runs', id: 'runs' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'State'), h('th', {}, 'Started (UTC)'), h('th', {}, 'Ended (UTC)'), h('th', {}, 'Took'), h('th', {}, 'Tags'))),
    body,
  );
  const status = h('p', { class: 'muted live', id: 'runs-status' });
  const prev = h('button', { type: 'button', id: 'page-prev' }, '← Newer');
  const next = h('button', { type: 'button', id: 'page-next' }, 'Older →');
  const pageNo = h('span', { class: 'muted' });
  const error = h('p', { class: 'error', role: 'alert' });

  const row = (run: Listed): HTMLTableRowElement => {
    const start = 'start_time' in run ? run.start_time : undefined;
    const end = 'end_time' in run ? run.end_time : undefined;
    const tags = 'tags' in run ? run.tags : {};
    const id = run.run_id ?? '';
    return h(
      'tr',
      { 'data-run-id': id },
      h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(id)}`, class: 'mono' }, id)),
      h('td', {}, stateBadge(run.state)),
      h('td', {}, showTime(start)),
      h('td', {}, showTime(end)),
      h('td', {}, showDuration(start, end)),
      h('td', { class: 'tags' }, Object.entries(tags).map(([k, v]) => h('span', { class: 'tag', title: `${k}=${v}` }, `${k}=${v}`))),
    );
  };

  const load = async (): Promise<void> => {
    const token = tokens[tokens.length - 1] ?? '';
    const states = statesOf(filters.state);
    const result = await api().GET('/ga4gh/wes/v1/runs', {
      params: {
        query: {
          page_size: filters.pageSize,
          ...(token ? { page_token: token } : {}),
          ...(states ? { state: states } : {}),
          ...(filters.tagKey ? { tag_key: filters.tagKey } : {}),
          ...(filters.tagKey && filters.tagValue ? { tag_value: filters.tagValue } : {}),
        },
      },
    });
    if (!result.data) {
      error.textContent = problem(result);
      return;
    }
    error.textContent = '';
    const runs = result.data.runs ?? [];
    nextToken = result.data.next_page_token ?? '';
    fill(body, runs.length ? runs.map(row) : h('tr', {}, h('td', { colspan: 6, class: 'muted empty' }, 'No runs.')));
    prev.disabled = tokens.length === 1;
    next.disabled = nextToken === '';
    pageNo.textContent = `page ${tokens.length}`;
    status.textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
  };

  let stop = every(REFRESH_MS, load);
  const turn = (change: () => void): void => {
    stop();
    change();
    // Until the page is read, its token for the next is not known.
    prev.disabled = next.disabled = true;
    stop = every(REFRESH_MS, load);
  };
  prev.addEventListener('click', () => turn(() => tokens.length > 1 && tokens.pop()));
  next.addEventListener('click', () => turn(() => nextToken && tokens.push(nextToken)));

  fill(main, h('div', { class: 'heading' }, h('h1', {}, 'Runs'), h('a', { class: 'button primary', href: '#/submit' }, 'Submit a run')), form, error, table, h('div', { class: 'pager' }, prev, pageNo, next), status);
  return () => stop();
}
