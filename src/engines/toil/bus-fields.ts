/** Reading the fields of one line of Toil's message log: tab-separated, each written with Python's `unicode_escape`. */

/** Typed access to a message's fields; null for a missing or malformed one. */
export class Fields {
  readonly #parts: Buffer[];

  constructor(parts: Buffer[]) {
    this.#parts = parts;
  }

  has(i: number): boolean {
    return i < this.#parts.length;
  }

  str(i: number): string | null {
    const p = this.#parts[i];
    return p === undefined ? null : decodePythonEscapes(p);
  }

  int(i: number): number | null {
    const p = this.#parts[i];
    if (p === undefined) return null;
    const text = p.toString('latin1').trim();
    if (!/^[+-]?\d{1,15}$/.test(text)) return null;
    return Number(text);
  }
}

/**
 * Decode bytes written with Python's `unicode_escape` codec.
 *
 * Understands the escapes Python does (`\\ \' \" \a \b \f \n \r \t \v`,
 * octal `\ooo`, `\xhh`, `\uhhhh`, `\Uhhhhhhhh`, backslash-newline). Where
 * Python would raise (a truncated or out-of-range escape, a trailing
 * backslash) the text is kept as written instead, and so are unknown escapes
 * and `\N{…}`, which needs Python's name database. Bytes outside escapes are
 * read as UTF-8 when they form valid UTF-8 (Toil never writes raw non-ASCII,
 * so such bytes come from elsewhere), else as Latin-1, as Python would.
 */
export function decodePythonEscapes(bytes: Buffer): string {
  let out = '';
  let runStart = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    if (bytes[i] !== 0x5c) {
      i++;
      continue;
    }
    out += decodeRaw(bytes.subarray(runStart, i));
    const next = i + 1 < n ? String.fromCharCode(bytes[i + 1] as number) : '';
    let produced: string | null = null;
    let len = 2;
    switch (next) {
      case '\\': produced = '\\'; break;
      case "'": produced = "'"; break;
      case '"': produced = '"'; break;
      case 'a': produced = '\x07'; break;
      case 'b': produced = '\b'; break;
      case 'f': produced = '\f'; break;
      case 'n': produced = '\n'; break;
      case 'r': produced = '\r'; break;
      case 't': produced = '\t'; break;
      case 'v': produced = '\v'; break;
      case '\n': produced = ''; break;
      case 'x': case 'u': case 'U': {
        const digits = next === 'x' ? 2 : next === 'u' ? 4 : 8;
        const hex = bytes.toString('latin1', i + 2, i + 2 + digits);
        if (hex.length === digits && /^[0-9A-Fa-f]+$/.test(hex)) {
          const cp = parseInt(hex, 16);
          if (cp <= 0x10ffff) {
            // fromCharCode for \u keeps lone surrogates as Python does.
            produced = cp <= 0xffff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
            len = 2 + digits;
          }
        }
        break;
      }
      default:
        if (next >= '0' && next <= '7') {
          let j = i + 1;
          let value = 0;
          while (j < n && j < i + 4 && (bytes[j] as number) >= 0x30 && (bytes[j] as number) <= 0x37) {
            value = value * 8 + ((bytes[j] as number) - 0x30);
            j++;
          }
          produced = String.fromCharCode(value);
          len = j - i;
        }
    }
    if (produced === null) {
      // Unknown or broken escape: keep the backslash and go on after it.
      out += '\\';
      i += 1;
    } else {
      out += produced;
      i += len;
    }
    runStart = i;
  }
  return out + decodeRaw(bytes.subarray(runStart, n));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeRaw(bytes: Buffer): string {
  if (bytes.length === 0) return '';
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

export function splitBytes(buf: Buffer, sep: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = buf.indexOf(sep); i !== -1; i = buf.indexOf(sep, start)) {
    parts.push(buf.subarray(start, i));
    start = i + 1;
  }
  parts.push(buf.subarray(start));
  return parts;
}
