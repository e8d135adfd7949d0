/** The submit form: the workflow, its attachments, its parameters and tags, sent as RunWorkflow's multipart form. */
import { api, problem, type ServiceInfo } from './api.js';
import { fill, h } from './dom.js';

/** A JSON object typed in a textarea (empty: none). */
function jsonObject(text: string, what: string): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} are not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}

/** Tags as a JSON object of strings, or `key=value` lines. */
function tagsOf(text: string): Record<string, string> | undefined {
  if (!text.trim()) return undefined;
  if (text.trim().startsWith('{')) {
    const obj = jsonObject(text, 'The tags')!;
    for (const [k, v] of Object.entries(obj)) if (typeof v !== 'string') throw new Error(`Tag '${k}' must be a string.`);
    return obj as Record<string, string>;
  }
  const tags: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`Tag line '${line}' is not key=value.`);
    tags[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return tags;
}

/** A file as attached: a chosen file by its name; a file of a chosen folder by its path inside that folder. */
interface Attachment {
  name: string;
  file: File;
}

function attachmentsOf(files: HTMLInputElement, folder: HTMLInputElement): Attachment[] {
  const loose = [...(files.files ?? [])].map((file) => ({ name: file.name, file }));
  // `webkitRelativePath` starts with the chosen folder's own name: the run sees what is inside it.
  const inFolder = [...(folder.files ?? [])].map((file) => ({ name: file.webkitRelativePath.split('/').slice(1).join('/') || file.name, file }));
  return [...loose, ...inFolder];
}

/** The attachment most likely the workflow: a CWL, WDL or Python file at the top (`main.*` first), else the first. */
function likelyWorkflow(attachments: Attachment[]): string | undefined {
  const names = attachments.map((a) => a.name).sort((a, b) => a.split('/').length - b.split('/').length || Number(!/^main\./.test(a)) - Number(!/^main\./.test(b)));
  return names.find((n) => /\.(cwl|wdl|py)$/i.test(n)) ?? names[0];
}

export function submitView(main: HTMLElement): () => void {
  // Filled from service-info (the types and versions this server runs).
  const type = h('select', { id: 'workflow_type', name: 'workflow_type', required: true }, h('option', { value: '' }, 'loading…'));
  const version = h('select', { id: 'workflow_type_version', name: 'workflow_type_version', required: true });
  const engine = h('select', { id: 'workflow_engine', name: 'workflow_engine' }, h('option', { value: '' }, '(the default)'));
  const url = h('input', { id: 'workflow_url', name: 'workflow_url', required: true, placeholder: 'echo.cwl, or https://…', size: 48 });
  const files = h('input', { id: 'workflow_attachment', name: 'workflow_attachment', type: 'file', multiple: true });
  const folder = h('input', { id: 'workflow_folder', type: 'file', webkitdirectory: true, multiple: true });
  const params = h('textarea', { id: 'workflow_params', name: 'workflow_params', rows: 6, placeholder: '{"message": "hello"}', spellcheck: false });
  const tags = h('textarea', { id: 'tags', name: 'tags', rows: 3, placeholder: 'project=demo\n(or a JSON object)', spellcheck: false });
  const engineParams = h('textarea', { id: 'workflow_engine_parameters', name: 'workflow_engine_parameters', rows: 2, placeholder: '{"--parallel": ""}', spellcheck: false });
  const error = h('p', { class: 'error', role: 'alert', id: 'submit-error' });
  const send = h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit run');

  let info: ServiceInfo | undefined;
  const versionsFor = (): void => {
    const known = info?.workflow_type_versions?.[type.value]?.workflow_type_version ?? [];
    fill(version, known.map((v) => h('option', { value: v }, v)));
    // The newest version offered (they are listed oldest first).
    version.value = known[known.length - 1] ?? '';
  };
  type.addEventListener('change', versionsFor);
  const chosen = (): void => {
    if (!url.value.trim()) url.value = likelyWorkflow(attachmentsOf(files, folder)) ?? '';
    if (!type.value || /\.wdl$/i.test(url.value)) {
      const guess = /\.wdl$/i.test(url.value) ? 'WDL' : /\.py$/i.test(url.value) ? 'PY' : 'CWL';
      if ([...type.options].some((o) => o.value === guess)) {
        type.value = guess;
        versionsFor();
      }
    }
  };
  files.addEventListener('change', chosen);
  folder.addEventListener('change', chosen);

  const form = h(
    'form',
    { class: 'submit', id: 'submit-form' },
    h('div', { class: 'field' }, h('label', { for: 'workflow_attachment' }, 'Attachments'), files, h('small', {}, 'The workflow and the files it needs; sent with the run.')),
    h('div', { class: 'field' }, h('label', { for: 'workflow_folder' }, 'or a folder'), folder, h('small', {}, 'Everything in it, sub-folders kept (tools/step.cwl).')),
    h('div', { class: 'field' }, h('label', { for: 'workflow_url' }, 'Workflow'), url, h('small', {}, 'An attachment\'s name, or a URL the server may read.')),
    h('div', { class: 'row' }, h('div', { class: 'field' }, h('label', { for: 'workflow_type' }, 'Type'), type), h('div', { class: 'field' }, h('label', { for: 'workflow_type_version' }, 'Version'), version), h('div', { class: 'field' }, h('label', { for: 'workflow_engine' }, 'Engine'), engine)),
    h('div', { class: 'field' }, h('label', { for: 'workflow_params' }, 'Parameters (JSON)'), params),
    h('div', { class: 'field' }, h('label', { for: 'tags' }, 'Tags'), tags),
    h('details', {}, h('summary', {}, 'Engine parameters'), h('div', { class: 'field' }, h('label', { for: 'workflow_engine_parameters' }, 'Engine parameters (JSON)'), engineParams)),
    error,
    send,
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      error.textContent = '';
      const body = new FormData();
      try {
        body.set('workflow_type', type.value);
        body.set('workflow_type_version', version.value);
        body.set('workflow_url', url.value.trim());
        body.set('workflow_params', JSON.stringify(jsonObject(params.value, 'The parameters') ?? {}));
        const t = tagsOf(tags.value);
        if (t) body.set('tags', JSON.stringify(t));
        const ep = jsonObject(engineParams.value, 'The engine parameters');
        if (ep) body.set('workflow_engine_parameters', JSON.stringify(ep));
        if (engine.value) body.set('workflow_engine', engine.value);
      } catch (err) {
        error.textContent = (err as Error).message;
        return;
      }
      for (const { name, file } of attachmentsOf(files, folder)) body.append('workflow_attachment', file, name);
      send.disabled = true;
      try {
        // The form goes as the browser encodes it (multipart, with its boundary).
        const result = await api().POST('/ga4gh/wes/v1/runs', { body: body as never, bodySerializer: (b) => b as FormData });
        if (result.data?.run_id) location.hash = `#/runs/${encodeURIComponent(result.data.run_id)}`;
        else error.textContent = `Not submitted: ${problem(result)}`;
      } catch (err) {
        error.textContent = `Not submitted: ${(err as Error).message}`;
      } finally {
        send.disabled = false;
      }
    })();
  });

  fill(main, h('h1', {}, 'Submit a run'), form);
  let live = true;
  void (async () => {
    const result = await api().GET('/ga4gh/wes/v1/service-info');
    if (!live) return;
    if (!result.data) {
      error.textContent = problem(result);
      return;
    }
    info = result.data;
    fill(type, Object.keys(info.workflow_type_versions ?? {}).map((t) => h('option', { value: t }, t)));
    versionsFor();
    engine.append(...Object.keys(info.workflow_engine_versions ?? {}).map((e) => h('option', { value: e }, e)));
  })();
  return () => {
    live = false;
  };
}
