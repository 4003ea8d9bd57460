#!/usr/bin/env bash
# docs/scale-out.md's Slurm job array, run as the page writes it: its three
# sh blocks (explore.sbatch, merge.sbatch, the submission) are taken from
# the page, not copied here, and run on a one-node cluster on localhost
# (scripts/slurm-local.sh: munged, slurmctld and slurmd as root). Then the
# findings of the merged database must be those of one unsharded explore
# of the same scenario - the job script itself, run outside Slurm as the
# only shard. A machine where the cluster cannot start fails the test.
#   tests/slurm_array.sh QUIESCE SOURCE_DIR
set -uo pipefail
quiesce=$1
src=$2
doc=$src/docs/scale-out.md

work=$(mktemp -d /tmp/quiesce-slurm.XXXXXX)
cluster=$work/cluster
cleanup() {
  "$src/scripts/slurm-local.sh" stop "$cluster" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "slurm_array: FAIL: $*" >&2
  local f
  for f in "$work"/job/slurm-*.out "$cluster"/slurmctld.log "$cluster"/slurmd.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

# The ```sh block of the page with a line starting "# NAME:".
block() {
  awk -v name="$1" '
    /^```/ {
      if (inb) { if (hit) { printf "%s", buf; found = 1; exit } inb = 0; next }
      if ($0 == "```sh") { inb = 1; buf = ""; hit = 0 }
      next
    }
    inb { buf = buf $0 "\n"; if (index($0, "# " name ":") == 1) hit = 1 }
    END { exit found ? 0 : 1 }' "$doc"
}

mkdir -p "$work/job" "$work/whole" "$work/tmp" "$work/bin"
# The jobs call `quiesce` from the PATH, as on a cluster.
ln -s "$(cd "$(dirname "$quiesce")" && pwd)/$(basename "$quiesce")" "$work/bin/quiesce"
for d in job whole; do
  ln -s "$src/scenarios" "$work/$d/scenarios"
  block explore.sbatch >"$work/$d/explore.sbatch" || fail "no sh block with '# explore.sbatch:' in $doc"
done
block merge.sbatch >"$work/job/merge.sbatch" || fail "no sh block with '# merge.sbatch:' in $doc"
block submit >"$work/job/submit.sh" || fail "no sh block with '# submit:' in $doc"
tasks=$(sed -n 's/^#SBATCH --array=0-\([0-9]*\)$/\1/p' "$work/job/explore.sbatch")
[ -n "$tasks" ] || fail "explore.sbatch has no '#SBATCH --array=0-N' line"
tasks=$((tasks + 1))

# The unsharded reference: the same script, outside Slurm, one shard of one,
# whose last attempt left its local database behind (a requeued task): it
# must start afresh, not append to it or stop at it.
echo "an old attempt" >"$work/tmp/quiesce-whole-0.db"
(cd "$work/whole" && PATH=$work/bin:$PATH TMPDIR=$work/tmp SLURM_ARRAY_TASK_ID=0 \
  SLURM_ARRAY_TASK_COUNT=1 SLURM_ARRAY_JOB_ID=whole SLURM_CPUS_PER_TASK=2 sh explore.sbatch >explore.out 2>&1) ||
  fail "explore.sbatch outside Slurm (one shard) exited $?: $(tail -n 3 "$work/whole/explore.out")"
[ -f "$work/whole/shards/explore-0.db" ] || fail "explore.sbatch outside Slurm wrote no shards/explore-0.db"

# The merge with no shard database: a clear error, not a merge of the glob.
mkdir -p "$work/empty"
cp "$work/job/merge.sbatch" "$work/empty/"
(cd "$work/empty" && PATH=$work/bin:$PATH TMPDIR=$work/tmp SLURM_JOB_ID=empty SLURM_CPUS_PER_TASK=2 \
  sh merge.sbatch >merge.out 2>&1) && fail "merge.sbatch with no shard database exited 0"
grep -q 'no shard database' "$work/empty/merge.out" ||
  fail "merge.sbatch with no shard database did not say so: $(cat "$work/empty/merge.out")"
[ -e "$work/empty/explore.db" ] && fail "merge.sbatch with no shard database wrote explore.db"

"$src/scripts/slurm-local.sh" start "$cluster" ||
  fail "could not start a one-node Slurm cluster (scripts/slurm-local.sh; needs root and Debian's slurm-wlm and munge: scripts/install-deps.sh --tests)"
export SLURM_CONF=$cluster/slurm.conf
export PATH=$work/bin:$PATH:/usr/sbin
export TMPDIR=$work/tmp

cd "$work/job"
sh submit.sh >submit.out 2>&1 || fail "the submission block exited $?: $(cat submit.out)"
merge=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' submit.out | tail -n 1)
[ -n "$merge" ] || fail "the submission block printed no 'Submitted batch job N': $(cat submit.out)"
# Wait for the merge job, and so for the whole array. (sbatch --wait would
# do, but it polls at growing intervals: 40 s for 13 s of jobs.)
state=""
for i in $(seq 1 1200); do
  state=$(scontrol -o show job "$merge" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  case $state in PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.5 ;; *) break ;; esac
done
case $state in PENDING | RUNNING | CONFIGURING | COMPLETING | "") fail "the merge job $merge is still ${state:-unknown} after 600 s: $(squeue 2>&1)" ;; esac

# Every array task and the merge ended COMPLETED with exit 0 (a shard that
# found something exits 0 in this recipe).
scontrol -o show job >jobs.txt || fail "scontrol show job failed"
n=$(grep -c 'JobName=quiesce-explore ' jobs.txt)
[ "$n" -eq "$tasks" ] || fail "$n array tasks known to Slurm, the page's --array makes $tasks"
ok=$(grep 'JobName=quiesce-explore ' jobs.txt | grep -c 'JobState=COMPLETED .*ExitCode=0:0')
[ "$ok" -eq "$tasks" ] || fail "$ok of $tasks array tasks COMPLETED with exit 0: $(grep 'JobName=quiesce-explore ' jobs.txt | grep -o 'JobState=[A-Z]* .*ExitCode=[0-9:]*' | sed 's/ Reason.*ExitCode/ ExitCode/')"
grep "JobId=$merge " jobs.txt | grep -q 'JobState=COMPLETED .*ExitCode=0:0' ||
  fail "the merge job $merge did not complete with exit 0: $(grep "JobId=$merge " jobs.txt | grep -o 'JobState=[A-Z]*')"

for i in $(seq 0 $((tasks - 1))); do
  [ -f "shards/explore-$i.db" ] || fail "no shards/explore-$i.db"
done
ls shards | grep -q '\.part$' && fail "a partial copy is left in shards/"
[ -f explore.db ] || fail "the merge job wrote no explore.db"
ls repro/*.toml >/dev/null 2>&1 || fail "the merge job wrote no reproducer in repro/"

"$quiesce" findings explore.db >merged.txt 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "quiesce findings explore.db exited $rc: $(cat merged.txt)"
(cd "$work/whole" && "$quiesce" findings shards/explore-0.db >"$work/job/whole.txt" 2>&1)
rc=$?
[ "$rc" -le 1 ] || fail "quiesce findings of the unsharded database exited $rc: $(cat whole.txt)"
grep -q 'distinct violation' whole.txt || fail "the unsharded explore found nothing, so the comparison would prove nothing: $(cat whole.txt)"
diff -u whole.txt merged.txt || fail "the merged database's findings differ from the unsharded explore's (above)"
echo "slurm_array: $tasks array tasks and the merge completed on a one-node Slurm cluster; the merged findings are the unsharded explore's:"
cat merged.txt
