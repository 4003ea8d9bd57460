#!/bin/sh
# The linker laid the executable's code out in scripts/text-order.txt's
# order (CMake option QUIESCE_TEXT_ORDER; docs/performance.md): of the
# file's first 300 sections, those whose function the executable defines
# once sit at ascending addresses, in the file's order, and at least half of
# them are there (fewer: the file is stale, regenerate it with
# scripts/text-order.py).
#   tests/text_order.sh EXECUTABLE ORDER_FILE
set -eu
exe=$1 order=$2
nm --defined-only "$exe" | awk -v order="$order" '
    $2 ~ /^[tTwW]$/ { n[$3]++; at[$3] = $1 }
    END {
        listed = 0; found = 0; prev = ""; prevname = ""
        while ((getline line < order) > 0) {
            if (line ~ /^#/ || line == "") continue
            if (listed == 300) break
            listed++
            name = substr(line, 7)            # .text.NAME
            if (!(name in n) || n[name] != 1) continue
            found++
            a = "x" at[name]                  # 16 hex digits, compared as text: "x" keeps awk from reading 292e00 as a number
            if (prev != "" && a <= prev) {
                printf "%s is at 0x%s, before %s (0x%s), which the order puts first\n", name, at[name], prevname, substr(prev, 2) > "/dev/stderr"
                exit 1
            }
            prev = a; prevname = name
        }
        if (found * 2 < listed) {
            printf "only %d of the first %d sections of %s name a function of the executable: regenerate it (scripts/text-order.py)\n", found, listed, order > "/dev/stderr"
            exit 1
        }
        printf "%d of the first %d sections in order\n", found, listed
    }'
