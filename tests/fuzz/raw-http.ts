import net from 'node:net';

/**
 * A tiny HTTP/1.1 client over a raw socket, so a test controls every byte it
 * sends (broken framing, wrong lengths, NUL bytes, invalid UTF-8…) and sees
 * every byte the server answers, including answers Node writes by itself.
 */

export interface RawOptions {
  host: string;
  port: number;
  /** What to do once every chunk is written: nothing (wait for the server), half-close (FIN), or reset. */
  after?: 'wait' | 'fin' | 'rst';
  /** Give up after this long without the server closing the connection. */
  timeoutMs?: number;
  /** Pause between chunks, so they reach the server in separate reads. */
  chunkDelayMs?: number;
}

export interface RawResult {
  /** Everything the server sent. */
  data: Buffer;
  /** How the exchange ended. */
  end: 'closed' | 'timeout' | 'reset' | 'aborted';
  /** A socket error, if one happened (ECONNRESET, EPIPE…). */
  error?: string;
  ms: number;
}

/** Sends `chunks` and collects the answer until the server closes (or the timeout). */
export function rawExchange(chunks: Buffer[], opts: RawOptions): Promise<RawResult> {
  const started = Date.now();
  const after = opts.after ?? 'wait';
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let settled = false;
    let error: string | undefined;
    const socket = net.connect({ host: opts.host, port: opts.port, allowHalfOpen: true });
    const finish = (end: RawResult['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received), end, ...(error ? { error } : {}), ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 20_000);
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish(error ? 'reset' : 'closed'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
      // A write may fail (EPIPE) because the server already answered and closed: keep reading what came.
      if (err.code !== 'EPIPE') finish('reset');
    });
    socket.on('connect', () => {
      void (async () => {
        for (const [i, c] of chunks.entries()) {
          if (socket.destroyed || settled) return;
          if (c.length > 0) await new Promise<void>((r) => (socket.write(c, () => r()) ? undefined : undefined));
          if (opts.chunkDelayMs && i < chunks.length - 1) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
        }
        if (settled) return;
        if (after === 'fin') socket.end();
        else if (after === 'rst') {
          socket.resetAndDestroy();
          finish('aborted');
        }
      })().catch(() => undefined);
    });
  });
}

export interface ParsedResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The head of the response as sent, for reports. */
  head: string;
}

/**
 * Splits what a server sent into responses (1xx interim answers dropped).
 * `headRequest`: the first response answers a HEAD, so it has no body.
 * Returns the responses and whatever trailing bytes did not parse.
 */
export function parseResponses(data: Buffer, headRequest = false): { responses: ParsedResponse[]; rest: Buffer } {
  const responses: ParsedResponse[] = [];
  let pos = 0;
  let first = true;
  while (pos < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const head = data.subarray(pos, headEnd).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine ?? '');
    if (!m) break;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      if (i > 0) {
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
      }
    }
    let bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      pos = bodyStart;
      continue;
    }
    let body: Buffer;
    const noBody = (first && headRequest) || status === 204 || status === 304;
    if (noBody) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(data.subarray(p, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        p = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n', p);
          p = trailerEnd < 0 ? data.length : trailerEnd + 2;
          complete = true;
          break;
        }
        parts.push(data.subarray(p, p + size));
        p += size + 2;
      }
      body = Buffer.concat(parts);
      bodyStart = p;
      if (!complete) {
        responses.push({ status, reason: m[2] ?? '', headers, body, head });
        return { responses, rest: Buffer.alloc(0) };
      }
      pos = p;
      responses.push({ status, reason: m[2] ?? '', headers, body, head });
      first = false;
      continue;
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(bodyStart, bodyStart + n);
      bodyStart += n;
    } else {
      // Delimited by the end of the connection.
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    responses.push({ status, reason: m[2] ?? '', headers, body, head });
    first = false;
    pos = bodyStart;
  }
  return { responses, rest: data.subarray(pos) };
}

/** An HTTP/1.1 request, byte for byte. Headers are written as given (no Host unless listed). */
export function buildRequest(method: string, target: string | Buffer, headers: [string, string | Buffer][], body?: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'), Buffer.from(' HTTP/1.1\r\n')];
  for (const [k, v] of headers) parts.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  if (body) parts.push(body);
  return Buffer.concat(parts);
}
