import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir, workflowsDir } from '../helper.js';
import { ferry, listeningApp } from './cli-helper.js';

/**
 * The client's credentials from the environment, on every kind of request it
 * makes (API calls, the log route, downloads): a bearer token from an
 * `--auth-tokens` file in FERRY_TOKEN, and a user and password from an
 * htpasswd file in FERRY_USER/FERRY_PASSWORD.
 */

const TOKEN = 'cli-token-0123456789abcdef';
const PASSWORD = 'pa:ss wörd';

t.test('FERRY_TOKEN and FERRY_USER/FERRY_PASSWORD reach every request; without them, 401 in one line', async (t) => {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'tokens');
  await fs.writeFile(tokens, `ann ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
  const htpasswd = path.join(dir, 'htpasswd');
  await promisify(execFile)('htpasswd', ['-B', '-C', '4', '-c', '-b', htpasswd, 'carol', PASSWORD]);
  const { url } = await listeningApp(t, { authTokens: tokens, authHtpasswd: htpasswd });
  const ann = { FERRY_URL: url, FERRY_TOKEN: TOKEN };

  const anonymous = await ferry(['list'], { env: { FERRY_URL: url } });
  t.equal(anonymous.code, 1);
  t.match(anonymous.stderr, /^ferry list: .+ \(HTTP 401\)\n$/);
  const wrong = await ferry(['list'], { env: { FERRY_URL: url, FERRY_TOKEN: 'not-the-token' } });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /\(HTTP 401\)\n$/);

  const echo = path.join(workflowsDir, 'echo');
  const submitted = await ferry(['submit', path.join(echo, 'echo.cwl'), path.join(echo, 'inputs.json'), '--wait', '--json'], { env: ann });
  t.equal(submitted.code, 0, submitted.stderr);
  const runId = (JSON.parse(submitted.stdout) as { run_id: string }).run_id;
  t.match((await ferry(['logs', runId, '--stderr'], { env: ann })).stdout, /Final process status is success/, 'the log route');
  const outDir = await tempDir(t);
  const downloaded = await ferry(['outputs', runId, '--download', outDir], { env: ann });
  t.equal(downloaded.code, 0, downloaded.stderr);
  t.equal(await fs.readFile(path.join(outDir, 'output.txt'), 'utf8'), 'hello ferry\n', 'a download');

  const carol = { FERRY_URL: url, FERRY_USER: 'carol', FERRY_PASSWORD: PASSWORD };
  const notHers = await ferry(['status', runId], { env: carol });
  t.equal(notHers.code, 1, 'signed in as carol: ann\'s run is not found');
  t.match(notHers.stderr, /\(HTTP 404\)\n$/);
  const runnerOut = await tempDir(t);
  const ran = await ferry(['cwl-runner', '--quiet', '--outdir', runnerOut, 'echo.cwl', 'inputs.json'], { cwd: echo, env: carol });
  t.equal(ran.code, 0, ran.stderr);
  t.equal(await fs.readFile(path.join(runnerOut, 'output.txt'), 'utf8'), 'hello ferry\n');
  t.same(
    (JSON.parse((await ferry(['list', '--json'], { env: carol })).stdout) as { run_id: string }[]).length,
    1,
    'carol lists her own run only',
  );
});
