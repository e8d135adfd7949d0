/**
 * Replay of the message-bus log Toil writes with `--writeMessages`, to know
 * which jobs of a run were issued, are running, and how they ended.
 *
 * Format (Toil's `MessageBus.connect_output_file`): one message per line,
 * the topic (e.g. `toil.bus.JobIssuedMessage`) then the message's fields,
 * all tab-separated. Integer fields are written in decimal; string fields
 * are encoded with Python's `unicode_escape` codec, so tabs, newlines,
 * backslashes and every non-ASCII character appear as escapes. A last line
 * without its newline is still being written and is left for the next read.
 *
 * The replay follows Toil's `replay_message_bus`, with a few deliberate
 * differences, all about robustness or freshness (see {@link JobStatus}).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Fields, splitBytes } from './bus-fields.js';

/** What the log says about one job. */
export interface JobStatus {
  /** The job's id in the Toil job store (the key of the replay). */
  job_store_id: string;
  /** The job's kind/name (`job_type` in Toil's messages); '' until known. */
  name: string;
  /**
   * -1 while the job is issued (running or queued), else the last exit code
   * reported. A job reported failed with exit code 0 gets 1.
   */
  exit_code: number;
  /** Last value of each annotation the batch system attached. */
  annotations: Record<string, string>;
  /** Toil's batch-system id of the latest issue of the job. */
  toil_batch_id: string | null;
  /**
   * The batch system's own id (a pid, a Slurm job id…) for the latest issue.
   * Unlike Toil, this is cleared when the job is issued again, so it never
   * describes an earlier attempt.
   */
  external_batch_id: string | null;
  /** Name of the batch system that ran the latest issue. */
  batch_system: string | null;
  /** When Ferry first saw the job in the log (ms since the epoch). */
  issued_at: number;
  /**
   * When Ferry saw the job complete or fail (ms since the epoch); null while
   * it has not, and reset to null when the job is issued again.
   */
  finished_at: number | null;
}

/** Options for {@link MessageBusReplay}. */
export interface MessageBusReplayOptions {
  /** Clock used for `issued_at`/`finished_at`. Default `Date.now`. */
  now?: () => number;
  /** Longer lines are skipped whole. Default 1 MiB. */
  maxLineBytes?: number;
}

const DEFAULT_MAX_LINE = 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * How many bytes at the start of the file, and just before the read offset,
 * are remembered to notice the file being rewritten in place: an append-only
 * log never changes what was already written. (A `--restart` truncates the
 * log and may begin it with the very same first line, hence the second check.)
 */
const SAMPLE_BYTES = 256;
const NEWLINE = 0x0a;
const TAB = 0x09;

/**
 * Incremental replay of one message-bus log: each {@link update} reads only
 * what was appended since the previous one.
 *
 * A missing file reads as empty. If the file is truncated, replaced (another
 * inode) or rewritten (bytes already read have changed), the replay starts over from
 * the beginning. If it disappears after having been read, what was learnt is
 * kept, since a vanished log says nothing new about the jobs.
 */
export class MessageBusReplay {
  /** The log file. */
  readonly path: string;
  readonly #now: () => number;
  readonly #maxLine: number;
  #jobs = new Map<string, JobStatus>();
  #batchToJob = new Map<string, string>();
  #offset = 0;
  /** Inside a line longer than the limit, skipping up to its newline. */
  #discarding = false;
  #identity: { dev: number; ino: number } | null = null;
  #head: Buffer = Buffer.alloc(0);
  /** The bytes just before #offset, as last read. */
  #anchor: Buffer = Buffer.alloc(0);
  #pending: Promise<void> = Promise.resolve();

  constructor(path: string, opts: MessageBusReplayOptions = {}) {
    this.path = path;
    this.#now = opts.now ?? Date.now;
    this.#maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE;
  }

  /** Bytes of the file consumed so far (complete lines, and skipped overlong ones). */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Read and apply the messages appended since the last call. Calls are
   * queued, so overlapping calls never read the same bytes twice.
   *
   * @throws on I/O errors other than the file not existing.
   */
  update(): Promise<void> {
    const run = this.#pending.then(() => this.#read());
    // Keep the queue alive after a failure; the caller still sees the error.
    this.#pending = run.catch(() => undefined);
    return run;
  }

  /** All jobs seen so far, in the order they first appeared (copies). */
  jobs(): JobStatus[] {
    return [...this.#jobs.values()].map(copyStatus);
  }

  /** One job by job-store id (a copy), or undefined if never seen. */
  job(id: string): JobStatus | undefined {
    const j = this.#jobs.get(id);
    return j === undefined ? undefined : copyStatus(j);
  }

  async #read(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const st = await fh.stat();
      const sameFile = this.#identity === null || (this.#identity.dev === st.dev && this.#identity.ino === st.ino);
      if (!sameFile || st.size < this.#offset || !(await this.#unchanged(fh))) this.#reset();
      this.#identity = { dev: st.dev, ino: st.ino };
      await this.#consume(fh);
      this.#head = await readAt(fh, 0, SAMPLE_BYTES);
      const anchorStart = Math.max(0, this.#offset - SAMPLE_BYTES);
      this.#anchor = await readAt(fh, anchorStart, this.#offset - anchorStart);
    } finally {
      await fh.close();
    }
  }

  /** Whether the bytes remembered from the last read are still there. */
  async #unchanged(fh: FileHandle): Promise<boolean> {
    const head = await readAt(fh, 0, this.#head.length);
    if (!head.equals(this.#head)) return false;
    const anchor = await readAt(fh, this.#offset - this.#anchor.length, this.#anchor.length);
    return anchor.equals(this.#anchor);
  }

  #reset(): void {
    this.#jobs = new Map();
    this.#batchToJob = new Map();
    this.#offset = 0;
    this.#discarding = false;
    this.#head = Buffer.alloc(0);
    this.#anchor = Buffer.alloc(0);
  }

  /** Apply every complete line from the offset on; leave a partial last line for later. */
  async #consume(fh: FileHandle): Promise<void> {
    const buf = Buffer.alloc(CHUNK);
    let pos = this.#offset;
    // The unfinished line so far, copied out of buf (which is reused).
    let carry: Buffer[] = [];
    let carryLen = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      const chunkStart = pos;
      pos += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        const piece = chunk.subarray(start, nl);
        if (this.#discarding) {
          this.#discarding = false;
        } else if (carryLen + piece.length <= this.#maxLine) {
          this.#applyLine(carryLen === 0 ? piece : Buffer.concat([...carry, piece]));
        }
        carry = [];
        carryLen = 0;
        start = nl + 1;
        this.#offset = chunkStart + start;
      }
      const rest = chunk.subarray(start);
      if (this.#discarding) {
        this.#offset = pos;
      } else if (carryLen + rest.length > this.#maxLine) {
        // Too long to be a message: consume it now rather than re-reading a
        // growing megabyte on every update, and skip up to its newline.
        this.#discarding = true;
        this.#offset = pos;
        carry = [];
        carryLen = 0;
      } else if (rest.length > 0) {
        carry.push(Buffer.from(rest));
        carryLen += rest.length;
      }
    }
  }

  #applyLine(raw: Buffer): void {
    const line = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, -1) : raw;
    const parts = splitBytes(line, TAB);
    const topic = parts[0]?.toString('latin1') ?? '';
    // Match on the class name, so a move of Toil's bus module keeps working.
    const kind = topic.slice(topic.lastIndexOf('.') + 1);
    const f = new Fields(parts.slice(1));
    switch (kind) {
      case 'JobIssuedMessage': {
        const [type, id] = [f.str(0), f.str(1)];
        if (type === null || id === null) return;
        const job = this.#touch(id);
        job.name = type;
        job.exit_code = -1;
        job.finished_at = null;
        // Toil before 5.9 wrote no batch id; keep whatever we had then.
        const batch = f.has(2) ? f.str(2)?.trim() ?? null : null;
        if (batch !== null && batch !== '') {
          job.toil_batch_id = batch;
          job.external_batch_id = null;
          job.batch_system = null;
          this.#batchToJob.set(batch, id);
        }
        return;
      }
      case 'JobUpdatedMessage': {
        const [id, status] = [f.str(0), f.int(1)];
        if (id === null || status === null) return;
        this.#touch(id).exit_code = status;
        return;
      }
      case 'JobCompletedMessage': {
        const [type, id] = [f.str(0), f.str(1)];
        if (type === null || id === null) return;
        // Older Toil wrote no exit code; then only the name is news.
        const code = f.has(2) ? f.int(2) : undefined;
        if (code === null) return;
        const job = this.#touch(id);
        job.name = type;
        if (code !== undefined) job.exit_code = code;
        job.finished_at = this.#now();
        return;
      }
      case 'JobFailedMessage': {
        const [type, id] = [f.str(0), f.str(1)];
        if (type === null || id === null) return;
        const job = this.#touch(id);
        job.name = type;
        if (job.exit_code === 0) job.exit_code = 1;
        // The job ended when it completed; failing is Toil giving up on it.
        job.finished_at ??= this.#now();
        return;
      }
      case 'JobAnnotationMessage': {
        const [id, name, value] = [f.str(0), f.str(1), f.str(2)];
        if (id === null || name === null || value === null) return;
        this.#touch(id).annotations[name] = value;
        return;
      }
      case 'ExternalBatchIdMessage': {
        const [batch, external, system] = [f.str(0)?.trim() ?? null, f.str(1), f.str(2)];
        if (batch === null || external === null) return;
        const job = this.#jobs.get(this.#batchToJob.get(batch) ?? '');
        // Only for the job's current issue: these can arrive after the job
        // has been issued again, and must not overwrite the newer attempt.
        if (job === undefined || job.toil_batch_id !== batch) return;
        job.external_batch_id = external;
        job.batch_system = system;
        return;
      }
      default:
        // Queue and cluster sizes, missing jobs, and topics from future Toils.
        return;
    }
  }

  /** The job with this id, created (first seen now) if new. */
  #touch(id: string): JobStatus {
    let job = this.#jobs.get(id);
    if (job === undefined) {
      job = {
        job_store_id: id,
        name: '',
        exit_code: -1,
        // No prototype: annotation names like `__proto__` stay plain keys.
        annotations: Object.create(null) as Record<string, string>,
        toil_batch_id: null,
        external_batch_id: null,
        batch_system: null,
        issued_at: this.#now(),
        finished_at: null,
      };
      this.#jobs.set(id, job);
    }
    return job;
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

function copyStatus(j: JobStatus): JobStatus {
  return { ...j, annotations: Object.assign(Object.create(null) as Record<string, string>, j.annotations) };
}
