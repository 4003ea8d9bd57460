#!/usr/bin/env bash
# The Chrome JSON in a real client: speedscope (from the npm registry, with
# playwright-core to drive Debian's Chromium) imports the export of three
# regression runs - a callback-fail fault and its violation, xHCI and a USB
# disk, a device writing into freed memory after a timed-out command - and
# its importer must say nothing: no "Tried to end ... when ... was on the
# top of the stack" (slices that overlap as speedscope adds ts + dur), no
# error, no unrecognized format.
#   tests/speedscope.sh QUIESCE SOURCE_DIR WORK_DIR
set -uo pipefail
q=$1 src=$2 work=$3
fail() { echo "speedscope: FAIL: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is needed (the npm registry's speedscope)"
command -v chromium >/dev/null || fail "chromium is needed (scripts/install-deps.sh --tests)"
mkdir -p "$work"
if [ ! -d "$work/node_modules/speedscope" ] || [ ! -d "$work/node_modules/playwright-core" ]; then
  "$src/scripts/npm" install --silent --no-audit --no-fund --prefix "$work" speedscope@1 playwright-core >"$work/npm.log" 2>&1 ||
    fail "npm install speedscope playwright-core failed: $(tail -3 "$work/npm.log")"
fi
site=$work/site
rm -rf "$site" "$work/runs.db"
cp -r "$work/node_modules/speedscope/dist/release" "$site" || fail "no speedscope release in node_modules"
"$q" run "$src"/scenarios/regression/{s3-callback-fail-resume,s3-usb-storage,s3-gpu-evict-timeout-free-in-flight}.toml \
  --db "$work/runs.db" >"$work/run.log" 2>&1 || fail "the runs failed: $(tail -3 "$work/run.log")"
names=()
for run in 1 2 3; do
  "$q" trace export "$work/runs.db" $run --format chrome -o "$site/run-$run.json" || fail "export of run $run"
  names+=("run-$run.json")
done
port=$((30000 + $$ % 20000))
(cd "$site" && exec python3 -m http.server "$port" --bind 127.0.0.1 >"$work/http.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
out=$(timeout 300 node "$src/tests/speedscope_import.js" "$work/node_modules" "http://127.0.0.1:$port" "${names[@]}")
echo "$out"
imported=$(grep -c "Importing as Trace Event Format profile" <<<"$out")
[ "$imported" -eq 3 ] || fail "speedscope imported $imported of 3 files as Trace Event Format"
bad=$(grep -v -e "log: speedscope v" -e "Importing as Trace Event Format profile" -e "timeEnd: import" <<<"$out")
[ -z "$bad" ] || fail "speedscope's importer said: $bad"
echo "speedscope: 3 exports imported, nothing said"
