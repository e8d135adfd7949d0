/**
 * The load generator, run as its own process: autocannon against one URL,
 * a warm-up first, then the measured run with the same connections.
 * Prints one JSON line: rate, latency percentiles and status counts of the
 * measured run only.
 *
 *   node load.js '{"url":…,"connections":10,"duration":5,"warmup":1,"method":"GET","headers":{},"bodyFile":…}'
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

interface LoadOptions {
  url: string;
  connections: number;
  duration: number;
  warmup: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  bodyFile?: string;
}

function fire(o: LoadOptions, duration: number, body: Buffer | undefined): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: o.url, connections: o.connections, duration, method: o.method ?? 'GET', headers: o.headers, body, timeout: 30 },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
  const body = o.bodyFile ? readFileSync(o.bodyFile) : undefined;
  if (o.warmup > 0) await fire(o, o.warmup, body);
  const r = await fire(o, o.duration, body);
  const seconds = r.duration; // autocannon reports the measured run's length in seconds
  console.log(
    JSON.stringify({
      total: r.requests.total,
      rps: r.requests.total / seconds,
      ok2xx: r['2xx'],
      ok2xxPerSecond: r['2xx'] / seconds,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      p50: r.latency.p50,
      p99: r.latency.p99,
      seconds,
      bytesPerRequest: r.requests.total ? r.throughput.total / r.requests.total : 0,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
