import http from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunEnd } from '../backend/toil-backend.js';

/** What the metrics are read from (the backend). */
export interface MetricsSource {
  /** Runs per state and the queue's length, the runs ended since the last look told first. */
  runSnapshot(): Promise<{ states: Record<string, number>; queueLength: number }>;
  /** Calls `listener` with each run that ends from now on. */
  watchRunEnds(listener: (end: RunEnd) => void): void;
}

/** Why a request's credentials did not do. */
export type AuthFailure = 'no_credentials' | 'bad_credentials' | 'held_back' | 'not_admin';

/** Run durations: a second to a day. */
const RUN_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400];
/** Request durations: a millisecond to a minute (a download of a big output takes long). */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

declare module 'fastify' {
  interface FastifyRequest {
    /** The operation the request was routed to (the spec's operationId, or one of Ferry's own pages); '' for none. */
    operationId: string;
  }
}

/**
 * Ferry's Prometheus metrics, in a registry of their own (several apps may
 * share a process). Cheap to keep: counters and histograms are bumped as
 * things happen; the run gauges are read when scraped, from the run index
 * (what service-info's counts cost).
 */
export class FerryMetrics {
  readonly registry = new Registry();
  private readonly runs: Gauge<'state'>;
  private readonly queue: Gauge;
  private readonly submissions: Counter<'outcome' | 'status_code'>;
  private readonly runDurations: Histogram<'engine' | 'outcome'>;
  private readonly requests: RequestHistogram;
  private readonly authFailures: Counter<'reason'>;
  private processMetrics = false;

  constructor(private readonly source: MetricsSource) {
    const registers = [this.registry];
    this.runs = new Gauge({ name: 'ferry_runs', help: 'Runs by WES state (deleted runs are not counted).', labelNames: ['state'], registers });
    this.queue = new Gauge({ name: 'ferry_run_queue_length', help: 'Accepted runs waiting for a slot (--max-concurrent-runs).', registers });
    this.submissions = new Counter({
      name: 'ferry_submissions_total',
      help: 'Run submissions (POST /runs) by outcome: accepted, or refused with its HTTP status code.',
      labelNames: ['outcome', 'status_code'],
      registers,
    });
    this.runDurations = new Histogram({
      name: 'ferry_run_duration_seconds',
      help: 'Time from a run\'s start to its end, by engine and final state, for runs that ended while this server ran.',
      labelNames: ['engine', 'outcome'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.requests = new RequestHistogram(
      'ferry_http_request_duration_seconds',
      'Time to answer API requests, by operationId (none: no route) and HTTP status code.',
      REQUEST_BUCKETS,
    );
    // prom-client's registry takes any metric that answers get() and reset() as its own do (it formats what get() returns).
    this.registry.registerMetric(this.requests as unknown as Histogram);
    this.authFailures = new Counter({
      name: 'ferry_auth_failures_total',
      help: 'Requests refused for their credentials: none sent, not valid, held back after failed logins, or not an admin\'s.',
      labelNames: ['reason'],
      registers,
    });
    // Shown from the start at zero, so that a rate over them is defined.
    this.submissions.labels('accepted', '200').inc(0);
    for (const reason of ['no_credentials', 'bad_credentials', 'held_back', 'not_admin'] as const) this.authFailures.labels(reason).inc(0);
    source.watchRunEnds((end) => {
      if (end.seconds !== undefined) this.runDurations.labels(end.engine, end.state).observe(end.seconds);
    });
  }

  /** Counts a request's credentials failing. */
  authFailed(reason: AuthFailure): void {
    this.authFailures.labels(reason).inc();
  }

  /** The metrics in Prometheus' text format, the run gauges read now. */
  async render(): Promise<{ contentType: string; body: string }> {
    // The process's own metrics from the first scrape on (their event-loop monitor costs a timer: not for an app nobody scrapes).
    if (!this.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      this.processMetrics = true;
    }
    const { states, queueLength } = await this.source.runSnapshot();
    for (const [state, n] of Object.entries(states)) this.runs.labels(state).set(n);
    this.queue.set(queueLength);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Times every request of `app` and counts its submissions, as each answer is sent. */
  instrument(app: FastifyInstance): void {
    app.decorateRequest('operationId', '');
    // A callback hook: no promise a request.
    app.addHook('onResponse', (request, reply, done) => {
      const operation = request.operationId || 'none';
      const code = reply.statusCode;
      this.requests.observe(operation, code, reply.elapsedTime / 1000);
      if (operation === 'RunWorkflow') this.submissions.labels(code === 200 ? 'accepted' : 'refused', String(code)).inc();
      done();
    });
  }
}

/** One operation's and status code's request times: a count per bucket (not cumulative), their sum and number. */
interface RequestSeries {
  operation: string;
  statusCode: string;
  counts: number[];
  sum: number;
  count: number;
}

/**
 * The request-time histogram, labelled by operation and status code, written
 * as prom-client writes a Histogram (`_bucket` with `le` first, `_sum`,
 * `_count`). Its own because it is bumped on every request: a series is
 * found by two map lookups on values the request already has, where
 * prom-client's observe() checks and hashes its label object each time,
 * the largest cost of the metrics on a small GET.
 */
class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series = new Map<string, Map<number, RequestSeries>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  observe(operation: string, statusCode: number, seconds: number): void {
    let byCode = this.series.get(operation);
    if (!byCode) this.series.set(operation, (byCode = new Map()));
    let s = byCode.get(statusCode);
    if (!s) byCode.set(statusCode, (s = { operation, statusCode: String(statusCode), counts: this.bounds.map(() => 0), sum: 0, count: 0 }));
    const i = this.bounds.findIndex((b) => seconds <= b);
    if (i !== -1) s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** What prom-client's registry formats: the cumulative buckets, +Inf, sum and count of every series. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const byCode of this.series.values()) {
      for (const s of byCode.values()) {
        const labels = { operation: s.operation, status_code: s.statusCode };
        let acc = 0;
        this.bounds.forEach((le, i) => {
          acc += s.counts[i]!;
          values.push({ labels: { le, ...labels }, value: acc, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${this.name}_bucket` });
        values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
        values.push({ labels, value: s.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series = new Map();
  }
}

/**
 * Serves `GET /metrics` on a listener of its own (loopback by default, so
 * that the metrics reach no one the API does not already trust). Resolves
 * with the server once it listens.
 */
export async function listenMetrics(metrics: FerryMetrics, host: string, port: number, logger: FastifyBaseLogger): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain; charset=utf-8', ...(path === '/metrics' ? { allow: 'GET, HEAD' } : {}) });
      res.end(path === '/metrics' ? 'Method not allowed.\n' : 'Not found: the metrics are at /metrics.\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        logger.error({ err }, 'could not gather the metrics');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('The metrics could not be gathered.\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
