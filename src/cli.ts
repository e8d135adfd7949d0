#!/usr/bin/env node
import './threadpool.js';
import { ConfigError, loadConfig, usage } from './config/config.js';
import { ferryVersion } from './api/spec.js';

/** `ferry serve [options]`, the server's own `run-task`, and the client commands (src/cli/). */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === 'version') {
    console.log(ferryVersion());
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const { help } = await import('./cli/main.js');
    console.log(help);
    return 0;
  }
  if (command === 'run-task') {
    // The detached supervisor of one run, started by the server.
    // Loaded on demand: a supervisor starts with each run, and needs none of the HTTP side.
    const [runId = '', ...flags] = rest;
    const { superviseRun, standBy } = await import('./tasks/supervisor.js');
    if (runId === '--standby') return standBy(loadConfig(flags).config);
    return superviseRun(loadConfig(flags).config, runId);
  }
  if (command !== 'serve') {
    // A client of a server: loaded on demand, none of the server's side is needed.
    const { runClientCommand } = await import('./cli/main.js');
    return runClientCommand(command, rest);
  }
  let parsed;
  try {
    parsed = loadConfig(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.showUsage ? `ferry: ${err.message}\n\n${usage}` : `ferry: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    console.log(usage);
    return 0;
  }
  if (parsed.version) {
    console.log(ferryVersion());
    return 0;
  }
  const { serve } = await import('./server.js');
  try {
    await serve(parsed.config);
  } catch (err) {
    // Asked for a sandbox that does not work here, or for an engine this server lacks: say why, without a stack.
    if (err instanceof Error && (err.name === 'SandboxUnavailableError' || err.name === 'SlurmUnavailableError' || err instanceof ConfigError)) {
      console.error(`ferry: ${err.message}`);
      return 1;
    }
    throw err;
  }
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
