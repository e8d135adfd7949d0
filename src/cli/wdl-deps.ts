/**
 * The local files a WDL workflow needs, found without an engine: its
 * `import "…"` lines, followed into each imported document, and the strings
 * of its inputs that name local files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { resolveReference, type LocalFiles } from './local-files.js';

/** The text of a WDL document without its comments (a `#` outside a string starts one). */
function withoutComments(text: string): string {
  return text.replace(/^((?:[^#"'\n]|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')*)#.*$/gm, '$1');
}

/** The paths a WDL document imports, as written. */
export function wdlImports(text: string): string[] {
  return [...withoutComments(text).matchAll(/^\s*import\s+(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')/gm)].map((m) => (m[1] ?? m[2])!);
}

/** `1.0` (or whatever `version` the document declares), `draft-2` when it declares none. */
export function wdlVersionOf(text: string): string {
  return /^\s*version\s+(\S+)/m.exec(withoutComments(text))?.[1] ?? 'draft-2';
}

/** Follows a WDL document's imports (local ones; http(s) ones the engine fetches), adding each to `files`; returns the main text. */
export async function wdlDependencies(mainFile: string, files: LocalFiles): Promise<string> {
  const seen = new Set<string>();
  const follow = async (file: string): Promise<string> => {
    const text = await fs.readFile(file, 'utf8');
    seen.add(file);
    for (const ref of wdlImports(text)) {
      const target = resolveReference(ref, path.dirname(file));
      if ('remote' in target) continue;
      const shown = path.relative(process.cwd(), file) || file;
      if (path.isAbsolute(ref) || ref.startsWith('file:')) {
        files.warnings.push(`${shown} imports ${ref} by an absolute path: not attached, the server must be able to read it there`);
        continue;
      }
      const found = await files.add(target.local, `${shown} imports ${ref}`);
      if (!seen.has(found.path)) await follow(found.path);
    }
    return text;
  };
  return follow(mainFile);
}

/** A string of WDL inputs that names a local file: where it sits, to rewrite once its attachment name is known. */
export interface LocalString {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  file: string;
}

/**
 * The strings of a WDL inputs object that name existing local files
 * (relative to `baseDir` or absolute): without the workflow's types, a string
 * that is a file's path is taken for a File input. Adds each to `files`.
 */
export async function wdlInputFiles(params: Record<string, unknown>, baseDir: string, files: LocalFiles): Promise<LocalString[]> {
  const found: LocalString[] = [];
  const walk = async (holder: Record<string, unknown> | unknown[]): Promise<void> => {
    for (const [key, value] of Object.entries(holder)) {
      const k = Array.isArray(holder) ? Number(key) : key;
      if (typeof value === 'string' && value !== '' && !/[\n\0]/.test(value)) {
        const target = resolveReference(value, baseDir);
        if ('local' in target && (await fs.stat(target.local).catch(() => null))?.isFile()) {
          await files.add(target.local, `input '${key}'`);
          found.push({ holder, key: k, file: target.local });
        }
      } else if (typeof value === 'object' && value !== null) {
        await walk(value as Record<string, unknown>);
      }
    }
  };
  await walk(params);
  return found;
}
