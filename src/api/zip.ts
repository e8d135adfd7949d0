import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import yazl from 'yazl';
import type { GetRunOutputsZipResult } from '../../generated/operations.js';
import type { OutputFile } from '../backend/run-outputs.js';

/**
 * Streams files as one zip archive, stored (not deflated: outputs are often
 * compressed already, and storing goes at disk speed), one file read at a
 * time as the client takes the archive: memory stays flat whatever the
 * outputs weigh. ZIP64 where sizes need it. A file that cannot be read
 * midway ends the download early (the client sees a truncated archive).
 */
export async function zipOutputs(files: AsyncIterable<OutputFile>): Promise<GetRunOutputsZipResult> {
  const zip = new yazl.ZipFile();
  const out = new PassThrough();
  zip.outputStream.on('error', (err: Error) => out.destroy(err)).pipe(out);
  void (async () => {
    try {
      for await (const file of files) {
        // Each file's stream opens only when yazl reaches it; the next is added once this one is queued.
        zip.addReadStreamLazy(file.relative, { compress: false, size: file.size, mtime: new Date(file.mtimeMs), mode: 0o100644 }, (cb) => cb(null, createReadStream(file.path)));
        if (out.destroyed) return;
      }
      zip.end();
    } catch (err) {
      out.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  return { status: 200, headers: { 'content-type': 'application/zip', 'content-disposition': 'attachment; filename="outputs.zip"' }, body: out };
}
