/**
 * The batch script of a run's Slurm job: a POSIX shell script that starts the
 * run's engine (in its sandbox) with exactly the environment Ferry gives
 * engines, forwards a SIGTERM from `scancel --batch --signal=TERM` to the
 * engine itself (so Toil's leader can stop its own jobs), and leaves the
 * engine's exit code in a file of the run folder, where the supervisor reads
 * it even after the scheduler has forgotten the job.
 */

/** Quotes one word for a POSIX shell: single quotes, each inner one closed, escaped and reopened. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface BatchScript {
  runId: string;
  /** The command to run: the sandbox's (bwrap …) or the engine's own. */
  argv: readonly string[];
  /** The engine's whole environment (the job's own is not passed on). */
  env: Record<string, string>;
  /** Where the engine starts (the run's execution folder). */
  cwd: string;
  /** Where the exit code goes: a file the supervisor can read (shared filesystem). */
  exitFile: string;
  /**
   * How many generations below the started process the engine is: 0 when it
   * is the engine, 2 in a bubblewrap sandbox (bwrap, its init, the engine).
   */
  leaderDepth: number;
}

/** The script's text. Every value is quoted: nothing from a run is ever read as shell. */
export function batchScript(job: BatchScript): string {
  if (job.argv.length === 0) throw new Error('empty command');
  const env = Object.entries(job.env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`not an environment variable name: ${k}`);
    return shellQuote(`${k}=${v}`);
  });
  const command = ['/usr/bin/env', '-i', ...env, ...job.argv.map(shellQuote)].join(' \\\n  ');
  return `#!/bin/sh
# Ferry run ${job.runId}: its engine, as one Slurm job. Written by Ferry; the run's supervisor watches the job.
exit_file=${shellQuote(job.exitFile)}
rm -f "$exit_file" "$exit_file.tmp"
# Slurm runs a job whose folder it cannot enter in /tmp instead: this one must not run at all.
cd ${shellQuote(job.cwd)} || { echo "ferry: cannot enter the run's folder on $(hostname): is the work folder shared with this node?" >&2; exit 1; }

# The engine's process: ${job.leaderDepth} generation(s) below the one started here (a sandbox's own processes in between).
leader() {
  pids=$1
  depth=${job.leaderDepth}
  while [ "$depth" -gt 0 ]; do
    next=''
    for p in $pids; do next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null)"; done
    [ -n "$(echo $next)" ] || break
    pids=$next
    depth=$((depth - 1))
  done
  echo $pids
}
forward() {
  # A SIGTERM for the job is a request to stop: the engine gets it, and stops its own work.
  for p in $(leader "$child"); do kill -TERM "$p" 2>/dev/null; done
}
trap forward TERM

${command} &
child=$!
# wait returns early when a trapped signal arrives: wait again until the engine is gone.
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break
done
printf '%s\\n' "$rc" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"
exit "$rc"
`;
}
