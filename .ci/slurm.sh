#!/usr/bin/env bash
# Start or stop a throw-away, single-node SLURM cluster (Debian 12 packages,
# Slurm 22.05 + munge) so that CI can run the Snakemake SLURM executor against
# a real scheduler.
#
#   .ci/slurm.sh start   install (if missing) and start munged, slurmctld, slurmd;
#                        print "SLURM_CONF=<path>" on stdout (all chatter goes to
#                        stderr), e.g.  export "$(.ci/slurm.sh start)"
#                        or in GitHub Actions  .ci/slurm.sh start >> "$GITHUB_ENV"
#   .ci/slurm.sh stop    cancel jobs left on this cluster, then end exactly the
#                        daemons that `start` recorded; nothing else.
#
# Environment:
#   SLURM_STATE_DIR      where config, state, logs and PID files live
#                        (default /tmp/conceptbench-slurm). `start` wipes it,
#                        but only if an earlier `start` created it.
#   SLURM_START_TIMEOUT  seconds to wait for each daemon to answer (default 60).
#
# Everything (config, state, logs, PIDs, munge socket) lives in the state dir,
# so the cluster cannot collide with anything else on the machine; slurm.conf
# points slurm at the private munge socket (AuthInfo=socket=...).
# The one exception is a symlink /etc/slurm/slurm.conf -> $STATE/slurm.conf,
# which `stop` removes again. It is needed because Slurm clients find their
# config through SLURM_CONF or that compiled-in path, and the Snakemake jobstep
# plugin (0.6.1) deletes SLURM_CONF, with every other SLURM_* variable, before
# the `srun` it runs inside each job; that srun then fails with "Could not
# establish a configuration source". With the symlink, SLURM_CONF is optional;
# `start` still prints it, and callers should export it anyway.
#
# Must run as root: it installs packages, runs munged as the munge user and
# runs slurmd, which has to switch to the job owner's uid.

set -euo pipefail

STATE="${SLURM_STATE_DIR:-/tmp/conceptbench-slurm}"
START_TIMEOUT="${SLURM_START_TIMEOUT:-60}"
# A file that marks a directory as ours, so `start` never wipes a directory
# that somebody pointed SLURM_STATE_DIR at by mistake.
MARKER="$STATE/.conceptbench-slurm-state"
CONF="$STATE/slurm.conf"
PIDDIR="$STATE/pids"
LOGDIR="$STATE/log"
MUNGEDIR="$STATE/munge"
# The three daemons, in start order; `stop` ends them in reverse order.
DAEMONS=(munged slurmctld slurmd)
# Slurm's compiled-in config path (see above); we only ever put a symlink here.
ETC_CONF=/etc/slurm/slurm.conf
CTLD_PORT=6817
SLURMD_PORT=6818

log() { echo "slurm.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- helpers

# Is some process listening on TCP port $1 (IPv4 or IPv6)? Read /proc
# directly rather than rely on `ss`/`netstat` being installed. In
# /proc/net/tcp* the local address is "ADDR:PORT" in hex and state 0A = LISTEN.
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v port="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == port && $4 == "0A") found = 1 }
                      END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# PID recorded for daemon $1, or nothing.
recorded_pid() {
  local f="$PIDDIR/$1.pid"
  [[ -s $f ]] && cat "$f"
  return 0
}

# Is PID $2 alive AND still the daemon $1 we started? Checking the process
# name guards against the kernel having reused the PID for something else,
# which we must never signal.
is_our_daemon() {
  local name=$1 pid=$2
  [[ -n $pid && -r /proc/$pid/comm ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

# Run a slurm client command against this cluster only, never hanging:
# a wedged slurmctld must turn into an error, not a stuck CI job.
sl() { SLURM_CONF="$CONF" timeout 10 "$@"; }

# Print the tail of every daemon's output, so a failed start explains itself.
# The *.out files are enough: in the foreground (-D, --foreground) the daemons
# copy their log to stdout, including errors from before the log file opened.
dump_logs() {
  local f
  for f in "$LOGDIR"/*.out; do
    [[ -s $f ]] || continue
    log "----- last lines of $f -----"
    tail -n 40 "$f" >&2
  done
}

# Wait until command "$@" succeeds, at most START_TIMEOUT seconds, while
# daemon $1 is still alive (no point waiting for a daemon that died).
wait_for() {
  local what=$1 daemon=$2; shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    is_our_daemon "$daemon" "$(recorded_pid "$daemon")" ||
      { dump_logs; die "$daemon exited while waiting for: $what"; }
    ((SECONDS < deadline)) ||
      { dump_logs; die "timed out after ${START_TIMEOUT}s waiting for: $what"; }
    sleep 0.2
  done
}

# Start daemon $1 (the remaining arguments are its command line) in the
# background, in its own session so that signals aimed at the caller's process
# group (Ctrl-C, a CI step's timeout) do not take the cluster down half-way,
# and record its PID.
launch() {
  local name=$1; shift
  # setsid execs directly (no fork) because a background child of this
  # non-interactive script is not a process-group leader; so $! is the daemon.
  setsid "$@" </dev/null >"$LOGDIR/$name.out" 2>&1 &
  local pid=$!
  echo "$pid" >"$PIDDIR/$name.pid"
  # Give exec a moment, then make sure $! really is the daemon we meant
  # (stop relies on the recorded PID being exactly that process).
  sleep 0.3
  is_our_daemon "$name" "$pid" ||
    { dump_logs; die "$name (pid $pid) did not start or is not '$name' after exec"; }
  log "started $name (pid $pid)"
}

# Are any daemons from an earlier `start` still running?
any_recorded_alive() {
  local d
  for d in "${DAEMONS[@]}"; do
    is_our_daemon "$d" "$(recorded_pid "$d")" && return 0
  done
  return 1
}

all_recorded_alive() {
  local d
  for d in "${DAEMONS[@]}"; do
    is_our_daemon "$d" "$(recorded_pid "$d")" || return 1
  done
  return 0
}

node_idle() {
  [[ $(sl sinfo --noheader --nodes="$NODE" --format=%t 2>/dev/null) == idle ]]
}

# Up and usable, possibly busy with jobs (for reusing a running cluster).
node_up() {
  [[ $(sl sinfo --noheader --nodes="$NODE" --format=%t 2>/dev/null) =~ ^(idle|mix|alloc|comp)$ ]]
}

# ---------------------------------------------------------------- start

install_packages() {
  local missing=() p
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt-get, non-interactive)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # --no-install-recommends: the recommends pull in mail and X-related bits we
  # do not need; these four packages are enough for a one-node cluster.
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >&2
}

write_slurm_conf() {
  # Measure the node instead of guessing: slurm refuses to use a node whose
  # configured CPUs/memory exceed what slurmd finds. Keep ~256 MB back for the
  # OS so the node never drains for "Low RealMemory".
  local cpus mem
  cpus=$(nproc)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  [[ -n $mem ]] || die "could not read RealMemory from 'slurmd -C'"
  mem=$((mem > 1024 ? mem - 256 : mem))
  # Jobs that ask for no memory would otherwise get the whole node under
  # CR_Core_Memory, and then only one job could run at a time.
  local defmem=$((mem / cpus))

  cat >"$CONF" <<EOF
# Written by .ci/slurm.sh: a throw-away one-node cluster for CI. Not for production.
ClusterName=conceptbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# Root owns the daemons; jobs still run as whoever submits them.
SlurmUser=root
SlurmdUser=root
# munged runs with a private socket in the state dir (see .ci/slurm.sh).
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGEDIR/munge.socket
# No systemd/cgroups on CI machines: track processes via /proc instead.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd, hence no accounting and no working sacct: clients must use
# squeue (Snakemake: slurm-status-command: squeue).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Keep finished jobs visible in squeue/scontrol for 10 minutes: the Snakemake
# plugin learns a job's end state from squeue, and falls back to sacct (which
# fails here) unless MinJobAge >= 3 x its first status-check delay.
MinJobAge=600
# A node that comes (back) up with a valid config is usable at once.
ReturnToService=2
# Seconds between SIGTERM and SIGKILL on time limit/scancel (default 30):
# short, so cancelled CI jobs end quickly.
KillWait=5
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE DefMemPerCPU=$defmem State=UP
EOF
}

# Point /etc/slurm/slurm.conf at our config. Refuse to touch a real file or
# a symlink into somebody else's live config: that is another cluster's.
link_etc_conf() {
  if [[ -L $ETC_CONF ]]; then
    local target
    target=$(readlink "$ETC_CONF")
    # Ours from an earlier start (maybe another state dir), or dangling: replace.
    if [[ -e $target && ! -f $(dirname "$target")/.conceptbench-slurm-state ]]; then
      die "$ETC_CONF is a symlink to $target, which this script did not create; refusing to replace it"
    fi
  elif [[ -e $ETC_CONF ]]; then
    die "$ETC_CONF exists (a real slurm config?); refusing to overwrite it"
  fi
  mkdir -p "$(dirname "$ETC_CONF")"
  ln -sfn "$CONF" "$ETC_CONF"
}

# Remove the symlink, but only if it still points at this state dir's config.
unlink_etc_conf() {
  if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
    rm -f "$ETC_CONF"
    log "removed $ETC_CONF symlink"
  fi
}

start_munged() {
  # munge refuses sockets/logs in directories that others may write to; a
  # munge-owned 0711 directory is private yet lets clients reach the socket.
  install -d -o munge -g munge -m 0711 "$MUNGEDIR"
  # Debian's postinst normally creates the key; create one if it is missing.
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  # setpriv (unlike runuser/su) execs in place, so the recorded PID is munged.
  launch munged setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground \
    --socket="$MUNGEDIR/munge.socket" \
    --pid-file="$MUNGEDIR/munged.pid" \
    --log-file="$MUNGEDIR/munged.log" \
    --seed-file="$MUNGEDIR/munged.seed"
  wait_for "munged socket" munged test -S "$MUNGEDIR/munge.socket"
}

cmd_start() {
  [[ $(id -u) == 0 ]] || die "must run as root (installs packages, starts daemons)"
  NODE=$(hostname -s)

  # Idempotency: if an earlier `start` left its daemons running, reuse them
  # when they all still answer; if only some survive, refuse rather than guess.
  if [[ -f $MARKER ]] && any_recorded_alive; then
    if all_recorded_alive && sl scontrol ping >/dev/null 2>&1 && node_up; then
      log "cluster from an earlier start is still running in $STATE; reusing it"
      link_etc_conf
      echo "SLURM_CONF=$CONF"
      return 0
    fi
    die "a partial cluster from an earlier start is running in $STATE; run '$0 stop' first"
  fi

  # Ports held by anyone else (a system slurm, another state dir): fail now,
  # with a clear message, instead of a bind error buried in a log.
  local port
  for port in $CTLD_PORT $SLURMD_PORT; do
    port_listening "$port" && die "TCP port $port is already in use (another slurm running?)"
  done

  install_packages

  # Fresh state dir: only wipe what an earlier `start` created.
  if [[ -e $STATE ]]; then
    if [[ -f $MARKER ]]; then
      rm -rf "$STATE"
    elif [[ -n $(ls -A "$STATE") ]]; then
      die "$STATE exists, is not empty and was not made by this script; refusing to wipe it"
    fi
  fi
  mkdir -p "$STATE" "$PIDDIR" "$LOGDIR" "$STATE/ctld" "$STATE/spool" "$STATE/run"
  touch "$MARKER"
  write_slurm_conf
  echo "SLURM_CONF=$CONF" >"$STATE/env"

  # From here on, a failure (die, or any failing command under set -e) must
  # not leave half a cluster behind: on an early exit, stop what we started.
  trap 'log "start failed; stopping what was started"; cmd_stop || true' EXIT
  link_etc_conf

  local t0=$SECONDS
  start_munged

  # -D: foreground, so the PID we record is the daemon itself.
  # -i: ignore unreadable state files (there are none in a fresh dir anyway).
  launch slurmctld slurmctld -D -i -f "$CONF"
  wait_for "slurmctld to answer 'scontrol ping'" slurmctld sl scontrol ping

  # slurmd must register under the name in slurm.conf, which is hostname -s.
  launch slurmd slurmd -D -f "$CONF" -N "$NODE"
  wait_for "node $NODE to be idle in sinfo" slurmd node_idle

  trap - EXIT
  log "cluster up in $((SECONDS - t0))s: node $NODE idle, partition debug; state in $STATE"
  echo "SLURM_CONF=$CONF"
}

# ---------------------------------------------------------------- stop

cmd_stop() {
  [[ -d $PIDDIR ]] || { unlink_etc_conf; log "nothing recorded in $STATE; nothing to stop"; return 0; }

  # Jobs still running on *this* cluster would outlive slurmd (their
  # slurmstepd processes are independent). Cancel them through slurm, which
  # only knows about jobs submitted to this cluster, and give them a moment.
  if is_our_daemon slurmctld "$(recorded_pid slurmctld)"; then
    local jobs
    jobs=$(sl squeue --noheader --states=PENDING,RUNNING,SUSPENDED,COMPLETING --format=%i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      log "cancelling jobs still on the cluster: $(echo $jobs)"
      # shellcheck disable=SC2086  # word splitting wanted: one id per word
      sl scancel $jobs || true
      local deadline=$((SECONDS + 15))
      while [[ -n $(sl squeue --noheader --states=RUNNING,COMPLETING --format=%i 2>/dev/null) ]] &&
        ((SECONDS < deadline)); do
        sleep 0.5
      done
    fi
  fi

  # Reverse start order: slurmd, slurmctld, munged (slurm needs munge to
  # shut down cleanly).
  local i name pid
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name=${DAEMONS[i]}
    pid=$(recorded_pid "$name")
    if [[ -z $pid ]]; then
      continue
    fi
    if ! is_our_daemon "$name" "$pid"; then
      log "$name (pid $pid) is not running; nothing to do"
      rm -f "$PIDDIR/$name.pid"
      continue
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while is_our_daemon "$name" "$pid" && ((SECONDS < deadline)); do
      sleep 0.2
    done
    if is_our_daemon "$name" "$pid"; then
      log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    rm -f "$PIDDIR/$name.pid"
  done

  unlink_etc_conf

  # We never kill job processes by hand, but say so if some survived: with
  # proctrack/linuxproc, a job process whose parent died first (reparented to
  # init) escapes slurm's final SIGKILL. Job processes carry the cluster name
  # in their environment, which is how we recognise them.
  local p leftover=()
  for p in /proc/[0-9]*; do
    if grep -qz "^SLURM_CLUSTER_NAME=conceptbench\$" "$p/environ" 2>/dev/null; then
      leftover+=("${p#/proc/}")
    fi
  done
  if ((${#leftover[@]})); then
    log "warning: processes from jobs of this cluster are still running (not killed):"
    ps -o pid=,ppid=,args= -p "$(IFS=,; echo "${leftover[*]}")" | cut -c1-150 >&2 || true
  fi
  log "stopped; logs kept in $LOGDIR"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *)
    echo "usage: $0 start|stop   (state dir: \${SLURM_STATE_DIR:-/tmp/conceptbench-slurm})" >&2
    exit 2
    ;;
esac
