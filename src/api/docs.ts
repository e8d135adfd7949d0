import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Document } from 'openapi-backend';
import { WesError } from '../util/errors.js';
import { loadSpec } from './spec.js';

/** Swagger UI's files, served from the installed swagger-ui-dist (no CDN). */
const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** The files of it the page loads, and their types: nothing else of the package is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};
/** Starts Swagger UI on the spec the page's script tag names (a script file, so a strict CSP needs no inline exception). */
const INIT_SCRIPT = `"use strict";
(function () {
  var spec = document.currentScript.getAttribute('data-spec');
  window.ui = SwaggerUIBundle({ url: new URL(spec, window.location.href).href, dom_id: '#swagger-ui', deepLinking: true, presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout' });
})();
`;

const BASE = '/ga4gh/wes/v1';

export interface ApiDocsOptions {
  /** Swagger UI at /ga4gh/wes/v1/docs. */
  docs: boolean;
  /** Toil's `--swagger_ui`: the same page at /ga4gh/wes/v1/ui/. */
  toilUi: boolean;
  /** Which ways of signing in the server takes, shown to the page's "Authorize". */
  auth: { basic: boolean; bearer: boolean };
  /** The URL clients reach the server at, as the spec's server (else the spec's own, `/`). */
  publicUrl?: string;
  /** Operations anyone may call. */
  publicOperations: ReadonlySet<string>;
}

/**
 * The API's description for people and tools, outside the WES routes and
 * open to all, as service-info is (it tells nothing service-info does not):
 * the bundled spec at `/ga4gh/wes/v1/openapi.json` (and at Toil's
 * `swagger.json`), Swagger UI at `/ga4gh/wes/v1/docs` and, with Toil's
 * `--swagger_ui`, at Toil's `/ga4gh/wes/v1/ui/`. Every link on the pages is
 * relative, so they work behind a proxy's path prefix.
 */
export function registerApiDocs(app: FastifyInstance, opts: ApiDocsOptions): void {
  const spec = JSON.stringify(describedSpec(opts));
  const sendSpec = async (operationId: string, reply: FastifyReply): Promise<FastifyReply> => {
    reply.request.operationId = operationId;
    return reply.type('application/json; charset=utf-8').send(spec);
  };
  app.get(`${BASE}/openapi.json`, (_request, reply) => sendSpec('GetOpenApiSpec', reply));
  app.get(`${BASE}/swagger.json`, (_request, reply) => sendSpec('GetOpenApiSpec', reply));
  if (!opts.docs && !opts.toilUi) return;

  const page = (assets: string, specUrl: string): string => `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry: Workflow Execution Service API</title>
<link rel="stylesheet" href="${assets}swagger-ui.css">
<link rel="icon" type="image/png" href="${assets}favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assets}swagger-ui-bundle.js"></script>
<script src="${assets}ferry-docs.js" data-spec="${specUrl}"></script>
</body>
</html>
`;
  const sendPage = async (html: string, reply: FastifyReply): Promise<FastifyReply> => {
    reply.request.operationId = 'GetApiDocs';
    return reply.type('text/html; charset=utf-8').header('x-content-type-options', 'nosniff').send(html);
  };
  app.get(`${BASE}/docs/:asset`, async (request, reply) => {
    request.operationId = 'GetApiDocs';
    const { asset } = request.params as { asset: string };
    reply.header('cache-control', 'public, max-age=3600').header('x-content-type-options', 'nosniff');
    if (asset === 'ferry-docs.js') return reply.type('text/javascript; charset=utf-8').send(INIT_SCRIPT);
    const type = ASSETS[asset];
    if (!type) throw new WesError(404, `No route GET ${request.url}.`);
    return reply.type(type).send(createReadStream(path.join(SWAGGER_UI_DIR, asset)));
  });
  if (opts.docs) {
    const html = page('docs/', 'openapi.json');
    app.get(`${BASE}/docs`, (_request, reply) => sendPage(html, reply));
    // The page's links are relative to /ga4gh/wes/v1/: the slashed path is sent there.
    app.get(`${BASE}/docs/`, (request, reply) => {
      request.operationId = 'GetApiDocs';
      return reply.redirect('../docs', 302);
    });
  }
  if (opts.toilUi) {
    const html = page('../docs/', '../openapi.json');
    app.get(`${BASE}/ui/`, (_request, reply) => sendPage(html, reply));
    app.get(`${BASE}/ui`, (request, reply) => {
      request.operationId = 'GetApiDocs';
      return reply.redirect('ui/', 302);
    });
  }
}

/**
 * The bundled spec as this server serves it: its server URL (the public
 * one, when set) and the ways of signing in it takes, so that the docs'
 * "Try it out" sends credentials (operations open to all say they need none).
 */
function describedSpec(opts: ApiDocsOptions): Document {
  const spec = loadSpec();
  if (opts.publicUrl) spec.servers = [{ url: opts.publicUrl }];
  const schemes: Record<string, { type: 'http'; scheme: string }> = {};
  if (opts.auth.basic) schemes.basicAuth = { type: 'http', scheme: 'basic' };
  if (opts.auth.bearer) schemes.bearerAuth = { type: 'http', scheme: 'bearer' };
  if (Object.keys(schemes).length === 0) return spec;
  spec.components = { ...spec.components, securitySchemes: { ...spec.components?.securitySchemes, ...schemes } };
  spec.security = Object.keys(schemes).map((name) => ({ [name]: [] }));
  for (const item of Object.values(spec.paths ?? {})) {
    for (const op of Object.values(item ?? {})) {
      if (typeof op === 'object' && op !== null && 'operationId' in op && opts.publicOperations.has(String(op.operationId))) (op as { security?: unknown[] }).security = [];
    }
  }
  return spec;
}
