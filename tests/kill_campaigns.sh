#!/usr/bin/env bash
# Kills recording campaigns with SIGKILL at random moments and checks what
# they leave (issue 19): every database passes PRAGMA integrity_check, every
# campaign killed half-way reads as interrupted in `quiesce trace runs` (its
# row still `running`, no end time), every campaign that ended before the
# kill reads as finished, and no run is half-written (each run row has its
# tracks). Half the kills hit `quiesce run` (-j 1 or -j 2), half `quiesce
# explore`; each gets a fresh database.
#   tests/kill_campaigns.sh [QUIESCE_BINARY] [KILLS]     (default build/quiesce, 100)
# Exit 0 when every check held, 1 otherwise. Takes a few minutes.
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
for i in $(seq 1 "$kills"); do
    db=$work/$i.db
    if [ $((i % 2)) -eq 1 ]; then
        args=(run $(for k in $(seq 40); do echo "$scenario"; done) -j $((1 + i % 4 / 2)) --db "$db")
    else
        args=(explore "$scenario" -j 1 --db "$db" $([ $((i % 4)) -eq 0 ] && echo --no-prefix))
    fi
    "$bin" "${args[@]}" >/dev/null 2>&1 &
    pid=$!
    # 0 to 2 s, mostly under 1 s: before the database is opened, mid-run,
    # or (a campaign takes 1 to 2 s) after the end.
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    [ $((RANDOM % 4)) -eq 0 ] && sleep 1
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
    elif [ "$row" = finished/0/all ] && [ "$state" = finished ]; then
        finished=$((finished + 1))
    else
        wrong=$((wrong + 1))
        echo "exit $st, trace runs says '$state', row (status/no end/all planned) '$row': ${args[*]}"
    fi
done
echo "$kills kills: $killed campaigns killed half-way, $finished finished before the kill, $early killed before a campaign row; $runs runs recorded"
echo "corrupted databases: $corrupt; campaigns shown wrongly: $wrong; half-written runs: $torn"
[ $corrupt -eq 0 ] && [ $wrong -eq 0 ] && [ $torn -eq 0 ]
