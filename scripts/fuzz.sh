#!/usr/bin/env bash
# make fuzz: runs the libFuzzer target fuzz_loaders over each input file kind
# for SECONDS each, one process under nice (-jobs=1 -workers=1), seeded from
# scenarios/ and the regression corpus tests/fuzz/<kind>/, with the
# dictionary tests/fuzz/loaders.dict. The working corpus and any crash go to
# BUILD/fuzz/. Exit 0 when no kind crashed, 1 otherwise.
#   scripts/fuzz.sh BUILD SECONDS KIND...
set -uo pipefail
build=$(cd "$1" && pwd) seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
target=$build/fuzz_loaders
[ -x "$target" ] || { echo "fuzz.sh: no $target (make fuzz builds it)" >&2; exit 2; }
seeds() {
    case $1 in
        scenario) echo "$root/scenarios/regression $root/scenarios/examples" ;;
        platform) echo "$root/scenarios/platforms" ;;
        protocol) echo "$root/scenarios/protocols" ;;
        driver) echo "$root/scenarios/drivers" ;;
        device) echo "$root/scenarios/devices" ;;
        *) echo "fuzz.sh: unknown kind '$1' (scenario, platform, protocol, driver, device)" >&2; exit 2 ;;
    esac
}
status=0
for kind in "$@"; do
    dirs=$(seeds "$kind") || exit 2
    work=$build/fuzz/$kind
    mkdir -p "$work/corpus" "$work/crashes"
    for d in $dirs; do cp -n "$d"/*.toml "$work/corpus/" 2>/dev/null; done
    [ -d "$root/tests/fuzz/$kind" ] && cp -n "$root/tests/fuzz/$kind"/* "$work/corpus/" 2>/dev/null
    before=$(ls "$work/crashes" | wc -l)
    # -jobs=1 -workers=1: one fuzzing process (logging to fuzz-0.log), the
    # machine's other cores left to others; -timeout: an input taking 10 s is a hang.
    (cd "$work" && QUIESCE_FUZZ_KIND=$kind nice "$target" -jobs=1 -workers=1 -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=4096 -dict="$root/tests/fuzz/loaders.dict" \
        -artifact_prefix="$work/crashes/" "$work/corpus" >/dev/null 2>&1)
    log=$work/fuzz-0.log
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)
    after=$(ls "$work/crashes" | wc -l)
    findings=$(grep -c '^fuzz_loaders: finding:' "$log")
    echo "$kind: ${done_line:-no 'Done' line (stopped by a crash?)}; last: $stats; corpus $(ls "$work/corpus" | wc -l) files; new crashes: $((after - before)); input errors without a location: $findings"
    if [ "$findings" -gt 0 ]; then
        status=1
        grep '^fuzz_loaders: finding:' "$log" | sed 's/^/  /'
    fi
    if [ "$after" -gt "$before" ] || ! grep -qE '^Done [0-9]+ runs' "$log"; then
        status=1
        ls "$work/crashes" | sed "s|^|  $work/crashes/|"
        grep -E 'ERROR|fuzz_loaders:|SUMMARY' "$log" | head -n 5 | sed 's/^/  /'
    fi
done
exit $status
