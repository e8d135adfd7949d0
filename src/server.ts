import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { listenMetrics } from './api/metrics.js';
import { authConfigured, ConfigError, isLoopbackHost, type FerryConfig } from './config/config.js';
import { withYoungGenerationHeld } from './util/young-generation.js';

/**
 * Starts the server and stops it gracefully on SIGTERM/SIGINT: no new
 * connections, requests in flight finish, then the process exits 0.
 */
export async function serve(config: FerryConfig): Promise<FastifyInstance> {
  // The start's reading of every stored run must not leave the heap sized for it (see withYoungGenerationHeld).
  return withYoungGenerationHeld(() => start(config));
}

async function start(config: FerryConfig): Promise<FastifyInstance> {
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // A fault in background work is logged; it must not take every run's server down.
  process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled rejection'));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // SIGHUP: read the credential files again now (they are also re-read when they change).
  process.on('SIGHUP', () => void app.ferry.credentials?.reload());
  if (!authConfigured(config) && !isLoopbackHost(config.host)) {
    app.log.warn({ host: config.host }, 'no authentication (--no-auth) on an address others can reach: anyone who reaches it can run workflows here');
  }
  // The metrics first: a --metrics-listen address that cannot be had stops the start before anyone is served.
  const metrics = config.metricsListen ? await serveMetrics(app, config.metricsListen, config.metricsListenGiven) : undefined;
  if (metrics) app.addHook('onClose', () => new Promise<void>((resolve) => metrics.close(() => resolve())));
  await app.listen({ host: config.host, port: config.port });
  return app;
}

/**
 * Serves the metrics on their own listener, closed with the app. A default
 * address that is taken (another Ferry on this machine has it) is passed
 * over with a warning; one asked for stops the start.
 */
async function serveMetrics(app: FastifyInstance, at: { host: string; port: number }, given: boolean): Promise<http.Server | undefined> {
  let server: http.Server;
  try {
    server = await listenMetrics(app.ferry.metrics, at.host, at.port, app.log);
  } catch (err) {
    const where = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
    if (!given && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      app.log.warn({ address: where }, 'metrics not served: the default address is taken (another server?); choose one with --metrics-listen HOST:PORT, or --metrics-listen off');
      return undefined;
    }
    await app.close();
    throw new ConfigError(`--metrics-listen ${where}: ${(err as Error).message}`);
  }
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`;
  app.log.info({ url }, `metrics listening at ${url}`);
  if (!isLoopbackHost(address)) app.log.warn({ url }, 'the metrics are served on an address others can reach: anyone who reaches it reads them');
  return server;
}
