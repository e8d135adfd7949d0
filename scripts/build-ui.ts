/**
 * Builds the dashboard's assets: the browser code in ui/src bundled by
 * esbuild (with the typed client and openapi-fetch in it, no CDN), and the
 * static files of ui/ copied beside it. `npm run build` writes them to
 * dist/ui, where the server serves them from under /ui; tests build their own
 * copy into a temporary folder.
 *
 *   tsx scripts/build-ui.ts [OUT_DIR]   (default: dist/ui)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const uiDir = path.join(root, 'ui');

/** The files of ui/ served as they are. */
const STATIC = ['index.html', 'app.css', 'icon.svg'];

/** Builds the dashboard into `outDir` (made if missing; files of an earlier build replaced). */
export async function buildUi(outDir: string = path.join(root, 'dist', 'ui')): Promise<void> {
  // Written beside the target, then swapped in: a server reading the old build never sees half a new one.
  const parent = path.dirname(outDir);
  await fs.mkdir(parent, { recursive: true });
  const next = await fs.mkdtemp(path.join(parent, `.${path.basename(outDir)}-`));
  try {
    await build({
      entryPoints: [path.join(uiDir, 'src', 'main.ts')],
      outfile: path.join(next, 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      minify: true,
      sourcemap: 'linked',
      legalComments: 'linked',
      logLevel: 'warning',
      tsconfig: path.join(uiDir, 'tsconfig.json'),
    });
    for (const name of STATIC) await fs.copyFile(path.join(uiDir, name), path.join(next, name));
    await fs.chmod(next, 0o755);
    const old = `${next}.old`;
    await fs.rename(outDir, old).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fs.rename(next, outDir);
    await fs.rm(old, { recursive: true, force: true });
  } catch (err) {
    await fs.rm(next, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  await buildUi(out);
}
