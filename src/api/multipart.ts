import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { UploadedFile } from '../../generated/operations.js';
import type { Staging } from '../backend/staging.js';
import { MalformedRequestError, PayloadTooLargeError, WesError } from '../util/errors.js';

export interface MultipartLimits {
  maxAttachmentBytes: number;
  maxAttachments: number;
  maxFieldBytes: number;
}

/** What a POST /runs form holds once its files are on disk. */
export interface ReceivedForm {
  fields: Record<string, string>;
  files: UploadedFile[];
}

/**
 * Reads a multipart form, streaming every file part straight into the
 * staging folder (never buffering a whole file) under its checked name, with
 * sub-folders kept. Any file part counts as an attachment, whatever its field
 * name, as Toil does; repeated text fields keep the last value.
 */
export async function receiveMultipart(request: FastifyRequest, staging: Staging, limits: MultipartLimits): Promise<ReceivedForm> {
  const fields: Record<string, string> = {};
  const files: UploadedFile[] = [];
  try {
    const parts = request.parts({
      preservePath: true,
      limits: {
        fileSize: limits.maxAttachmentBytes,
        files: limits.maxAttachments,
        fieldSize: limits.maxFieldBytes,
        fields: 100,
        parts: limits.maxAttachments + 100,
        headerPairs: 100,
      },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        const { name, path } = await staging.attachmentPath(part.filename);
        await pipeline(part.file, createWriteStream(path, { flags: 'wx' }));
        if (part.file.truncated) throw new PayloadTooLargeError(`workflow_attachment '${name}' is larger than ${limits.maxAttachmentBytes} bytes.`);
        files.push({ filename: name, path, size: part.file.bytesRead });
      } else {
        if (part.valueTruncated) throw new PayloadTooLargeError(`Form field '${part.fieldname}' is larger than ${limits.maxFieldBytes} bytes.`);
        const value = part.value;
        fields[part.fieldname] = typeof value === 'string' ? value : JSON.stringify(value);
      }
    }
  } catch (err) {
    throw asWesError(err);
  }
  return { fields, files };
}

/** Turns multipart's own errors into WES errors with the right status. */
function asWesError(err: unknown): unknown {
  if (err instanceof WesError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 413 || e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return new PayloadTooLargeError(`The submission is over a limit: ${e.message ?? 'too large'}.`);
  }
  if (e.code === 'EEXIST' || e.code === 'EISDIR' || e.code === 'ENOTDIR') {
    return new MalformedRequestError('Two attachments clash: a file and a folder of the same name.');
  }
  if (typeof e.code === 'string' && e.code.startsWith('E')) return err; // a real I/O failure on our side
  return new MalformedRequestError(`Malformed multipart body: ${e.message ?? String(err)}.`);
}
