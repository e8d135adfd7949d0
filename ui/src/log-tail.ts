/**
 * The tail of a run's stdout or stderr, followed while the run goes on:
 * first its last 64 KiB, then whatever was added since, by byte ranges
 * (`Range: bytes=N-`; 416 means nothing new yet).
 */
import { api } from './api.js';
import { h } from './dom.js';

const FIRST = 64 * 1024;
/** Most characters kept on the page; older ones are dropped from the top. */
const KEEP = 512 * 1024;

export type Stream = 'stdout' | 'stderr';

export class LogTail {
  /** Bytes of the file read so far (-1: nothing yet). */
  private offset = -1;
  private decoder = new TextDecoder();
  private text = '';
  readonly pre: HTMLPreElement;

  constructor(
    private readonly runId: string,
    readonly stream: Stream,
  ) {
    this.pre = h('pre', { class: 'log', id: `log-${stream}`, tabindex: 0 }, '');
  }

  /** Reads what is new; true when something was. */
  async poll(): Promise<boolean> {
    // From the last byte already read, so that "nothing new" is a 206 of that byte rather than a 416;
    // an empty file has no byte to range over: it is asked for whole.
    const from = this.offset - 1;
    const range = this.offset < 0 ? `bytes=-${FIRST}` : this.offset === 0 ? undefined : `bytes=${from}-`;
    const params = { path: { run_id: this.runId }, ...(range ? { header: { Range: range } } : {}) };
    const result =
      this.stream === 'stdout'
        ? await api().GET('/toil/wes/v1/logs/{run_id}/stdout', { params, parseAs: 'arrayBuffer' })
        : await api().GET('/toil/wes/v1/logs/{run_id}/stderr', { params, parseAs: 'arrayBuffer' });
    const { response } = result;
    const bytes = result.data instanceof ArrayBuffer ? new Uint8Array(result.data) : new Uint8Array();
    if (response.status === 416) {
      // Empty so far; or shorter than what was read (a new file): read it anew next time.
      const size = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
      this.reset();
      if (size === '0') {
        this.offset = 0;
        this.show('');
      }
      return false;
    }
    if (response.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
      const start = Number(m?.[1] ?? 0);
      const end = Number(m?.[2] ?? start + bytes.length - 1);
      let added = bytes;
      if (this.offset < 0) this.text = start > 0 ? `… (the first ${start} bytes are not shown)\n` : '';
      else if (this.offset > 0 && start === from) added = bytes.subarray(1);
      else if (start !== this.offset) {
        // Not where we were: the file was replaced. Read its tail again.
        this.reset();
        return this.poll();
      }
      this.text += this.decoder.decode(added, { stream: true });
      this.offset = end + 1;
      this.show(this.text);
      return added.length > 0;
    }
    if (response.status === 200) {
      // The whole file (an empty one, or a server that ignores ranges).
      this.decoder = new TextDecoder();
      this.text = this.decoder.decode(bytes, { stream: true });
      const grew = bytes.length !== Math.max(0, this.offset);
      this.offset = bytes.length;
      this.show(this.text);
      return grew;
    }
    this.show(response.status === 404 ? '(no log yet)' : `(the log cannot be read: ${response.status})`);
    return false;
  }

  private reset(): void {
    this.offset = -1;
    this.text = '';
    this.decoder = new TextDecoder();
  }

  /** Shows `text`, staying at the bottom if the reader was there (following the log). */
  private show(text: string): void {
    if (text.length > KEEP) this.text = text = `…\n${text.slice(text.length - KEEP)}`;
    const pre = this.pre;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    const shown = text || '(empty)';
    if (pre.textContent !== shown) pre.textContent = shown;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }
}
