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

  /** The inode of the file being followed (null until a read finds it). */
  get ino(): number | null {
    return this.inode;
  }

  /**
   * Carries on from `offset` of the file with inode `ino`, as if the lines
   * before it had been read (from a copy of what they said, see RunIndex):
   * should the file turn out to be another, reading starts over.
   */
  resumeAt(offset: number, ino: number): void {
    this.offset = offset;
    this.inode = ino;
    this.partial = false;
  }

  async read(): Promise<{ lines: string[]; reset: boolean; end: number }> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { lines: [], reset: false, end: this.offset };
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
      if (stat.size === this.offset) return { lines: [], reset, end: this.offset };
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
        for (let i = chunk.indexOf(0x0a, 0); i !== -1 && i < bytesRead; i = chunk.indexOf(0x0a, i + 1)) {
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
      return { lines, reset, end: consumed };
    } finally {
      await handle.close();
    }
  }
}
