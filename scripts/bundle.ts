/**
 * The CLI as one file, `dist/ferry.mjs`, from the compiled `dist/src/cli.js`
 * (`npm run build` first): what `make serve` runs. Node loads one file much
 * faster than the few hundred modules of the server and its packages (on a
 * 2-core machine, a quarter of a second of CPU against most of a second),
 * which is most of the time a fresh server takes to answer. The npm
 * packages are inside; the project's files it reads at run time
 * (generated/openapi.json, package.json, node_modules/swagger-ui-dist) are
 * found from dist/ as before.
 */
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `tsx scripts/bundle.ts [ENTRY OUTFILE]`: another compiled cli.js (the bench's private build).
const [entry = path.join(root, 'dist', 'src', 'cli.js'), outfile = path.join(root, 'dist', 'ferry.mjs')] = process.argv.slice(2);
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: { __FERRY_BUNDLE__: 'true' },
  // CommonJS packages inside still `require` Node's own modules.
  banner: { js: "import { createRequire as __ferryRequire } from 'node:module'; const require = __ferryRequire(import.meta.url);" },
  logLevel: 'warning',
});
