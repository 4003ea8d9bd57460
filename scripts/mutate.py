#!/usr/bin/env python3
"""Mutation testing of quiesce (`make mutate`, docs/mutation.md).

Applies each mutation of scripts/mutations.toml, one at a time, to a private
copy of the tree at HEAD (never to the working tree), rebuilds incrementally,
runs the regression suite and, for a mutant that survives it, the unit tests;
prints one line per mutant, the score and the survivors.

    scripts/mutate.py                   # the whole catalogue
    scripts/mutate.py --only ID [ID...] # some mutants
    scripts/mutate.py --list            # the catalogue
    scripts/mutate.py --check           # every original occurs once at HEAD

A mutant is *killed* when a scenario fails its expectation, a run crashes, or
the suite overruns its timeout (then: a unit test that passed on the
unmutated tree fails). One that does not compile is reported as such and left
out of the score.
"""
import argparse
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET

try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.exit("mutate.py needs Python 3.11 or later (tomllib)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, "scripts", "mutations.toml")
AREAS = {"model", "driver", "pm-engine", "kernel", "hibernation", "checker"}
# Unit tests that read the catalogue or the source text itself: a mutant
# changes them by construction, so they say nothing about it.
UNIT_EXCLUDE = "~[mutation-catalogue]"


def log(*a):
    print(*a, flush=True)


def load_catalogue(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    muts = data.get("mutation", [])
    seen, errors = set(), []
    for i, m in enumerate(muts):
        mid = m.get("id", f"#{i + 1}")
        for key in ("id", "area", "file", "bug", "original", "replacement"):
            if not isinstance(m.get(key), str):
                errors.append(f"{mid}: '{key}' missing or not a string")
        if m.get("area") not in AREAS:
            errors.append(f"{mid}: area '{m.get('area')}' is not one of {sorted(AREAS)}")
        if mid in seen:
            errors.append(f"{mid}: id used twice")
        seen.add(mid)
        if m.get("original") == m.get("replacement"):
            errors.append(f"{mid}: replacement equals original")
    return muts, errors


def check_against(muts, read):
    """Every original occurs exactly once in its file; `read(path)` gives the text."""
    errors = []
    for m in muts:
        try:
            text = read(m["file"])
        except (OSError, KeyError, subprocess.CalledProcessError):
            errors.append(f"{m['id']}: {m['file']}: no such file")
            continue
        n = text.count(m["original"])
        if n != 1:
            errors.append(f"{m['id']}: its original text occurs {n} times in {m['file']} (must be once): "
                          f"update the entry in scripts/mutations.toml")
    return errors


def run(cmd, cwd=None, timeout=None, log_to=None):
    """Runs cmd niced in its own process group; (rc, seconds). rc None: timed out."""
    start = time.time()
    out = open(log_to, "w") if log_to else subprocess.DEVNULL
    try:
        p = subprocess.Popen(["nice", "-n", "10"] + cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
    finally:
        if log_to:
            out.close()
    return rc, time.time() - start


class Tree:
    """The private copy (WORK/src, at HEAD) and its Release build (WORK/build)."""

    def __init__(self, work, jobs):
        self.work = os.path.abspath(work)
        self.src = os.path.join(self.work, "src")
        self.build = os.path.join(self.work, "build")
        self.jobs = jobs
        self.pristine_obj = {}  # source file -> saved object file of the unmutated build

    def sync(self):
        """WORK/src becomes HEAD: files whose content differs are rewritten (so
        an incremental build sees exactly what changed), others are left alone."""
        os.makedirs(self.src, exist_ok=True)
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        blob = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", head], capture_output=True,
                              check=True).stdout
        wanted, changed = set(), 0
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            for member in tar.getmembers():
                path = os.path.join(self.src, member.name)
                if member.isdir():
                    os.makedirs(path, exist_ok=True)
                    continue
                wanted.add(os.path.normpath(member.name))
                if member.issym():
                    if not (os.path.islink(path) and os.readlink(path) == member.linkname):
                        if os.path.lexists(path):
                            os.remove(path)
                        os.symlink(member.linkname, path)
                    continue
                data = tar.extractfile(member).read()
                try:
                    with open(path, "rb") as f:
                        same = f.read() == data
                except OSError:
                    same = False
                if not same:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                    os.chmod(path, member.mode & 0o777)
                    changed += 1
        removed = 0
        for dirpath, _, files in os.walk(self.src):
            for name in files:
                rel = os.path.normpath(os.path.relpath(os.path.join(dirpath, name), self.src))
                if rel not in wanted:
                    os.remove(os.path.join(dirpath, name))
                    removed += 1
        return head, changed, removed

    def configure(self):
        if os.path.exists(os.path.join(self.build, "CMakeCache.txt")):
            return True
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        rc, _ = run(["cmake", "-S", self.src, "-B", self.build, *gen, "-DCMAKE_BUILD_TYPE=Release",
                     "-DQUIESCE_BENCH=OFF"], log_to=os.path.join(self.work, "configure.log"))
        return rc == 0

    def make(self, targets, log_name="build.log"):
        rc, secs = run(["cmake", "--build", self.build, "-j", str(self.jobs), "--target", *targets],
                       log_to=os.path.join(self.work, log_name))
        return rc == 0, secs

    def object_of(self, rel):
        """The object file compiled from source `rel` (None: not a compiled source)."""
        if not rel.endswith(".cpp"):
            return None
        for target in ("quiesce_sim.dir", "quiesce.dir"):
            p = os.path.join(self.build, "CMakeFiles", target, rel + ".o")
            if os.path.exists(p):
                return p
        return None

    def save_pristine(self, rel):
        obj = self.object_of(rel)
        if obj and rel not in self.pristine_obj:
            keep = os.path.join(self.work, "pristine", rel + ".o")
            os.makedirs(os.path.dirname(keep), exist_ok=True)
            shutil.copyfile(obj, keep)
            self.pristine_obj[rel] = (obj, keep)


class Mutant:
    def __init__(self, m, tree):
        self.m, self.tree = m, tree
        self.path = os.path.join(tree.src, m["file"])
        self.cpp = m["file"].endswith(".cpp")

    def apply(self):
        with open(self.path, "rb") as f:
            self.text = f.read().decode()
        st = os.stat(self.path)
        self.times = (st.st_atime_ns, st.st_mtime_ns)
        if self.text.count(self.m["original"]) != 1:
            raise SystemExit(f"{self.m['id']}: original text not found exactly once in {self.m['file']}")
        if self.cpp:
            self.tree.save_pristine(self.m["file"])
        with open(self.path, "wb") as f:
            f.write(self.text.replace(self.m["original"], self.m["replacement"]).encode())

    def revert(self):
        """The original text with its old time stamp, and the object file of
        the unmutated build back (fresh time stamp): nothing to recompile."""
        with open(self.path, "wb") as f:
            f.write(self.text.encode())
        os.utime(self.path, ns=self.times)
        if self.cpp and self.m["file"] in self.tree.pristine_obj:
            obj, keep = self.tree.pristine_obj[self.m["file"]]
            shutil.copyfile(keep, obj)


def run_suite(tree, jobs, timeout, tag, first_failure=True):
    """The regression suite on the tree's build: (rc, seconds, [(scenario, reason)]). rc None: timed out.
    With first_failure, stops at the first scenario that fails, crashes or overruns (that one killed it)."""
    db = os.path.join(tree.work, f"suite-{tag}.db")
    out_path = os.path.join(tree.work, f"suite-{tag}.log")
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    start = time.time()
    failed = []
    with open(out_path, "w") as out:
        p = subprocess.Popen(["nice", "-n", "10", os.path.join(tree.build, "quiesce"), "run", "scenarios/regression",
                              "-j", str(jobs), "--db", db], cwd=tree.src, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        stopped = False
        try:
            for line in p.stdout:
                out.write(line)
                words = line.split(None, 2)
                if words and words[0] in ("FAIL", "CRASH", "TIMEOUT") and len(words) > 1:
                    # "FAIL    name   cycles cycles  time  wall  run N  reason"
                    reason = line.split("  run ", 1)[-1].split("  ", 1)[-1].strip() if "  run " in line else ""
                    failed.append((words[1], f"{words[0]}: {reason}" if reason else words[0]))
                    if first_failure and not stopped:
                        stopped = True
                        os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
        finally:
            timed_out = not timer.is_alive() and not stopped and p.returncode not in (0, 1, 2)
            timer.cancel()
    for q in (db, db + "-wal", db + "-shm"):
        if os.path.exists(q):
            os.remove(q)
    if timed_out:
        rc = None
    elif stopped:
        rc = 1
    return rc, time.time() - start, failed


def run_unit(tree, timeout, tag):
    xml = os.path.join(tree.work, f"unit-{tag}.xml")
    if os.path.exists(xml):
        os.remove(xml)
    rc, secs = run([os.path.join(tree.build, "tests", "unit_tests"), UNIT_EXCLUDE, "-r", "junit", "-o", xml],
                   cwd=tree.src, timeout=timeout, log_to=os.path.join(tree.work, f"unit-{tag}.log"))
    failed = []
    if os.path.exists(xml):
        try:
            for case in ET.parse(xml).getroot().iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed.append(case.get("name"))
        except ET.ParseError:
            # A test's forked child can flush the reporter into the same file:
            # read the testcases one by one instead of as one document.
            with open(xml, errors="replace") as f:
                text = f.read()
            for m in re.finditer(r'<testcase\b[^>]*?\sname="([^"]*)"[^>]*?(/>|>(.*?)</testcase>)', text, re.S):
                if m.group(3) and ("<failure" in m.group(3) or "<error" in m.group(3)):
                    name = html.unescape(m.group(1))
                    if name not in failed:
                        failed.append(name)
    return rc, secs, failed


def short(failed, n=3):
    names = [f for f, _ in failed]
    s = ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")
    return s


def main():
    ap = argparse.ArgumentParser(description="mutation testing of quiesce (docs/mutation.md)")
    ap.add_argument("--catalogue", default=CATALOGUE)
    ap.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    ap.add_argument("--check", action="store_true", help="check the catalogue against HEAD and exit")
    ap.add_argument("--work", default=os.environ.get("MUTATE_WORK", "/tmp/quiesce-mutate"),
                    help="the private copy and its build (default /tmp/quiesce-mutate)")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("MUTATE_JOBS", "2")),
                    help="build jobs and the suite's -j (default 2)")
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds a mutant's suite may take (default: 5 x the clean run, at least 120)")
    ap.add_argument("--no-unit", action="store_true", help="do not run the unit tests on survivors")
    ap.add_argument("--full-suite", action="store_true",
                    help="run every scenario on each mutant (default: stop at the first that fails)")
    ap.add_argument("--json", help="write the results as JSON to this file")
    args = ap.parse_args()

    muts, errors = load_catalogue(args.catalogue)
    if errors:
        for e in errors:
            log(f"mutate: {e}")
        return 2
    if args.list:
        for m in muts:
            log(f"{m['id']:<40} {m['area']:<12} {m['file']}\n    {m['bug']}")
        log(f"{len(muts)} mutations")
        return 0

    def at_head(path):
        return subprocess.run(["git", "-C", ROOT, "show", f"HEAD:{path}"], capture_output=True, text=True,
                              check=True).stdout

    errors = check_against(muts, at_head)
    if errors:
        for e in errors:
            log(f"mutate: {e}")
        return 2
    if args.check:
        log(f"mutate: {len(muts)} mutations, each original found once at HEAD")
        return 0
    if args.only:
        unknown = set(args.only) - {m["id"] for m in muts}
        if unknown:
            log(f"mutate: unknown id(s): {', '.join(sorted(unknown))} (see --list)")
            return 2
        muts = [m for m in muts if m["id"] in args.only]

    tree = Tree(args.work, args.jobs)
    t0 = time.time()
    head, changed, removed = tree.sync()
    log(f"mutate: HEAD {head[:12]} in {tree.src} ({changed} file(s) updated, {removed} removed), build {tree.build}")
    if not tree.configure():
        log(f"mutate: cmake configure failed (see {tree.work}/configure.log)")
        return 1
    ok, secs = tree.make(["quiesce"] if args.no_unit else ["quiesce", "unit_tests"])
    if not ok:
        log(f"mutate: the unmutated tree does not build (see {tree.work}/build.log)")
        return 1
    log(f"mutate: built in {secs:.0f} s")
    rc, suite_secs, failed = run_suite(tree, args.jobs, 1800, "clean", False)
    if rc != 0 or failed:
        log(f"mutate: the regression suite fails on the unmutated tree (rc {rc}: {short(failed)}); see "
            f"{tree.work}/suite-clean.log")
        return 1
    timeout = args.timeout or max(120.0, 5 * suite_secs)
    log(f"mutate: clean suite passes in {suite_secs:.1f} s; a mutant's suite times out after {timeout:.0f} s")
    unit_base = set()
    unit_timeout = 0.0
    if not args.no_unit:
        rc, unit_secs, unit_base_failed = run_unit(tree, 3600, "clean")
        unit_base = set(unit_base_failed)
        unit_timeout = max(300.0, 3 * unit_secs)
        log(f"mutate: clean unit tests in {unit_secs:.0f} s, {len(unit_base)} failing already"
            + (f" (not counted: {', '.join(sorted(unit_base))})" if unit_base else ""))

    # C++ mutants of one file one after the other: the file compiles once per mutant.
    order = sorted(range(len(muts)), key=lambda i: (not muts[i]["file"].endswith(".cpp"), muts[i]["file"], i))
    results = []
    for n, i in enumerate(order, 1):
        m = muts[i]
        mu = Mutant(m, tree)
        res = {"id": m["id"], "area": m["area"], "file": m["file"], "bug": m["bug"]}
        start = time.time()
        mu.apply()
        try:
            # Also for a data file: the pristine object the last C++ mutant put back is not linked yet.
            ok, _ = tree.make(["quiesce"], f"build-{m['id']}.log")
            if not ok:
                res.update(status="compile-error", by=f"see {tree.work}/build-{m['id']}.log")
            if "status" not in res:
                rc, secs, failed = run_suite(tree, args.jobs, timeout, m["id"], not args.full_suite)
                if rc is None:
                    res.update(status="killed", stage="suite", by=f"suite timed out after {timeout:.0f} s",
                               scenarios=[f for f, _ in failed])
                elif failed:
                    res.update(status="killed", stage="suite", by=short(failed), why=failed[0][1],
                               scenarios=[f for f, _ in failed])
                elif rc == 2:
                    res.update(status="invalid", by=f"quiesce run: bad input (see {tree.work}/suite-{m['id']}.log)")
                elif rc != 0:
                    res.update(status="killed", stage="suite", by=f"quiesce run exited {rc}")
                elif args.no_unit:
                    res.update(status="survived")
                else:
                    ok, _ = tree.make(["unit_tests"], f"build-{m['id']}.log")
                    if not ok:
                        res.update(status="compile-error", by=f"unit_tests: see {tree.work}/build-{m['id']}.log")
                    else:
                        rc, secs, ufailed = run_unit(tree, unit_timeout, m["id"])
                        new = [t for t in ufailed if t not in unit_base]
                        if rc is None:
                            res.update(status="killed", stage="unit", by=f"unit tests timed out after "
                                       f"{unit_timeout:.0f} s")
                        elif new:
                            res.update(status="killed", stage="unit", by="; ".join(new[:3]) +
                                       (f" (+{len(new) - 3} more)" if len(new) > 3 else ""), tests=new)
                        elif rc != 0 and not ufailed:
                            res.update(status="killed", stage="unit", by=f"unit_tests exited {rc}")
                        else:
                            res.update(status="survived")
        finally:
            mu.revert()
        res["seconds"] = round(time.time() - start, 1)
        results.append(res)
        detail = res.get("by", "")
        if res.get("why"):
            detail += f" -- {res['why']}"
        log(f"[{n:>2}/{len(muts)}] {res['status']:<13} {m['id']:<40} {res['seconds']:>6.1f}s  {detail}")

    # The pristine objects went back after every mutant: the tree builds and passes as before.
    ok, _ = tree.make(["quiesce"])
    rc, _, failed = run_suite(tree, args.jobs, timeout, "final", False) if ok else (1, 0, [])
    sane = ok and rc == 0 and not failed
    counted = [r for r in results if r["status"] not in ("compile-error", "invalid")]
    killed = [r for r in counted if r["status"] == "killed"]
    survivors = [r for r in counted if r["status"] == "survived"]
    broken = [r for r in results if r["status"] in ("compile-error", "invalid")]
    by_suite = sum(1 for r in killed if r.get("stage") == "suite")
    score = 100.0 * len(killed) / len(counted) if counted else 0.0
    log("")
    log(f"mutation score: {len(killed)}/{len(counted)} killed = {score:.1f}% "
        f"({by_suite} by the regression suite, {len(killed) - by_suite} by the unit tests)")
    if broken:
        log(f"did not compile or not valid input (left out of the score): "
            f"{', '.join(r['id'] + ' (' + r['status'] + ')' for r in broken)}")
    log(f"survivors ({len(survivors)}):" + ("" if survivors else " none"))
    for r in survivors:
        log(f"  {r['id']:<40} {r['file']}: {r['bug']}")
    log(f"time: {time.time() - t0:.0f} s; unmutated tree after the run: {'builds and passes' if sane else 'BROKEN'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"head": head, "score": score, "killed": len(killed), "counted": len(counted),
                       "results": results, "sane": sane}, f, indent=1)
    return 0 if sane else 1


if __name__ == "__main__":
    sys.exit(main())
