#!/usr/bin/env python3
"""Writes scripts/text-order.txt: the order in which the linker lays out the
functions of quiesce's executables (docs/performance.md, "The code a forked
run executes, laid out together").

A forked run - each scenario of `quiesce run`, each variant of `quiesce
explore` - takes a page fault for every 64 KiB window of the executable's
code it executes: fork copies no page-table entries of a file mapping, and
the kernel maps a fault's neighbours 16 pages at a time. Laid out by source
file, the functions a child executes spread over nearly every window; the
linker (gold, --section-ordering-file) puts them together in this order.
Where the kernel gives transparent huge pages, a process that forks moves
its code into them first (sim/core/code_pages.h) and its children take no
such faults; the order still serves where it does not.

How the order is found: callgrind runs `quiesce explore` and `quiesce run`
on a few regression scenarios, each forked child counted from the moment it
enters its own heap (heap_arena::enter, right after the fork). The functions
of the executable that children ran come first - those most children ran
first, then by instructions - and then those only the parents ran. Each
symbol is written as the section it is in (`objdump -t` of the build's
objects), so constructors and destructors (C1/C2, D1/D2 aliases) and thunks
land in their function's section.

    scripts/text-order.py BUILD_DIR       # BUILD_DIR/quiesce, configured with the text order on

Needs valgrind and binutils (objdump). A function renamed since the file was
written is only left where the source file puts it; regenerate after large
refactorings (bench_s3 prints the minor faults per run).
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REG = os.path.join(ROOT, "scenarios", "regression")
# What runs in children: explore's phase sweep and a storage sweep, and runs
# of the platform's devices (storage, USB, DMA, s2idle, S4 cycles).
WORKLOADS = [
    ["explore", f"{REG}/s3-basic.toml", "--kinds", "callback-fail,power-loss", "-j", "2"],
    ["explore", f"{REG}/s4-storage.toml", "--kinds", "image-bit-flip,resume-device-late,power-loss", "-j", "2"],
    ["run"] + [f"{REG}/{s}.toml" for s in (
        "s3-basic", "s3-storage", "s4-storage", "s4-dma-during-snapshot", "s2idle-basic",
        "s3-usb-keyboard-wake", "s3-usb-storage-core-well-lost", "s4-cycles-3")] + ["-j", "2"],
]


def functions(path, exe):
    """{mangled name: instructions} of `exe`'s functions in one callgrind file."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True,
                         check=True).stdout
    got = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) +(?:\([^)]*\) +)?[^:]*:(\S+) \[(.*)\]$", line)
        if m and os.path.realpath(m.group(3)) == exe:
            got[re.sub(r"'\d+$", "", m.group(2))] += int(m.group(1).replace(",", ""))
    return got


def sections(build):
    """symbol -> the .text.* section it is defined in, from the build's objects."""
    objs = glob.glob(os.path.join(build, "CMakeFiles", "**", "*.o"), recursive=True)
    out = {}
    for i in range(0, len(objs), 200):
        text = subprocess.run(["objdump", "-t"] + objs[i:i + 200], capture_output=True, text=True).stdout
        for line in text.splitlines():
            f = line.split()
            sec = next((x for x in f if x.startswith(".text.")), None)
            if sec and len(f) >= 2:
                out.setdefault(f[-1], sec)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--out", default=os.path.join(ROOT, "scripts", "text-order.txt"))
    a = ap.parse_args()
    exe = os.path.realpath(os.path.join(a.build, "quiesce"))
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe}: not built")
    cover, instr, parents = collections.Counter(), collections.Counter(), collections.Counter()
    children = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, w in enumerate(WORKLOADS):
            cmd = ["valgrind", "--tool=callgrind", "--demangle=no",
                   "--zero-before=_ZN7quiesce10heap_arena5enterEv",
                   f"--callgrind-out-file={tmp}/w{k}.%p", exe] + w + ["--db", f"{tmp}/w{k}.db"]
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 # Code moved to anonymous memory has no symbols for valgrind.
                                 env=dict(os.environ, LD_BIND_NOW="1", QUIESCE_CODE_HUGE_PAGES="0"))
            p.wait()
            for f in glob.glob(f"{tmp}/w{k}.*"):
                if f.endswith(".db"):
                    continue
                fns = functions(f, exe)
                if f.endswith(f".{p.pid}"):  # the top process: never forked, never zeroed
                    parents.update(fns)
                    continue
                children += 1
                instr.update(fns)
                cover.update(fns.keys())
    if not children:
        sys.exit("no forked child was profiled")
    order = sorted(cover, key=lambda n: (-cover[n], -instr[n], n))
    order += [n for n, _ in sorted(parents.items(), key=lambda x: (-x[1], x[0])) if n not in cover]
    sec = sections(a.build)
    seen, lines = set(), []
    for n in order:
        s = sec.get(n, ".text." + n)
        if s not in seen:
            seen.add(s)
            lines.append(s)
    with open(a.out, "w") as f:
        f.write("# The layout of quiesce's code: sections in the order the linker places them\n"
                "# (gold --section-ordering-file). Written by scripts/text-order.py from\n"
                f"# {children} forked children profiled; do not edit by hand.\n")
        f.write("\n".join(lines) + "\n")
    print(f"{a.out}: {len(lines)} sections, {sum(1 for n in cover)} run in {children} children")


if __name__ == "__main__":
    main()
