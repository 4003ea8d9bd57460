#!/usr/bin/env bash
# Installs the Debian packages quiesce needs, and only those that are missing.
#   scripts/install-deps.sh          what building and running quiesce needs (make run)
#   scripts/install-deps.sh --tests  that and what the tests use (make test)
set -euo pipefail
pkgs=(cmake g++ make pkg-config libsystemc-dev libboost-graph-dev libsqlite3-dev
      catch2     # tests/CMakeLists.txt finds it when CMake configures, even for the quiesce target alone
      libtomlplusplus-dev libcli11-dev libfmt-dev liblz4-dev zlib1g-dev nlohmann-json3-dev)
case "${1:-}" in
  "") ;;
  --tests)
    pkgs+=(sqlite3         # the SQL examples of the docs run in the sqlite3 CLI
           gtkwave         # vcd2fst checks the VCD export
           chromium        # headless, checks the HTML export
           libxml2-utils   # xmllint validates the JUnit report against tests/data/junit-10.xsd
           slurm-wlm munge # a one-node Slurm cluster runs docs/scale-out.md's job array (scripts/slurm-local.sh)
           python3-yaml)   # reads docs/scale-out.md's Kubernetes Job (tests/k8s_job.py)
    ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# speedscope (tests/speedscope.sh) comes from the npm registry: Node.js and
# npm, Debian's unless the machine has its own. A node from elsewhere
# (nodesource's) whose npm does not run keeps its node: Debian's npm cannot
# be installed beside it, and scripts/npm fetches npm itself (with curl).
if [ "${1:-}" = --tests ]; then
  if ! command -v node >/dev/null; then missing+=(nodejs npm)
  elif ! { command -v npm >/dev/null && npm --version >/dev/null 2>&1; }; then
    if apt-get install -s -qq npm >/dev/null 2>&1; then missing+=(npm)
    else command -v curl >/dev/null || missing+=(curl); fi
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
# slurm-wlm's and munge's maintainer scripts start no daemon where there is no init system.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
