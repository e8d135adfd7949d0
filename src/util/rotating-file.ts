import fs from 'node:fs';

/**
 * An append-only log file that, given a size, rotates like Python's
 * RotatingFileHandler with one backup (what Toil's `--rotatingLogging`
 * uses: 1,000,000 bytes): a line that would take the file past the size
 * first moves it to `<file>.1` (replacing the one there) and starts a new
 * file. Writes are synchronous, as pino's own stdout writes are, so no line
 * is lost when the process exits; a failed write (a full disk) drops its
 * line rather than the server.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    readonly file: string,
    /** Rotate past this many bytes; absent: never. */
    private readonly maxBytes?: number,
  ) {
    this.fd = fs.openSync(file, 'a');
    this.size = fs.fstatSync(this.fd).size;
  }

  write(chunk: string): boolean {
    const bytes = Buffer.byteLength(chunk);
    try {
      if (this.maxBytes !== undefined && this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      fs.writeSync(this.fd, chunk);
      this.size += bytes;
    } catch {
      // The log must not take the server down with it.
    }
    return true;
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    fs.renameSync(this.file, `${this.file}.1`);
    this.fd = fs.openSync(this.file, 'a');
    this.size = 0;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
