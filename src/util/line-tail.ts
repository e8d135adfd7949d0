import fs from 'node:fs/promises';
import { errnoCode } from './errors.js';

/**
 * Follows a growing text file line by line: each `read()` returns only the
 * complete lines appended since the last call. A last line without its
 * newline is still being written and is left for next time. If the file
 * shrinks or is replaced, reading starts over (`reset` is true then).
 */
export class LineTail {
  private offset = 0;
  private inode: number | null = null;
  /** Whether the last read ended in a line without its newline (being written, or torn by a crash). */
  partial = false;

  constructor(
    readonly path: string,
    /** Longest line kept, in bytes; longer ones are cut to this length. */
    private readonly maxLineBytes = 1024 * 1024,
  ) {}

  /** Whether a read has found the file yet (its identity is known, so a replacement will be noticed). */
  get following(): boolean {
    return this.inode !== null;
  }

  async read(): Promise<{ lines: string[]; reset: boolean }> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { lines: [], reset: false };
      throw err;
    }
    try {
      const stat = await handle.stat();
      let reset = false;
      if ((this.inode !== null && stat.ino !== this.inode) || stat.size < this.offset) {
        this.offset = 0;
        reset = true;
      }
      this.inode = stat.ino;
      this.partial = false;
      if (stat.size === this.offset) return { lines: [], reset };
      const lines: string[] = [];
      const chunk = Buffer.alloc(Math.min(4 * 1024 * 1024, stat.size - this.offset));
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let position = this.offset;
      let consumed = this.offset;
      while (position < stat.size) {
        const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, stat.size - position), position);
        if (bytesRead === 0) break;
        let start = 0;
        for (let i = 0; i < bytesRead; i++) {
          if (chunk[i] !== 0x0a) continue;
          const piece = chunk.subarray(start, i);
          const line = pendingBytes ? Buffer.concat([...pending, piece]) : piece;
          lines.push(line.subarray(0, this.maxLineBytes).toString('utf8'));
          pending = [];
          pendingBytes = 0;
          start = i + 1;
          consumed = position + i + 1;
        }
        if (start < bytesRead && pendingBytes < this.maxLineBytes) {
          const rest = Buffer.from(chunk.subarray(start, bytesRead));
          pending.push(rest);
          pendingBytes += rest.length;
        }
        position += bytesRead;
      }
      this.offset = consumed;
      this.partial = stat.size > consumed;
      return { lines, reset };
    } finally {
      await handle.close();
    }
  }
}
