#!/usr/bin/env bash
# The Containerfile, checked without a container builder: its base is Debian
# bookworm, it installs with scripts/install-deps.sh (without --tests),
# builds the quiesce target in Release and makes quiesce the entry point;
# and the files its COPY lines name are enough: a copy of exactly them,
# laid out as in the image, configures with the image's cmake line, and
# every header the sources include is in it.
#   tests/containerfile.sh SOURCE_DIR
set -uo pipefail
src=$1
cf=$src/Containerfile
fail() { echo "containerfile: FAIL: $*" >&2; exit 1; }
[ -f "$cf" ] || fail "no $cf"
grep -qx 'FROM debian:bookworm' "$cf" || fail "the base is not debian:bookworm"
grep -q 'scripts/install-deps.sh' "$cf" || fail "it does not install with scripts/install-deps.sh"
grep -q 'install-deps.sh --tests' "$cf" && fail "it installs the tests' packages (--tests)"
grep -q -- '--target quiesce' "$cf" || fail "it does not build the quiesce target alone"
grep -qx 'ENTRYPOINT \["quiesce"\]' "$cf" || fail "the entry point is not quiesce"
workdir=$(sed -n 's/^WORKDIR //p' "$cf")
[ -n "$workdir" ] || fail "no WORKDIR"
configure=$(grep -o 'cmake -S \. -B build[^\\&]*' "$cf" | head -n 1)
[ -n "$configure" ] || fail "no 'cmake -S . -B build' line"

tmp=$(mktemp -d /tmp/quiesce-containerfile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
# COPY SRC... DEST, DEST a directory when it ends in / or there are several sources.
while read -r -a words; do
  [ "${words[0]}" = COPY ] || continue
  n=${#words[@]}
  dest=$root${words[n - 1]}
  for ((k = 1; k < n - 1; k++)); do
    s=${words[k]}
    [ -e "$src/$s" ] || fail "COPY names $s, which the source tree does not have"
    if [ -d "$src/$s" ]; then
      mkdir -p "$dest" && cp -r "$src/$s/." "$dest/"
    else
      mkdir -p "${dest%/*}" && cp "$src/$s" "$dest$([ "${dest: -1}" = / ] && echo "${s##*/}")"
    fi
  done
done <"$cf"
[ -d "$root$workdir" ] || fail "WORKDIR $workdir is not where the COPY lines put the tree"
# The copy is configured in place (a build dir of its own, not the source's).
(cd "$root$workdir" && eval "$configure" >"$tmp/configure.log" 2>&1) ||
  fail "the copied tree does not configure: $(tail -n 5 "$tmp/configure.log")"
# Every quoted #include of the copied sources resolves in the copy (from
# the tree's root, the include directory, or the including file's directory).
missing=$(cd "$root$workdir" && grep -rhoE --include='*.cpp' --include='*.h' '^#include "[^"]+"' sim models 2>/dev/null |
  sed 's/^#include "\(.*\)"$/\1/' | sort -u | while read -r inc; do
    [ -e "$inc" ] || find sim models -name "${inc##*/}" 2>/dev/null | grep -q . || echo "$inc"
  done)
[ -z "$missing" ] || fail "the copied sources include files the COPY lines leave out: $missing"
echo "containerfile: the COPY lines give a tree that configures and holds every header its sources include"
