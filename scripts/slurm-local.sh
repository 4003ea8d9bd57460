#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, for trying docs/scale-out.md's job
# array without a cluster (tests/slurm_array.sh runs it in CTest).
#
#   scripts/slurm-local.sh start DIR   munge key, slurm.conf, munged, slurmctld
#                                      and slurmd, all in DIR; returns once
#                                      `sinfo` shows the node idle
#   scripts/slurm-local.sh stop DIR    stops the three daemons started in DIR
#
# Then `export SLURM_CONF=DIR/slurm.conf` (DIR/env says so) and use sbatch,
# squeue, sinfo as usual. Needs Debian's slurm-wlm and munge (make test
# installs them: scripts/install-deps.sh --tests) and root: the daemons run
# as root, without systemd, their logs in DIR/*.log. Nothing outside DIR is
# written; the ports are the first free ones from 16817 up.
set -euo pipefail

die() {
  echo "slurm-local: $*" >&2
  exit 1
}

# A TCP port nothing listens on, from $1 up.
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

show_logs() {
  local f
  for f in "$1"/munged.log "$1"/slurmctld.log "$1"/slurmd.log; do
    [ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
  done
  return 0
}

start() {
  local dir=$1
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their user and must be root)"
  local b
  for b in munged slurmctld slurmd sinfo sbatch; do
    command -v "$b" >/dev/null || PATH=$PATH:/usr/sbin command -v "$b" >/dev/null ||
      die "$b not found: install Debian's slurm-wlm and munge (scripts/install-deps.sh --tests)"
  done
  export PATH=$PATH:/usr/sbin
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 700 "$dir"
  mkdir -p "$dir/state" "$dir/spool"

  # munge: a fresh key, its own socket; munged refuses group/world-readable keys.
  umask 077
  head -c 1024 /dev/urandom >"$dir/munge.key"
  munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge.seed" ||
    { show_logs "$dir"; die "munged did not start"; }
  umask 022

  local host ctld_port slurmd_port hw
  host=$(hostname -s)
  ctld_port=$(free_port 16817)
  slurmd_port=$(free_port $((ctld_port + 1)))
  # The node as slurmd sees the hardware (a node configured with more CPUs
  # than it has is drained), renamed localhost.
  hw=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//')
  cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: one node, localhost, everything in $dir.
ClusterName=quiesce-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$dir/slurm.conf" >"$dir/env"
  export SLURM_CONF=$dir/slurm.conf

  slurmctld -c -f "$SLURM_CONF" || { show_logs "$dir"; die "slurmctld did not start"; }
  slurmd -c -f "$SLURM_CONF" -N localhost || { show_logs "$dir"; die "slurmd did not start"; }

  local i state=""
  for i in $(seq 1 120); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [ "$state" = idle ] && { echo "slurm-local: node localhost idle (SLURM_CONF=$SLURM_CONF)"; return 0; }
    sleep 0.5
  done
  show_logs "$dir"
  die "node localhost not idle after 60 s (sinfo says '${state:-nothing}')"
}

stop() {
  local dir=$1 d pid i
  for d in slurmd slurmctld munged; do
    [ -f "$dir/$d.pid" ] || continue
    pid=$(cat "$dir/$d.pid")
    # Only the daemon this directory started: its pid file, its command name.
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ]; then
      kill "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$d.pid"
  done
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
