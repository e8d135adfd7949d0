import { Worker } from 'node:worker_threads';

/**
 * One small file operation, run as the synchronous call of Node's fs API
 * it names: `mkdir` makes one folder (EEXIST if it is there), `create`
 * writes a new file (`wx`), `touch` opens a file for appending and closes
 * it (made empty when missing), `rename` is rename(2), and `tree` lists a
 * folder and everything under it.
 */
export type FileOp =
  | { op: 'mkdir'; path: string }
  | { op: 'create'; path: string; data: Uint8Array }
  | { op: 'touch'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'tree'; path: string };

/** What `tree` finds below its folder: paths relative to it with `/`, folders before what they hold. */
export interface TreeEntry {
  rel: string;
  kind: 'dir' | 'file' | 'other';
}

/**
 * Small file operations run in a worker thread, a batch at a time. A
 * submission creates a dozen small files and folders; through libuv's
 * thread pool each is a round trip of its own (a request queued, a pool
 * thread woken, a callback and a promise on the way back), and on a small
 * machine those round trips, not the file system, were most of a
 * submission's CPU time, all of it on the server's one JavaScript thread.
 * Here a batch costs the server one message each way; the worker makes the
 * calls one after the other, and the server's thread serves requests
 * meanwhile. Batches handed in during the same turn of the event loop go to
 * the worker in one message.
 *
 * A batch stops at its first failing operation and rejects with that
 * call's error as Node's fs API gives it (code, errno, syscall, path), so
 * callers treat it exactly as they would the asynchronous call. A worker
 * that dies fails the batches it held and is replaced at the next batch.
 */
export class FileBatches {
  /** The worker, with the batches it was sent and has not answered. */
  private current: { worker: Worker; held: Map<number, Waiter> } | null = null;
  /** Batches not sent yet, by id. */
  private readonly unsent = new Map<number, Waiter>();
  private outgoing: { id: number; ops: FileOp[] }[] = [];
  private nextId = 1;

  /** Runs `ops` in order; resolves with each operation's result (a `tree`'s entries, else undefined). */
  run(ops: FileOp[]): Promise<unknown[]> {
    if (ops.length === 0) return Promise.resolve([]);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.unsent.set(id, { resolve, reject });
      this.outgoing.push({ id, ops });
      if (this.outgoing.length === 1) queueMicrotask(() => this.send());
    });
  }

  /** Runs a batch of one `tree` operation. */
  async tree(dir: string): Promise<TreeEntry[]> {
    return (await this.run([{ op: 'tree', path: dir }]))[0] as TreeEntry[];
  }

  /** Stops the worker (batches still held fail); the next batch starts another. */
  async close(): Promise<void> {
    const c = this.current;
    this.current = null;
    if (c) await c.worker.terminate();
  }

  private send(): void {
    const batches = this.outgoing;
    this.outgoing = [];
    if (batches.length === 0) return;
    const c = this.started();
    for (const { id } of batches) {
      c.held.set(id, this.unsent.get(id)!);
      this.unsent.delete(id);
    }
    c.worker.ref();
    c.worker.postMessage(batches);
  }

  private started(): { worker: Worker; held: Map<number, Waiter> } {
    if (this.current) return this.current;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'ferry-file-batches', execArgv: [] });
    const c = { worker, held: new Map<number, Waiter>() };
    worker.on('message', (answers: Answer[]) => {
      for (const a of answers) {
        const waiter = c.held.get(a.id);
        if (!waiter) continue;
        c.held.delete(a.id);
        if (a.error) waiter.reject(fsError(a.error));
        else waiter.resolve(a.results ?? []);
      }
      if (c.held.size === 0) worker.unref();
    });
    // Only what this worker held fails with it: batches sent since to its successor are not its.
    const fail = (err: Error): void => {
      if (this.current === c) this.current = null;
      const held = [...c.held.values()];
      c.held.clear();
      for (const waiter of held) waiter.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the file worker stopped (exit code ${code})`)));
    this.current = c;
    return c;
  }
}

interface Waiter {
  resolve: (v: unknown[]) => void;
  reject: (e: Error) => void;
}

interface WireError {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
}

interface Answer {
  id: number;
  results?: unknown[];
  error?: WireError;
}

/** An Error like the one Node's fs API throws, from what the worker sent back. */
function fsError(e: WireError): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(e.message);
  for (const k of ['code', 'errno', 'syscall', 'path', 'dest'] as const) {
    if (e[k] !== undefined) Object.defineProperty(err, k, { value: e[k], enumerable: true, writable: true, configurable: true });
  }
  return err;
}

/**
 * The worker: plain JavaScript evaluated as its own script (the server is
 * bundled into one file, so the worker cannot be a module of its own). It
 * imports what it uses, so that it runs as a script or as a module alike
 * (a worker evaluates its source as the main script's type: a module under
 * `--input-type=module`).
 */
const WORKER_SOURCE = `
(async () => {
const fs = await import('node:fs');
const path = await import('node:path');
const { parentPort } = await import('node:worker_threads');
function tree(root) {
  const out = [];
  const walk = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? rel + '/' + e.name : e.name;
      if (e.isDirectory()) {
        out.push({ rel: r, kind: 'dir' });
        walk(path.join(dir, e.name), r);
      } else {
        out.push({ rel: r, kind: e.isFile() ? 'file' : 'other' });
      }
    }
  };
  walk(root, '');
  return out;
}
function one(o) {
  switch (o.op) {
    case 'mkdir': fs.mkdirSync(o.path); return undefined;
    case 'create': fs.writeFileSync(o.path, o.data, { flag: 'wx' }); return undefined;
    case 'touch': fs.closeSync(fs.openSync(o.path, 'a')); return undefined;
    case 'rename': fs.renameSync(o.from, o.to); return undefined;
    case 'tree': return tree(o.path);
    default: throw new Error('unknown file operation ' + String(o.op));
  }
}
parentPort.on('message', (batches) => {
  const answers = [];
  for (const b of batches) {
    const results = [];
    try {
      for (const o of b.ops) results.push(one(o));
      answers.push({ id: b.id, results });
    } catch (e) {
      answers.push({ id: b.id, error: { message: String(e && e.message), code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, dest: e.dest } });
    }
  }
  parentPort.postMessage(answers);
});
})();
`;

let shared: FileBatches | undefined;

/** The process's one FileBatches, started at its first batch. */
export function fileBatches(): FileBatches {
  shared ??= new FileBatches();
  return shared;
}
