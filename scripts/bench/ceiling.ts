/**
 * The ceiling Ferry is measured against: a bare Fastify server on the same
 * machine, no logging, that answers the same routes with constant JSON
 * objects (Ferry's own answers, captured once, so the bodies are the same
 * size), and receives a multipart submission by streaming its files into a
 * fresh folder (what storing three attachments costs at the least), and
 * takes a raw body on PUT /raw straight into a file (the floor of any HTTP upload),
 * and sends a file on GET /file?path=…&chunk=KiB as it reads it (a download's).
 *
 *   node ceiling.js PORT BODIES_JSON UPLOAD_DIR
 */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import multipart from '@fastify/multipart';

async function main(): Promise<void> {
  const [portText, bodiesFile, uploadDir] = process.argv.slice(2);
  if (!portText || !bodiesFile || !uploadDir) throw new Error('usage: ceiling PORT BODIES_JSON UPLOAD_DIR');
  const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8')) as { status: object; log: object };
  const app = Fastify({ logger: false });
  await app.register(multipart, { limits: { fileSize: 1024 * 1024 * 1024 } });
  app.get('/ga4gh/wes/v1/runs/:run_id/status', async () => bodies.status);
  app.get('/ga4gh/wes/v1/runs/:run_id', async () => bodies.log);
  // The floor of any upload over HTTP: the request body piped to a file, no multipart parsing.
  let raws = 0;
  app.addContentTypeParser('application/octet-stream', async (_req: unknown, payload: NodeJS.ReadableStream) => {
    await pipeline(payload, createWriteStream(path.join(uploadDir, `raw-${raws++}.bin`), { flags: 'wx' }));
    return undefined;
  });
  app.put('/raw', async () => ({ ok: true }));
  // A download's floor in Node: a file sent as it is read from the disk, `chunk` KiB a read (64, Node's default, unless told).
  app.get('/file', async (req, reply) => {
    const q = req.query as { path: string; chunk?: string };
    const { size } = await fs.stat(q.path);
    return reply.type('application/octet-stream').header('content-length', size).send(createReadStream(q.path, { highWaterMark: Number(q.chunk ?? 64) * 1024 }));
  });
  app.get('/engine/v1/status', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('OK'));
  app.post('/ga4gh/wes/v1/runs', async (req) => {
    const id = `run-${randomBytes(16).toString('hex')}`;
    const dir = path.join(uploadDir, id, 'execution');
    await fs.mkdir(dir, { recursive: true });
    const fields: Record<string, unknown> = {};
    for await (const part of req.parts()) {
      if (part.type === 'file') await pipeline(part.file, createWriteStream(path.join(dir, path.basename(part.filename)), { flags: 'wx' }));
      else fields[part.fieldname] = part.value;
    }
    return { run_id: id };
  });
  await app.listen({ host: '127.0.0.1', port: Number(portText) });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
