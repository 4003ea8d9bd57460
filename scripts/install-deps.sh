#!/usr/bin/env bash
# Installs the Debian packages quiesce needs, and only those that are missing.
set -euo pipefail
pkgs=(cmake g++ make pkg-config libsystemc-dev libboost-graph-dev libsqlite3-dev sqlite3
      catch2 libtomlplusplus-dev libcli11-dev libfmt-dev liblz4-dev zlib1g-dev nlohmann-json3-dev
      gtkwave    # vcd2fst checks the VCD export in the tests
      chromium)  # headless, checks the HTML export in the tests
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
