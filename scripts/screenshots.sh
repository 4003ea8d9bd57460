#!/usr/bin/env bash
# Regenerates the screenshots of docs/images/ with the real clients: GTKWave
# (under Xvfb) on a VCD export with its .gtkw save file, and headless
# Chromium on a run's HTML timeline and on the multi-run summary page.
#   scripts/screenshots.sh [BUILD_DIR]      (default: build)
# Needs: gtkwave, xvfb (xvfb-run), imagemagick (import), chromium; and for
# the Chrome JSON in speedscope, node and npm (scripts/npm; speedscope and playwright-core
# are installed from the npm registry into the scratch folder) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
Q="$ROOT/${1:-build}/quiesce"
OUT="$ROOT/docs/images"
missing=()
for c in gtkwave xvfb-run import chromium node python3; do command -v "$c" >/dev/null || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "screenshots: missing ${missing[*]} (apt-get install gtkwave xvfb imagemagick chromium)" >&2
  exit 2
fi
[ -x "$Q" ] || { echo "screenshots: no $Q (build first)" >&2; exit 2; }
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$OUT"
cd "$W"
# Run 1: a device writes into a freed page after a timed-out command (a
# violation, a fault, an abort); run 2: the default S3 cycle; run 3: twenty.
"$Q" run "$ROOT"/scenarios/regression/{s3-gpu-evict-timeout-free-in-flight,s3-basic,s3-cycles-20}.toml \
  --db runs.db >run.log
chrome() {  # HTML file, PNG
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,1000 \
    --screenshot="$2" "$1" 2>/dev/null
}
# GTKWave: the save file the export writes, opened at the transition
# (20-120 ms: timestart in ps, zoom 2^-34), in a window the screen's size.
"$Q" trace export runs.db 1 --format vcd -o run.vcd
sed -i 's/^\[timestart\] .*/[timestart] 20000000000/; s/^\*-[0-9.]*/*-34.000000/; s/^\[size\] .*/[size] 1800 1300/' run.gtkw
cat >shot.sh <<'SH'
#!/usr/bin/env bash
gtkwave run.gtkw >gtkwave.log 2>&1 &
pid=$!
sleep 6
import -window root gtkwave.png
kill $pid
SH
chmod +x shot.sh
timeout 120 xvfb-run -a -s "-screen 0 1800x1300x24" ./shot.sh
cp gtkwave.png "$OUT/gtkwave.png"
"$Q" trace export runs.db 1 --format html -o run.html
chrome run.html "$OUT/timeline.png"
"$Q" trace export runs.db --format html -o summary
chrome summary/index.html "$OUT/summary.png"
# speedscope on the Chrome JSON, served from localhost, on the kernel's
# thread (speedscope shows one thread at a time; `n` steps to the next).
"$Q" trace export runs.db 1 --format chrome -o run.json
"$ROOT/scripts/npm" install --silent --prefix "$W/npm" speedscope@1 playwright-core >npm.log 2>&1
mkdir site && cp -r "$W"/npm/node_modules/speedscope/dist/release/. site/ && cp run.json site/
port=$((20000 + $$ % 20000))
(cd site && exec python3 -m http.server "$port" --bind 127.0.0.1 >../http.log 2>&1) &
server=$!
sleep 1
cat >speedscope.js <<'JS'
const { chromium } = require(process.env.NPM + '/node_modules/playwright-core');
(async () => {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const p = await b.newPage({ viewport: { width: 1600, height: 900 } });
  await p.goto(process.argv[2]);
  await p.waitForTimeout(3000);
  for (let i = 0; i < 30 && !(await p.evaluate(() => document.body.innerText)).includes(', kernel (tid'); i++) {
    await p.keyboard.press('n');
    await p.waitForTimeout(300);
  }
  await p.waitForTimeout(1000);
  await p.screenshot({ path: process.argv[3] });
  await b.close();
})();
JS
NPM="$W/npm" timeout 120 node speedscope.js "http://127.0.0.1:$port/index.html#profileURL=http://127.0.0.1:$port/run.json" \
  "$OUT/speedscope.png"
kill $server
ls -l "$OUT"/gtkwave.png "$OUT"/timeline.png "$OUT"/summary.png "$OUT"/speedscope.png
