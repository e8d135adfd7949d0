import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { createLogger, LOG_ROTATE_BYTES } from '../../src/config/logger.js';
import { RotatingFile } from '../../src/util/rotating-file.js';
import { tempDir } from '../helper.js';

t.test('rotates as Python\'s RotatingFileHandler with one backup: before the line that would go past the size', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'ferry.log');
  await fs.writeFile(file, 'x'.repeat(60) + '\n');
  const log = new RotatingFile(file, 100);
  const line = (n: number): string => `line ${String(n).padStart(3, '0')} ${'y'.repeat(20)}\n`; // 30 bytes
  log.write(line(1)); // 61 + 30 = 91: stays
  t.equal((await fs.stat(file)).size, 91, 'appended to what was there');
  log.write(line(2)); // would be 121: rotate first
  t.equal(await fs.readFile(`${file}.1`, 'utf8'), 'x'.repeat(60) + '\n' + line(1), 'the old file moved to .1');
  t.equal(await fs.readFile(file, 'utf8'), line(2));
  for (let n = 3; n <= 10; n++) log.write(line(n));
  log.close();
  // Three 30-byte lines fit in 100 bytes: [2 3 4] [5 6 7] [8 9 10].
  t.equal(await fs.readFile(file, 'utf8'), line(8) + line(9) + line(10), 'only the newest lines in the file');
  t.equal(await fs.readFile(`${file}.1`, 'utf8'), line(5) + line(6) + line(7), 'one backup, the one before');
  t.same((await fs.readdir(dir)).sort(), ['ferry.log', 'ferry.log.1'], 'no other file');
  t.equal(LOG_ROTATE_BYTES, 1_000_000, "Toil's size");
});

t.test('without a size it only appends', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'plain.log');
  const log = new RotatingFile(file);
  for (let i = 0; i < 100; i++) log.write(`${i}\n`);
  log.close();
  t.equal((await fs.readFile(file, 'utf8')).split('\n').length, 101);
});

t.test('the logger: JSON on stdout and in the file; pretty when asked', async (t) => {
  const dir = await tempDir(t);
  const json = path.join(dir, 'json.log');
  const logger = await createLogger({ logLevel: 'debug', logFormat: 'json', logFile: json, logRotate: true });
  logger.child({ run_id: 'run-1' }).debug({ headers: { authorization: 'Bearer secret' } }, 'hello');
  logger.trace('not at this level');
  const lines = (await fs.readFile(json, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 1);
  t.match(lines[0], { level: 20, run_id: 'run-1', msg: 'hello', headers: { authorization: '[Redacted]' } }, 'credentials redacted');
  const prettyFile = path.join(dir, 'pretty.log');
  const pretty = await createLogger({ logLevel: 'info', logFormat: 'pretty', logFile: prettyFile, logRotate: false });
  pretty.child({ run_id: 'run-2' }).info('for people');
  // Pretty lines reach the file through a stream: a moment later.
  let text = '';
  for (let i = 0; i < 100 && !text.includes('\n'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = await fs.readFile(prettyFile, 'utf8');
  }
  t.match(text, /^\[[\d: .-]+\] INFO: run-2 for people\n$/, 'one line for people, with its run_id');
  pretty.child({ reqId: 'req-1', run_id: 'run-3' }).info({ req: { method: 'GET', url: '/ga4gh/wes/v1/runs/run-3' }, res: { statusCode: 404 } }, 'request completed');
  for (let i = 0; i < 100 && !text.includes('run-3'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = await fs.readFile(prettyFile, 'utf8');
  }
  t.match(text, /INFO: req-1 run-3 request completed GET \/ga4gh\/wes\/v1\/runs\/run-3 404\n/, 'a request event in one line');
  t.notMatch(text, /^\{/, 'not JSON');
});
