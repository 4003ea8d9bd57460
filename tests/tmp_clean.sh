#!/bin/sh
# A test leaves nothing in the temporary directory: the paths tests/cli.h's
# tmp_path hands out (databases with their -wal and -shm, reports, folders)
# go when the test process ends. Runs some test cases of UNIT_TESTS with
# TMPDIR set to a fresh folder, then lists what is left in it.
#   tests/tmp_clean.sh UNIT_TESTS TEST_SPEC...
set -eu
exe=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
TMPDIR=$dir "$exe" "$@" > "$dir.out" 2>&1 || { cat "$dir.out"; rm -f "$dir.out"; exit 1; }
rm -f "$dir.out"
left=$(ls -A "$dir")
if [ -n "$left" ]; then
    echo "left in the temporary directory by $*:"
    echo "$left"
    exit 1
fi
echo "nothing left in the temporary directory"
