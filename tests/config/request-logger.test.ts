import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { requestChildLogger } from '../../src/config/logger.js';

/** A pino logger at `level` whose lines are kept, parsed. */
function memoryLogger(level: string): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

t.test('a request logger is made at its first line, with the bindings, at the parent level', async (t) => {
  const { logger, lines } = memoryLogger('warn');
  let made = 0;
  const child = requestChildLogger(logger, () => (made++, { reqId: 'req-1', run_id: 'run-x' }), {});
  child.info({ req: 'ignored' }, 'incoming request');
  child.debug('not written');
  t.equal(made, 0, 'no line let through: no child made');
  t.equal(lines.length, 0);
  child.warn({ wait_ms: 5 }, 'held back %s', 'now');
  child.error('failed');
  t.equal(made, 1, 'made once');
  t.match(lines, [
    { level: 40, reqId: 'req-1', run_id: 'run-x', wait_ms: 5, msg: 'held back now' },
    { level: 50, reqId: 'req-1', run_id: 'run-x', msg: 'failed' },
  ]);
  t.equal(child.level, 'warn');
  t.ok(child.isLevelEnabled('error'));
  t.notOk(child.isLevelEnabled('info'));
  child.child({ task: 't1' }).warn('from a grandchild');
  t.match(lines[2], { reqId: 'req-1', run_id: 'run-x', task: 't1', msg: 'from a grandchild' });
});

t.test('at info, every line of the request carries the bindings', async (t) => {
  const { logger, lines } = memoryLogger('info');
  const child = requestChildLogger(logger, () => ({ reqId: 'req-2' }), {});
  child.info('incoming request');
  child.info('request completed');
  child.trace('not written');
  t.match(lines, [
    { level: 30, reqId: 'req-2', msg: 'incoming request' },
    { level: 30, reqId: 'req-2', msg: 'request completed' },
  ]);
  t.equal(lines.length, 2);
});

t.test('a route log level of its own makes the child at once, at that level', async (t) => {
  const { logger, lines } = memoryLogger('warn');
  let made = 0;
  const child = requestChildLogger(logger, () => (made++, { reqId: 'req-3' }), { level: 'debug' });
  t.equal(made, 1);
  t.equal(child.level, 'debug');
  child.debug('written');
  t.match(lines, [{ level: 20, reqId: 'req-3', msg: 'written' }]);
});

t.test('a level set on a request logger applies to it alone', async (t) => {
  const { logger, lines } = memoryLogger('warn');
  const child = requestChildLogger(logger, () => ({ reqId: 'req-4' }), {});
  child.level = 'info';
  child.info('written');
  logger.info('not written by the parent');
  t.match(lines, [{ level: 30, reqId: 'req-4', msg: 'written' }]);
  t.equal(lines.length, 1);
});
