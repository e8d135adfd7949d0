import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { authConfigured, isLoopbackHost, type FerryConfig } from './config/config.js';

/**
 * Starts the server and stops it gracefully on SIGTERM/SIGINT: no new
 * connections, requests in flight finish, then the process exits 0.
 */
export async function serve(config: FerryConfig): Promise<FastifyInstance> {
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
  await app.listen({ host: config.host, port: config.port });
  return app;
}
