#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for Ferry's tests and for trying the Slurm
# executor by hand: a real slurmctld and slurmd (Debian's slurm-wlm) with their own munged, all
# their files in one state folder, started directly (no systemd).
#
#   scripts/slurm-cluster.sh start    install what is missing, write the config, start the daemons,
#                                     wait until the node is idle; says so when it already runs
#   scripts/slurm-cluster.sh stop     cancel the jobs, stop the daemons; leaves nothing running
#   scripts/slurm-cluster.sh status   exit 0 when the cluster answers (prints sinfo)
#   scripts/slurm-cluster.sh env      the `export` lines the clients (sbatch, squeue, ...) need:
#                                     eval "$(scripts/slurm-cluster.sh env)"
#
# For tests that run side by side (tap runs files in parallel) and share the cluster:
#   scripts/slurm-cluster.sh start --holder PID   start (or join) the cluster on behalf of process PID
#   scripts/slurm-cluster.sh release PID          PID is done with it: the last holder to leave stops
#                                                 the cluster, if a holder started it (one that was
#                                                 up before, or started by a plain `start`, stays up).
#                                                 Holders that died without releasing count as gone.
#
#   FERRY_SLURM_DIR        the state folder (default /tmp/ferry-slurm): slurm.conf, munge key and
#                          socket, controller state, spool, logs, pid files
#   FERRY_SLURM_PORT       slurmctld's port (default 16817); slurmd takes the next one. Not Slurm's
#                          6817/6818, so a system cluster on the machine is left alone.
#   FERRY_SLURM_CPUS       CPUs of the node (default: what slurmd finds)
#   FERRY_SLURM_MEMORY     RealMemory of the node in MB (default: what slurmd finds)
#   FERRY_SLURM_MIN_JOB_AGE  seconds a finished job stays in squeue/scontrol (default 300, Slurm's)
#   FERRY_SLURM_KILL_WAIT  seconds between SIGTERM and SIGKILL on scancel and time-outs (default 10)
#
# The daemons run as root (sudo is used when not root, as scripts/setup.sh does for apt).
#
# Munge: a private munged with its own key and socket inside the state folder (slurm.conf's
# AuthInfo=socket=... points slurmctld, slurmd and every client at it). It needs no munge user, no
# /etc/munge key, no /run/munge folder, and does not fight (or depend on) a system munged: two
# clusters on one machine, or a system one beside this, cannot mix up their keys.
#
# Robust to being killed at any point: the daemons are found by their command lines, which name the
# state folder, not only by pid files (a stale pid file names a dead or unrelated process); a start
# with some daemons missing stops the rest and starts all three again. A lock on the state folder
# keeps two starts (or a start and a stop) from running at once.
set -euo pipefail

dir=${FERRY_SLURM_DIR:-/tmp/ferry-slurm}
port=${FERRY_SLURM_PORT:-16817}
min_job_age=${FERRY_SLURM_MIN_JOB_AGE:-300}
kill_wait=${FERRY_SLURM_KILL_WAIT:-10}
conf="$dir/slurm.conf"
cmd=${1:-}

usage() { echo "usage: $0 start [--holder PID] | release PID | stop | status | env" >&2; exit 2; }
die() { echo "slurm-cluster: $*" >&2; exit 1; }
say() { echo "slurm-cluster: $*" >&2; }

holder=""
case "$cmd" in
  start)
    if [ $# -gt 1 ]; then
      if [ $# -ne 3 ] || [ "$2" != --holder ]; then usage; fi
      holder=$3
    fi
    ;;
  release) [ $# -eq 2 ] || usage; holder=$2 ;;
  stop | status | env) [ $# -eq 1 ] || usage ;;
  *) usage ;;
esac
case "$holder" in "" | *[!0-9]*) [ -z "$holder" ] || die "not a pid: $holder" ;; esac
case "$dir" in /*) ;; *) dir="$PWD/$dir"; conf="$dir/slurm.conf" ;; esac

export SLURM_CONF="$conf"
host=$(uname -n); host=${host%%.*} # slurmctld and slurmd compare the short hostname with the config
answers() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

case "$cmd" in
  env)
    echo "export SLURM_CONF=$conf"
    exit 0
    ;;
  status)
    answers || die "not running ($conf)"
    exec sinfo
    ;;
esac

# The daemons and their files are root's: become root for the rest (keeping our settings).
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "$cmd needs root, or sudo"
  exec sudo FERRY_SLURM_DIR="$dir" FERRY_SLURM_PORT="$port" FERRY_SLURM_MIN_JOB_AGE="$min_job_age" \
    FERRY_SLURM_KILL_WAIT="$kill_wait" FERRY_SLURM_CPUS="${FERRY_SLURM_CPUS:-}" \
    FERRY_SLURM_MEMORY="${FERRY_SLURM_MEMORY:-}" bash "$0" "$@"
fi

install_missing() {
  local missing=()
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing from Debian: ${missing[*]}"
    apt-get update -qq
    # Debian's packages try to start their services; with no init system that fails harmlessly.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# Pids of our daemons: processes whose command line names our state folder. munged, slurmctld and
# slurmd are started with it in their arguments; a pid file alone could name a stranger by now.
our_pids() { # [name]
  local p argv
  for p in /proc/[0-9]*; do
    # Builtins only: this runs over every process of the machine, several times a start or stop.
    mapfile -d '' argv 2>/dev/null <"$p/cmdline" || continue
    [ ${#argv[@]} -gt 1 ] || continue
    case "${argv[0]##*/}" in munged | slurmctld | slurmd) ;; *) continue ;; esac
    [ -z "${1:-}" ] || [ "${argv[0]##*/}" = "$1" ] || continue
    case " ${argv[*]}" in *" $dir/"* | *"=$dir/"*) echo "${p#/proc/}" ;; esac
  done
}

# slurmstepd (one per running job) outlives slurmd. slurmd starts it with an empty environment and
# in slurmd's own working folder, which is our log folder: that is how ours are told apart.
stepd_pids() {
  local p comm
  for p in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$p/comm" || continue
    [ "$comm" = slurmstepd ] || continue
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$dir/log" ] && echo "${p#/proc/}"
  done
  return 0
}

# A pid and all its descendants (by parent pid), deepest last.
with_descendants() {
  local todo=("$@") p c
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}")
    echo "$p"
    while read -r c; do todo+=("$c"); done < <(grep -l "^PPid:[[:space:]]*$p\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3)
  done
}

# SIGTERM, then SIGKILL what is still there after a few seconds.
terminate() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local p alive
  for _ in $(seq 50); do
    alive=()
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    [ ${#alive[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  kill -KILL "${alive[@]}" 2>/dev/null || true
}

node_state() { timeout 10 sinfo --noheader --nodes="$host" --format=%T 2>/dev/null | head -n 1; }

stop_cluster() {
  # Cancel what runs while the controller can still do it (its KillWait applies), then make sure.
  if [ -n "$(our_pids slurmctld)" ] && answers; then
    local jobs
    jobs=$(timeout 10 squeue --noheader --format=%A 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086 # job ids, one word each
      timeout 10 scancel $jobs 2>/dev/null || true
      for _ in $(seq $(((kill_wait + 5) * 5))); do
        [ -z "$(timeout 10 squeue --noheader --states=PENDING,RUNNING,COMPLETING,SUSPENDED --format=%A 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  local steps
  # shellcheck disable=SC2046 # pids, one word each
  terminate $(our_pids slurmctld; our_pids slurmd)
  steps=$(stepd_pids)
  # shellcheck disable=SC2046,SC2086 # pids, one word each
  [ -z "$steps" ] || terminate $(with_descendants $steps)
  # munged last: slurmctld and slurmd talk to it while shutting down.
  # shellcheck disable=SC2046 # pids, one word each
  terminate $(our_pids munged)
  rm -f "$dir/run/"*.pid "$dir/munge/munge.socket" "$dir/munge/munge.socket.lock"
}

write_config() {
  local found cpus mem
  found=$(slurmd -C 2>/dev/null | head -n 1 || true)
  cpus=${FERRY_SLURM_CPUS:-$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$found")}
  mem=${FERRY_SLURM_MEMORY:-$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$found")}
  [ -n "$cpus" ] || cpus=$(nproc)
  [ -n "$mem" ] || mem=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024))

  mkdir -p "$dir"/{munge,ctld,spool,log,run}
  chmod 755 "$dir" "$dir/run" "$dir/log"
  # munged wants its key and socket folder private to it; clients reach the socket through a 755 folder.
  chmod 755 "$dir/munge"
  chmod 700 "$dir/ctld" "$dir/spool"
  if [ ! -s "$dir/munge/munge.key" ]; then
    (umask 077; dd if=/dev/urandom of="$dir/munge/munge.key.tmp" bs=1024 count=1 status=none)
    mv "$dir/munge/munge.key.tmp" "$dir/munge/munge.key"
  fi
  chmod 400 "$dir/munge/munge.key"

  cat >"$conf.tmp" <<EOF
# Written by Ferry's scripts/slurm-cluster.sh: a one-node test cluster. Rewritten on every start.
ClusterName=ferry
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups: processes are tracked by process group, tasks are not confined (nor is memory).
ProctrackType=proctrack/pgid
TaskPlugin=task/none
# Every CPU is one slot: a node of N CPUs runs at most N one-CPU jobs at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# No accounting: no slurmdbd; sacct has nothing to read.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# How long a finished job stays in squeue and scontrol.
MinJobAge=$min_job_age
# SIGTERM to SIGKILL on scancel and at the time limit (slurmctld looks for jobs over their time
# every 30 s, a fixed interval; OverTimeLimit=0 adds no grace).
KillWait=$kill_wait
OverTimeLimit=0
InactiveLimit=0
# Start a submitted batch job at once (Slurm waits up to 3 s by default, to batch its scheduling).
SchedulerParameters=batch_sched_delay=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=ALL DefaultTime=10 MaxTime=30 State=UP
EOF
  chmod 644 "$conf.tmp"
  mv "$conf.tmp" "$conf"
}

tails() {
  local f
  for f in "$dir/log/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/log/"*.out; do
    [ -s "$f" ] || continue
    echo "--- $f (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
}

start_cluster() {
  if [ -n "$(our_pids munged)" ] && [ -n "$(our_pids slurmctld)" ] && [ -n "$(our_pids slurmd)" ] && answers; then
    say "already running ($conf)"
    return 0
  fi
  # A half-started or half-killed cluster: clear it away and start the whole of it.
  stop_cluster
  install_missing
  write_config
  rm -f "$dir/log/"*.out

  local munge_args=(--socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key"
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed")
  munged "${munge_args[@]}" >"$dir/log/munged.out" 2>&1 9>&- || { tails; die "munged did not start"; }
  local ok=no
  for _ in $(seq 50); do
    if munge --socket="$dir/munge/munge.socket" -n </dev/null 2>/dev/null | unmunge --socket="$dir/munge/munge.socket" >/dev/null 2>&1; then ok=yes; break; fi
    sleep 0.1
  done
  [ "$ok" = yes ] || { tails; die "munged does not answer on $dir/munge/munge.socket"; }

  # -i: start even when saved state is unreadable (a controller killed mid-write).
  slurmctld -i -f "$conf" >"$dir/log/slurmctld.out" 2>&1 9>&- || { tails; die "slurmctld did not start"; }
  local since
  since=$(date +%Y-%m-%dT%H:%M:%S)
  slurmd -f "$conf" >"$dir/log/slurmd.out" 2>&1 9>&- || { tails; die "slurmd did not start"; }

  # Ready when this slurmd has registered (a controller that recovered its state shows the node
  # idle before that) and the node takes jobs.
  local state="" registered
  for _ in $(seq 300); do
    state=$(node_state || true)
    registered=$(timeout 10 scontrol show node --oneliner "$host" 2>/dev/null | sed -n 's/.* SlurmdStartTime=\([^ ]*\).*/\1/p' || true)
    if [[ "$registered" > "$since" || "$registered" == "$since" ]]; then
      case "$state" in idle | mixed | allocated) say "running: node $host $state ($conf)"; return 0 ;; esac
    fi
    # A node left down or drained by an earlier life of the cluster: bring it back.
    case "$state" in down* | drain*) timeout 10 scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;; esac
    sleep 0.2
  done
  tails
  die "the node did not become idle within 60 s (state: ${state:-no answer})"
}

# A process, for good: its pid and its start time (a recycled pid has another).
process_id() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # the command name, in parentheses, may hold spaces
  # shellcheck disable=SC2086 # the fields, one word each
  set -- $stat
  echo "${20}" # field 22 of the whole line
}

# Holders whose process is gone are dropped; prints how many remain.
live_holders() {
  local f n=0
  for f in "$dir/holders/"[0-9]*; do
    [ -e "$f" ] || continue
    if [ "$(process_id "${f##*/}" || true)" = "$(cat "$f")" ]; then n=$((n + 1)); else rm -f "$f"; fi
  done
  echo "$n"
}

mkdir -p "$dir/holders"
exec 9>"$dir/.lock"
flock 9

case "$cmd" in
  start)
    was_up=no
    if [ -n "$(our_pids slurmctld)" ] && answers; then was_up=yes; fi
    start_cluster
    if [ -n "$holder" ]; then
      id=$(process_id "$holder") || die "no process $holder to hold the cluster for"
      echo "$id" >"$dir/holders/$holder"
      # Started here, for a holder: the last holder to leave stops it.
      if [ "$was_up" = no ]; then touch "$dir/holders/.stop-with-last"; fi
    else
      # Someone wants it up, whoever else uses it: no holder stops it any more.
      rm -f "$dir/holders/.stop-with-last"
    fi
    ;;
  release)
    rm -f "$dir/holders/$holder"
    if [ "$(live_holders)" -eq 0 ] && [ -e "$dir/holders/.stop-with-last" ]; then
      stop_cluster
      rm -f "$dir/holders/.stop-with-last"
      say "stopped (its last holder left)"
    fi
    ;;
  stop)
    stop_cluster
    rm -f "$dir/holders/"* "$dir/holders/.stop-with-last"
    say "stopped"
    ;;
esac
