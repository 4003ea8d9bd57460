#!/usr/bin/env bash
# Kills recording campaigns with SIGKILL at random moments and checks what
# they leave (issue 19): every database passes PRAGMA integrity_check, every
# campaign killed half-way reads as interrupted in `quiesce trace runs` (its
# row still `running`, no end time), every campaign that ended before the
# kill reads as finished, and no run is half-written (each run row has its
# tracks). Half the kills hit `quiesce run` (-j 1 or -j 2), half `quiesce
# explore`; each gets a fresh database.
#   tests/kill_campaigns.sh [QUIESCE_BINARY] [KILLS]     (default build/quiesce, 100)
# Both commands must have had a campaign killed half-way with runs recorded
# (else the checks proved nothing about it: too few kills). CTest runs it
# with 16 kills (tests/CMakeLists.txt, about 10 s).
# Exit 0 when every check held, 1 otherwise. 100 kills take a minute or two.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/build/quiesce}")
kills=${2:-100}
command -v sqlite3 >/dev/null || { echo "kill_campaigns.sh: needs the sqlite3 command" >&2; exit 2; }
[ -x "$bin" ] || { echo "kill_campaigns.sh: no $bin" >&2; exit 2; }
work=$(mktemp -d /tmp/quiesce-kill-XXXXXX)
trap 'rm -rf "$work"' EXIT
scenario=$root/scenarios/regression/s3-basic.toml
RANDOM=19  # the same kill times each time the script runs
killed=0 finished=0 early=0 corrupt=0 wrong=0 torn=0 runs=0
declare -A cmd_killed=([run]=0 [explore]=0) cmd_runs=([run]=0 [explore]=0) took=() opened_at=()
for i in $(seq 1 "$kills"); do
    db=$work/$i.db
    if [ $((i % 2)) -eq 1 ]; then
        jobs=$((1 + i % 4 / 2))
        variant="run -j $jobs"
        args=(run $(for k in $(seq 40); do echo "$scenario"; done) -j $jobs --db "$db")
    else
        prefix=$([ $((i % 4)) -eq 0 ] && echo --no-prefix)
        variant="explore${prefix:+ $prefix}"
        args=(explore "$scenario" -j 1 --db "$db" $prefix)
    fi
    # How long this kind of campaign takes here, and when its database
    # appears (after loading and checking its scenarios: for `run`, a
    # large part of a short campaign), measured once, uninterrupted, on a
    # database of its own: the kills are spread from three quarters of the
    # way to the database's opening to 1.25 times the recording after it,
    # so most land mid-campaign on a fast machine or a slow one, a few
    # before the database is opened, a fifth after the end.
    if [ -z "${took[$variant]:-}" ]; then
        t0=$(date +%s%N)
        "$bin" "${args[@]/#$db/$work/measure.db}" >/dev/null 2>&1 &
        m=$!
        opened=""
        # Waits of 2 ms with bash's own `read -t` (no process forked per
        # wait: a `sleep` each time loaded the machine and slowed the very
        # campaign being timed).
        exec {never}<> <(:)
        while kill -0 "$m" 2>/dev/null; do
            [ -z "$opened" ] && [ -e "$work/measure.db" ] && opened=$(( ($(date +%s%N) - t0) / 1000000 ))
            read -r -t 0.002 -u "$never" _ || true
        done
        exec {never}<&-
        wait "$m"
        took[$variant]=$(( ($(date +%s%N) - t0) / 1000000 ))
        opened_at[$variant]=${opened:-0}
        rm -f "$work"/measure.db*
    fi
    start=$(( opened_at[$variant] * 3 / 4 ))
    delay=$(( start + (RANDOM % 1000) * (took[$variant] - start) * 5 / 4 / 1000 ))
    "$bin" "${args[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    st=$?
    if [ ! -e "$db" ]; then
        early=$((early + 1))
        continue
    fi
    integrity=$(sqlite3 -readonly "$db" "PRAGMA integrity_check" 2>&1)
    if [ "$integrity" != "ok" ]; then
        corrupt=$((corrupt + 1))
        echo "corrupted: ${args[*]}: $integrity"
        continue
    fi
    campaigns=$(sqlite3 -readonly "$db" "SELECT count(*) FROM campaign" 2>/dev/null || echo 0)
    if [ "$campaigns" = 0 ]; then  # killed between creating the file and writing the campaign row
        early=$((early + 1))
        continue
    fi
    n=$(sqlite3 -readonly "$db" "SELECT count(*) FROM run")
    runs=$((runs + n))
    bare=$(sqlite3 -readonly "$db" "SELECT count(*) FROM run r WHERE NOT EXISTS (SELECT 1 FROM track t WHERE t.run_id = r.id)")
    [ "$bare" != 0 ] && { torn=$((torn + 1)); echo "a run without tracks: ${args[*]}"; }
    state=$("$bin" trace runs "$db" 2>&1 | awk '$0 ~ /^ *campaign +state/ {getline; print $2}')
    row=$(sqlite3 -readonly "$db" "SELECT status || '/' || (ended_at IS NULL) || '/' ||
        CASE WHEN planned IS NULL THEN 'unplanned' WHEN planned = (SELECT count(*) FROM run) THEN 'all'
             WHEN planned > (SELECT count(*) FROM run) THEN 'fewer' ELSE 'more' END FROM campaign")
    # Killed half-way: the row still `running`, no end, no more runs than
    # planned (all of them if the kill came after the last run but before
    # the end: explore's report), shown interrupted. Finished (the kill came
    # after the end was written, or never came): the row `finished` with an
    # end and every planned run, shown finished.
    if [[ "$row" =~ ^running/1/(fewer|all|unplanned)$ ]] && [ "$st" -eq 137 ] && [ "$state" = interrupted ]; then
        killed=$((killed + 1))
        cmd_killed[${args[0]}]=$((cmd_killed[${args[0]}] + 1))
        cmd_runs[${args[0]}]=$((cmd_runs[${args[0]}] + n))
    elif [ "$row" = finished/0/all ] && [ "$state" = finished ]; then
        finished=$((finished + 1))
    else
        wrong=$((wrong + 1))
        echo "exit $st, trace runs says '$state', row (status/no end/all planned) '$row': ${args[*]}"
    fi
done
echo "campaign durations measured (ms, database opened at): $(for v in "${!took[@]}"; do printf '%s: %s (%s); ' "$v" "${took[$v]}" "${opened_at[$v]}"; done)"
echo "$kills kills: $killed campaigns killed half-way, $finished finished before the kill, $early killed before a campaign row; $runs runs recorded"
echo "killed half-way: ${cmd_killed[run]} run campaigns holding ${cmd_runs[run]} runs, ${cmd_killed[explore]} explore campaigns holding ${cmd_runs[explore]}"
echo "corrupted databases: $corrupt; campaigns shown wrongly: $wrong; half-written runs: $torn"
# Both commands must have been caught half-way with runs recorded, or the
# checks above proved nothing about one of them.
missed=0
for c in run explore; do
    if [ "${cmd_killed[$c]}" -eq 0 ] || [ "${cmd_runs[$c]}" -eq 0 ]; then
        echo "no $c campaign was killed half-way after recording a run: more kills needed"
        missed=1
    fi
done
[ $corrupt -eq 0 ] && [ $wrong -eq 0 ] && [ $torn -eq 0 ] && [ $missed -eq 0 ]
