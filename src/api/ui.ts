/**
 * The dashboard's static files under /ui: the page, its bundle and styles,
 * as `npm run build` leaves them in dist/ui (scripts/build-ui.ts). They are
 * served to anyone (the data behind them needs the API's credentials as
 * usual), with a strict Content-Security-Policy: scripts, styles and
 * connections from this origin only, nothing inline, no framing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WesError } from '../util/errors.js';
import { projectRoot } from './spec.js';

/** Where `npm run build` puts the dashboard. */
export function defaultUiDir(): string {
  return path.join(projectRoot(), 'dist', 'ui');
}

/** What the page may load: its own files and the API beside them, nothing inline, nothing else. */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * Reads the built files once (a few small files, kept in memory). Only the
 * regular files at the top of the folder are served, looked up by exact
 * name, so no request path can reach anything else.
 */
async function loadAssets(dir: string): Promise<Map<string, Asset> | null> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return null;
  }
  const assets = new Map<string, Asset>();
  for (const entry of entries) {
    const type = TYPES[path.extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    const body = await fs.readFile(path.join(dir, entry.name));
    assets.set(entry.name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets.has('index.html') ? assets : null;
}

/** Registers GET (and HEAD) /ui and /ui/* on the app: the dashboard's files from `dir`. */
export function registerUi(app: FastifyInstance, dir: string): void {
  let assets: Promise<Map<string, Asset> | null> | null = null;
  // Loaded on first use, and again while the folder is not built yet.
  const current = async (): Promise<Map<string, Asset> | null> => {
    assets ??= loadAssets(dir);
    const found = await assets;
    if (!found) assets = null;
    return found;
  };

  // Relative, so that it holds behind a proxy's path prefix too.
  app.get('/ui', async (_request, reply) => reply.redirect('ui/', 302));
  app.get('/ui/*', async (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
    const found = await current();
    if (!found) throw new WesError(503, 'The dashboard is not built here: run `npm run build` (or `make serve`).');
    const name = request.params['*'] === '' ? 'index.html' : request.params['*'];
    const asset = found.get(name);
    if (!asset) throw new WesError(404, `No file '${name}' in the dashboard.`);
    reply.headers({
      'content-security-policy': UI_CSP,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-cache',
      etag: asset.etag,
    });
    const held = request.headers['if-none-match'];
    if (held !== undefined && held.split(',').some((t) => t.trim() === asset.etag)) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  });
}
