/**
 * The client commands of the `ferry` binary, by name, and the one place
 * their failures become a line on stderr and an exit code.
 */
import { CliError, DEFAULT_URL, processIo, type CliIo } from './context.js';
import { cwlRunnerCommand } from './cwl-runner.js';
import { logsCommand } from './logs.js';
import { outputsCommand } from './outputs.js';
import { cancelCommand, deleteCommand, listCommand, logCommand, statusCommand, tasksCommand } from './runs.js';
import { submitCommand } from './submit.js';
import { exitCodesHelp, waitCommand } from './wait.js';

type Command = (argv: string[], io: CliIo) => Promise<number>;

export const CLIENT_COMMANDS: Record<string, Command> = {
  submit: submitCommand,
  wait: waitCommand,
  status: statusCommand,
  log: logCommand,
  tasks: tasksCommand,
  logs: logsCommand,
  list: listCommand,
  cancel: cancelCommand,
  delete: deleteCommand,
  outputs: outputsCommand,
  'cwl-runner': cwlRunnerCommand,
};

export const help = `usage: ferry COMMAND [options]   (ferry COMMAND --help for each)

The server:
  serve                      start the WES server (ferry serve --help for its options)

The client, of the server at --url or FERRY_URL (default ${DEFAULT_URL}),
with FERRY_TOKEN (a bearer token) or FERRY_USER and FERRY_PASSWORD (HTTP Basic):
  submit WORKFLOW [INPUTS]   submit a workflow with its local files attached; prints the run id
  wait RUN                   follow a run until it ends
  status RUN                 the run's state
  log RUN                    the run's log: request, times, command, system logs, outputs
  tasks RUN                  the run's tasks
  logs RUN [-f] [--stderr]   the engine's stdout (or stderr); -f follows it until the run ends
  list [--state S] [--tag K=V]  the runs, newest first
  cancel RUN                 cancel a run
  delete RUN                 delete a finished run and everything of it
  outputs RUN [--download DIR]  the run's output files; download them, checked
  cwl-runner [--outdir DIR] [--quiet] WORKFLOW [JOB]
                             run as a cwl-runner: wait, download, print the CWL output object
  version                    print Ferry's version

Each client command takes --url URL and --json (print JSON); an error is one line on stderr.
wait and submit --wait: ${exitCodesHelp}.
cwl-runner exits as cwltool does: 0, 1 the workflow failed, 33 an unsupported feature.`;

/** Runs a client command; a failure is one line on stderr (`ferry: …`) and its exit code. */
export async function runClientCommand(name: string, argv: string[], io: CliIo = processIo()): Promise<number> {
  const command = CLIENT_COMMANDS[name];
  if (!command) {
    io.stderr.write(`ferry: unknown command '${name}'\n\n${help}\n`);
    return 1;
  }
  try {
    return await command(argv, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`ferry ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
