import type { FastifyRequest } from 'fastify';
import type { UploadedFile } from '../../generated/operations.js';
import type { Staging } from '../backend/staging.js';
import { MalformedRequestError, PayloadTooLargeError, storageError, WesError, unmaskMkdirError } from '../util/errors.js';

export interface MultipartLimits {
  maxAttachmentBytes: number;
  maxAttachments: number;
  maxFieldBytes: number;
}

/** What a POST /runs form holds once its files are on disk. */
export interface ReceivedForm {
  fields: Record<string, string>;
  files: UploadedFile[];
  staging: Staging;
}

/** Most form fields a submission may send, as text or as file parts (each). */
const FIELD_PARTS = 100;

/** The field whose file parts are the submission's attachments. */
const ATTACHMENT_FIELD = 'workflow_attachment';

/**
 * Reads a multipart form, streaming every `workflow_attachment` part straight
 * into the staging folder (never buffering a whole file) under its checked
 * name, with sub-folders kept. Any other part is a text field, even when it
 * comes as a file: python-requests' `files=` (wes-client) sends every field
 * with a filename, and Toil's server reads such parts as fields too; it is
 * held to the field size limit. Repeated fields keep the last value; an
 * attachment repeated with the same bytes is kept once (see Staging).
 */
export async function receiveMultipart(request: FastifyRequest, stagingPromise: Promise<Staging>, limits: MultipartLimits): Promise<ReceivedForm> {
  const fields: Record<string, string> = {};
  const files: UploadedFile[] = [];
  let staging: Staging | undefined;
  let attachments = 0;
  try {
    // Subscribe to the request before the first await: a client that is
    // already gone must still end the parse (and free the staging folder).
    const parts = request.parts({
      preservePath: true,
      limits: {
        fileSize: limits.maxAttachmentBytes,
        // Fields may come as file parts too: the attachments are counted below.
        files: limits.maxAttachments + FIELD_PARTS,
        fieldSize: limits.maxFieldBytes,
        fields: FIELD_PARTS,
        parts: limits.maxAttachments + 2 * FIELD_PARTS,
        headerPairs: 100,
      },
    });
    staging = await stagingPromise;
    const stage = staging;
    const consume = async (): Promise<void> => {
      for await (const part of parts) {
        if (part.type === 'file' && part.fieldname !== ATTACHMENT_FIELD) {
          fields[part.fieldname] = await readFieldFile(part.fieldname, part.file, limits.maxFieldBytes);
        } else if (part.type === 'file') {
          if (++attachments > limits.maxAttachments) throw new PayloadTooLargeError(`The submission has more than ${limits.maxAttachments} workflow_attachment files.`);
          const { name, path, repeat } = await stage.attachmentPath(part.filename);
          const size = repeat ? await stage.receiveRepeat(name, path, part.file) : await stage.receive(path, part.file);
          if (part.file.truncated) throw new PayloadTooLargeError(`workflow_attachment '${name}' is larger than ${limits.maxAttachmentBytes} bytes.`);
          if (!repeat) files.push({ filename: name, path, size });
        } else {
          if (part.valueTruncated) throw new PayloadTooLargeError(`Form field '${part.fieldname}' is larger than ${limits.maxFieldBytes} bytes.`);
          const value = part.value;
          fields[part.fieldname] = typeof value === 'string' ? value : JSON.stringify(value);
        }
      }
    };
    // A client that goes away mid-body never lets the parser finish: stop
    // waiting, so the staging folder is removed and nothing is held.
    let onClose: () => void = () => undefined;
    const abandoned = new Promise<never>((_, reject) => {
      onClose = () => {
        if (!request.raw.complete) reject(new MalformedRequestError('The client closed the connection before sending the whole form.'));
      };
      request.raw.once('close', onClose);
      // A client that half-closes (FIN) before the end of the body sends no more of it either.
      request.raw.socket?.once('end', onClose);
      if (request.raw.destroyed || request.raw.socket?.readableEnded) onClose();
    });
    abandoned.catch(() => undefined);
    const consuming = consume();
    try {
      await Promise.race([consuming, abandoned]);
    } catch (err) {
      // The parse may still be writing (a file being opened, a folder made): once it
      // settles, remove the folder again, so nothing it wrote after the first removal stays.
      void consuming.then(
        () => stage.discard(),
        () => stage.discard(),
      ).catch(() => undefined);
      throw err;
    } finally {
      request.raw.off('close', onClose);
      request.raw.socket?.off('end', onClose);
    }
  } catch (err) {
    await (staging ?? (await stagingPromise.catch(() => undefined)))?.discard().catch(() => undefined);
    throw asWesError(await unmaskMkdirError(err));
  }
  return { fields, files, staging };
}

/**
 * A form field sent as a file part: its bytes as UTF-8 text (as a text
 * field's), refused with a 413 once past the field size limit.
 */
async function readFieldFile(name: string, stream: AsyncIterable<Buffer>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > maxBytes) throw new PayloadTooLargeError(`Form field '${name}' is larger than ${maxBytes} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Turns multipart's own errors, and failures to write what it streams, into WES errors with the right status. */
function asWesError(err: unknown): unknown {
  if (err instanceof WesError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 413 || e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return new PayloadTooLargeError(`The submission is over a limit: ${e.message ?? 'too large'}.`);
  }
  if (e.code === 'ENAMETOOLONG') return new MalformedRequestError('An attachment name is longer than the file system allows.');
  if (e.code === 'EEXIST' || e.code === 'EISDIR' || e.code === 'ENOTDIR') {
    return new MalformedRequestError('Two attachments clash: a file and a folder of the same name.');
  }
  // Our disk is full or read-only: 507, saying so (the staging folder is discarded by the caller).
  const storage = storageError(err, 'store the submission');
  if (storage) return storage;
  if (typeof e.code === 'string' && e.code.startsWith('E')) return err; // another I/O failure on our side: a 500
  return new MalformedRequestError(`Malformed multipart body: ${e.message ?? String(err)}.`);
}
