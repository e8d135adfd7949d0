import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { listTree, tempDir, waitForEngine, workflowsDir } from '../helper.js';
import { ferry, listeningApp } from './cli-helper.js';

/**
 * The `ferry` client as a real process against a real server running cwltool:
 * a workflow spread over folders submitted with what it needs found and
 * attached, waited for, its outputs downloaded and checked; the exit codes of
 * the final states; the run commands and their errors.
 */

const layout = path.join(workflowsDir, 'cli-layout');
const sha1 = async (file: string): Promise<string> => `sha1$${createHash('sha1').update(await fs.readFile(file)).digest('hex')}`;

t.test('submit finds the workflow\'s files, wait follows it, outputs --download keeps the layout and checks checksums', async (t) => {
  const { app, url } = await listeningApp(t);
  const env = { FERRY_URL: url };

  const dry = await ferry(['submit', 'wf/main.cwl', 'wf/inputs.yaml', '--dry-run'], { cwd: layout, env });
  t.equal(dry.code, 0, dry.stderr);
  const planned = JSON.parse(dry.stdout) as { workflow_url: string; workflow_params: Record<string, { location?: string }>; workflow_attachment: string[] };
  t.same(planned.workflow_attachment, ['data/reads.txt', 'data/reads.txt.idx', 'data/reference/a.txt', 'data/reference/sub/b.txt', 'wf/main.cwl', 'wf/tools/combine.cwl', 'wf/tools/combine.sh', 'wf/types/sample.yml'], 'run:, $import, $include, the inputs, their secondary file and folder');
  t.equal(planned.workflow_url, 'wf/main.cwl');
  t.equal(planned.workflow_params.reads?.location, 'data/reads.txt', 'input locations name the attachments');
  t.equal(planned.workflow_params.reference?.location, 'data/reference');

  const submitted = await ferry(['submit', 'wf/main.cwl', 'wf/inputs.yaml', '--tag', 'project=cli', '--tag', 'layout'], { cwd: layout, env });
  t.equal(submitted.code, 0, submitted.stderr);
  const runId = submitted.stdout.trim();
  t.match(runId, /^run-[0-9a-f]+$/, 'prints the run id alone');

  const following = ferry(['logs', '-f', runId], { env });
  const waited = await ferry(['wait', runId], { env });
  t.equal(waited.code, 0, `COMPLETE exits 0: ${waited.stderr}`);
  const followed = await following;
  t.equal(followed.code, 0, followed.stderr);
  t.match(followed.stdout, /"report": \{/, 'logs -f from the start: the engine\'s stdout, to its end');
  t.equal(followed.stdout, (await ferry(['logs', runId], { env })).stdout);
  const lines = waited.stdout.trim().split('\n');
  t.match(lines.at(-1), new RegExp(`^${runId}  COMPLETE `), 'piped: plain lines, the last the final state');
  t.equal(new Set(lines.map((l) => l.split(/\s+/)[1])).size, lines.length, 'one line per state');
  t.match(lines.at(-1), /tasks 1\/1 done$/);

  t.equal((await ferry(['status', runId], { env })).stdout, 'COMPLETE\n');
  t.same(JSON.parse((await ferry(['status', runId, '--json'], { env })).stdout), { run_id: runId, state: 'COMPLETE' });

  const outDir = await tempDir(t);
  const listing = await ferry(['outputs', runId, '--json'], { env });
  t.equal(listing.code, 0, listing.stderr);
  const { files, outputs } = JSON.parse(listing.stdout) as { files: { path: string; size: number; checksum?: string }[]; outputs: Record<string, { class: string }> };
  t.same(files.map((f) => f.path).sort(), ['copy/a.txt', 'copy/sub/b.txt', 'report.txt']);
  t.equal(outputs.copy?.class, 'Directory');
  const downloaded = await ferry(['outputs', runId, '--download', outDir], { env });
  t.equal(downloaded.code, 0, downloaded.stderr);
  t.same(await listTree(outDir), ['copy', 'copy/a.txt', 'copy/sub', 'copy/sub/b.txt', 'report.txt'], 'the folder structure kept, nothing else left');
  for (const f of files) {
    t.ok(f.checksum, `${f.path} listed with a checksum`);
    t.equal(await sha1(path.join(outDir, f.path)), f.checksum, `${f.path} as listed`);
  }
  t.equal(await fs.readFile(path.join(outDir, 'report.txt'), 'utf8'), 'sample s1\nACGT\nTTGA\nindex of reads\nreference a\nreference b\n', 'the tool read the inputs, the secondary file and the folder');

  // A file changed on the server behind the engine's back: the download refuses it, keeps nothing of it.
  const served = path.join(app.ferry.config.workDir, runId, 'outputs', 'report.txt');
  const original = await fs.readFile(served);
  await fs.writeFile(served, Buffer.from(original.toString('utf8').replace('s1', 's2')));
  const badDir = await tempDir(t);
  const bad = await ferry(['outputs', runId, '--download', badDir], { env });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^ferry outputs: report\.txt: checksum sha1\$[0-9a-f]+ is not the listed sha1\$[0-9a-f]+\n$/, 'one line');
  t.notOk((await listTree(badDir)).includes('report.txt'));

  const tasks = JSON.parse((await ferry(['tasks', runId, '--json'], { env })).stdout) as { name: string; exit_code?: number }[];
  t.equal(tasks.length, 1);
  t.match((await ferry(['tasks', runId], { env })).stdout, /^ID\s+NAME\s+STATE\s+EXIT\s+STARTED\s+ENDED\n.*done\s+0 /);
  const log = (await ferry(['log', runId], { env })).stdout;
  t.match(log, /^run:\s+run-/);
  t.match(log, /\nstate:\s+COMPLETE\n/);
  t.match(log, /\nworkflow:\s+CWL v1\.2 wf\/main\.cwl\n/);
  t.match(log, /\ntags:\s+project=cli layout=\n/);
  t.match((await ferry(['logs', runId, '--stderr'], { env })).stdout, /Final process status is success/);
  const listed = JSON.parse((await ferry(['list', '--tag', 'project=cli', '--json'], { env })).stdout) as { run_id: string }[];
  t.same(listed.map((r) => r.run_id), [runId]);
  t.same(JSON.parse((await ferry(['list', '--tag', 'project=other', '--json'], { env })).stdout), []);
  t.match((await ferry(['list', '--state', 'COMPLETE'], { env })).stdout, new RegExp(`^RUN\\s+STATE\\s+STARTED\\s+ENDED\\s+TAGS\\n${runId}\\s+COMPLETE\\s`));

  const deleted = await ferry(['delete', runId], { env });
  t.equal(deleted.code, 0, deleted.stderr);
  t.equal(deleted.stdout, `${runId}\n`);
  const gone = await ferry(['status', runId], { env });
  t.equal(gone.code, 1);
  t.match(gone.stderr, /^ferry status: .+ \(HTTP 404\)\n$/, 'the server\'s message and status, one line');
});

t.test('exit codes: EXECUTOR_ERROR 2, CANCELED 4 (cancel with ferry cancel), and logs -f follows to the end', async (t) => {
  const { app, url } = await listeningApp(t);
  const env = { FERRY_URL: url };

  const failed = await ferry(['submit', path.join(workflowsDir, 'fail', 'fail.cwl'), '--wait'], { env });
  t.equal(failed.code, 2, `EXECUTOR_ERROR exits 2: ${failed.stderr}`);
  t.match(failed.stdout, /^run-[0-9a-f]+\n(.*\n)*run-[0-9a-f]+ {2}EXECUTOR_ERROR /);
  const failedJson = await ferry(['submit', path.join(workflowsDir, 'fail', 'fail.cwl'), '--wait', '--json'], { env });
  t.equal(failedJson.code, 2);
  t.match(JSON.parse(failedJson.stdout), { run_id: /^run-/, state: 'EXECUTOR_ERROR' }, '--json: only the final JSON');
  const listedAll = JSON.parse((await ferry(['list', '--json'], { env })).stdout) as { run_id: string }[];
  t.equal(listedAll.length, 2, 'list: every run');
  const listedOne = JSON.parse((await ferry(['list', '--limit', '1', '--json'], { env })).stdout) as { run_id: string }[];
  t.same(listedOne.map((r) => r.run_id), [(JSON.parse(failedJson.stdout) as { run_id: string }).run_id], '--limit 1: the newest alone');

  const sleep = path.join(workflowsDir, 'sleep');
  const submitted = await ferry(['submit', path.join(sleep, 'sleep.cwl'), path.join(sleep, 'inputs.json'), '--json'], { env });
  t.equal(submitted.code, 0, submitted.stderr);
  const runId = (JSON.parse(submitted.stdout) as { run_id: string }).run_id;
  await waitForEngine(app.ferry.config.workDir, runId);
  // cwltool writes its stdout (the output object) only at the end: the log is there, and empty (200, no body).
  const empty = await ferry(['logs', runId], { env });
  t.same([empty.code, empty.stdout, empty.stderr], [0, '', ''], 'an empty log is empty, not an error');
  const emptyJson = await ferry(['logs', runId, '--json'], { env });
  t.same(JSON.parse(emptyJson.stdout), { run_id: runId, stream: 'stdout', text: '' }, emptyJson.stderr);
  const following = ferry(['logs', '-f', '--stderr', runId], { env });
  const waiting = ferry(['wait', runId], { env });
  const onTerminal = ferry(['wait', runId], { env, tty: true });
  await new Promise((r) => setTimeout(r, 3000));
  const canceled = await ferry(['cancel', runId], { env });
  t.equal(canceled.code, 0, canceled.stderr);
  t.equal(canceled.stdout, `${runId}\n`);
  const waited = await waiting;
  t.equal(waited.code, 4, `CANCELED exits 4: ${waited.stderr}`);
  t.match(waited.stdout, /RUNNING[^\n]*\n(.*CANCELING[^\n]*\n)?.*CANCELED/);
  const live = await onTerminal;
  t.equal(live.code, 4, `on a terminal too: ${live.stdout}`);
  const frames = live.stdout.split('\r\x1b[2K').filter(Boolean);
  t.ok(frames.length >= 3, `the line is rewritten in place every poll (${frames.length} times)`);
  t.ok(frames.some((f) => new RegExp(`^${runId}  RUNNING +0:\\d\\d  tasks 0/1 done, 1 running$`).test(f)), 'state, elapsed time, tasks');
  t.match(frames.at(-1), new RegExp(`^${runId}  CANCELED +0:\\d\\d  tasks [01]/1 done\\r?\\n$`), 'a newline after the last');
  const followed = await following;
  t.equal(followed.code, 0, `logs -f ends with the run: ${followed.stderr}`);
  t.match(followed.stdout, /\[job sleep\.cwl\]/, 'the engine\'s stderr, as it came');
  t.equal(followed.stdout, (await ferry(['logs', '--stderr', runId], { env })).stdout, 'followed: the whole log, no byte twice');
});

t.test('errors are one line on stderr, exit 1', async (t) => {
  const { url } = await listeningApp(t);
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((r) => closed.close(r));
  const refused = await ferry(['status', 'run-x', '--url', closedUrl]);
  t.equal(refused.code, 1);
  t.equal(refused.stderr, `ferry status: cannot reach ${closedUrl}: ECONNREFUSED\n`);
  const noRun = await ferry(['status'], { env: { FERRY_URL: url } });
  t.equal(noRun.code, 1);
  t.equal(noRun.stderr, 'ferry status: missing RUN (usage: ferry status RUN [--json])\n');
  const badFlag = await ferry(['list', '--bogus'], { env: { FERRY_URL: url } });
  t.equal(badFlag.code, 1);
  t.match(badFlag.stderr, /^ferry list: Unknown option '--bogus'\.\n$/);
  const missing = await ferry(['submit', path.join(workflowsDir, 'echo', 'nothere.cwl')], { env: { FERRY_URL: url } });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^ferry submit: the workflow: .*nothere\.cwl does not exist\n$/);
  const help = await ferry(['--help']);
  t.equal(help.code, 0);
  for (const command of ['serve', 'submit', 'wait', 'status', 'log', 'tasks', 'logs', 'list', 'cancel', 'delete', 'outputs', 'cwl-runner']) t.match(help.stdout, new RegExp(`\\n  ${command}\\b`), `--help lists ${command}`);
});
