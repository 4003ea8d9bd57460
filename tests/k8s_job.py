#!/usr/bin/env python3
"""docs/scale-out.md's Kubernetes Job, checked without a cluster.

The page's yaml block is read as Kubernetes would read it (python3-yaml):
the claim is ReadWriteMany and is the one the Job mounts, the Job is
Indexed with backoffLimitPerIndex, no rule ignores an exit code (an
ignored failure is retried without end), bad input (exit 2) fails its
index at once, and --shard's N is `completions`. Then the container's
command runs as written - sh -c and its script - against a stand-in
`quiesce` that exits 0, 1, 2 and 3: a shard that found nothing or found
something (0, 1) must succeed and leave its whole database in the results
directory; bad input and an I/O error must fail the pod and leave nothing
there; a shard that starts again must not append to an old database.

    tests/k8s_job.py SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("k8s_job: FAIL: " + what, file=sys.stderr)
    return ok


def yaml_block(doc):
    blocks = re.findall(r"^```yaml\n(.*?)^```$", doc, re.S | re.M)
    jobs = [b for b in blocks if re.search(r"^kind: Job$", b, re.M)]
    if len(jobs) != 1:
        sys.exit("k8s_job: FAIL: docs/scale-out.md has %d yaml blocks with a Job, not 1" % len(jobs))
    return [d for d in yaml.safe_load_all(jobs[0]) if d]


FAKE = r"""#!/bin/sh
# A stand-in quiesce: records its arguments, refuses a --db that exists
# (the shard would append to an old database), writes the file, exits
# $FAKE_STATUS.
echo "$@" >>"$FAKE_LOG"
db=""
while [ $# -gt 0 ]; do
  [ "$1" = --db ] && db=$2
  shift
done
[ -n "$db" ] || { echo "fake quiesce: no --db" >&2; exit 97; }
[ -e "$db" ] && { echo "fake quiesce: $db exists: the shard would append to it" >&2; exit 98; }
echo "fake database" >"$db"
exit "$FAKE_STATUS"
"""


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "docs", "scale-out.md"), encoding="utf-8") as f:
        docs = yaml_block(f.read())
    by_kind = {d.get("kind"): d for d in docs}
    claim, job = by_kind.get("PersistentVolumeClaim"), by_kind.get("Job")
    if not check(claim is not None and job is not None, "the yaml block holds no PersistentVolumeClaim or no Job"):
        return
    check("ReadWriteMany" in claim["spec"].get("accessModes", []),
          "the claim is not ReadWriteMany: pods on other nodes could not mount it")
    check(bool(claim["spec"].get("storageClassName")), "the claim names no storage class")

    spec = job["spec"]
    check(spec.get("completionMode") == "Indexed", "the Job is not Indexed")
    check(isinstance(spec.get("backoffLimitPerIndex"), int) and spec["backoffLimitPerIndex"] >= 1,
          "the Job has no backoffLimitPerIndex >= 1 (a shard that failed would not run again on its own)")
    check(spec.get("backoffLimit") != 0 or "backoffLimitPerIndex" not in spec,
          "backoffLimit: 0 with backoffLimitPerIndex")
    rules = spec.get("podFailurePolicy", {}).get("rules", [])
    for r in rules:
        if r.get("action") == "Ignore" and "onExitCodes" in r:
            check(False, "a podFailurePolicy rule ignores exit codes %s: that pod is retried without end, "
                  "appending its runs again" % r["onExitCodes"].get("values"))
    check(any(r.get("action") == "FailIndex" and r.get("onExitCodes", {}).get("operator") == "In"
              and 2 in r["onExitCodes"].get("values", []) for r in rules),
          "no FailIndex rule for exit 2 (bad input is retried for nothing)")
    pod = spec["template"]["spec"]
    check(pod.get("restartPolicy") == "Never", "restartPolicy is not Never (podFailurePolicy needs it)")
    containers = pod["containers"]
    if not check(len(containers) == 1, "the pod has %d containers, not 1" % len(containers)):
        return
    c = containers[0]
    for r in rules:
        name = r.get("onExitCodes", {}).get("containerName")
        check(name in (None, c["name"]), "a rule names container %s, the pod's is %s" % (name, c["name"]))
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod.get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    shared = [n for n in mounts if claims.get(n) == claim["metadata"]["name"]]
    if not check(len(shared) == 1, "the container does not mount the claim %s" % claim["metadata"]["name"]):
        return
    check(env.get("RESULTS") == mounts[shared[0]],
          "RESULTS (%s) is not where the claim is mounted (%s)" % (env.get("RESULTS"), mounts[shared[0]]))

    command = list(c["command"]) + list(c.get("args", []))
    script = " ".join(command)
    m = re.search(r"--shard\s+\"?\$\{?(\w+)\}?/(\d+)", script)
    if check(m is not None, "the command has no --shard \"$i/N\""):
        check(int(m.group(2)) == spec["completions"],
              "--shard's N is %s, completions is %s" % (m.group(2), spec["completions"]))

    with tempfile.TemporaryDirectory(prefix="quiesce-k8s.") as tmp:
        bindir = os.path.join(tmp, "bin")
        os.makedirs(bindir)
        fake = os.path.join(bindir, "quiesce")
        with open(fake, "w") as f:
            f.write(FAKE)
        os.chmod(fake, 0o755)
        index = 5

        def shard(status, keep_local=False):
            results = os.path.join(tmp, "results-%d" % status)
            local = os.path.join(tmp, "local-%d" % status)
            shutil.rmtree(results, ignore_errors=True)
            os.makedirs(results)
            os.makedirs(local, exist_ok=True)
            if keep_local:  # the retried pod finds the last attempt's file
                with open(os.path.join(local, "explore-%d.db" % index), "w") as f:
                    f.write("old attempt\n")
            e = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], JOB_COMPLETION_INDEX=str(index),
                     TMPDIR=local, FAKE_STATUS=str(status), FAKE_LOG=os.path.join(tmp, "args"))
            e.update({k: v for k, v in env.items() if k != "RESULTS"})
            e["RESULTS"] = results
            r = subprocess.run(command, env=e, cwd=tmp, capture_output=True, text=True, timeout=60)
            return r, sorted(os.listdir(results))

        for status, want in ((0, 0), (1, 0), (2, 2), (3, 3)):
            r, files = shard(status)
            what = "quiesce exiting %d: the shard's command" % status
            check(r.returncode == want, "%s exited %d, not %d (%s)" % (what, r.returncode, want, r.stderr.strip()))
            if want == 0:
                check(files == ["explore-%d.db" % index],
                      "%s left %s in the results directory, not explore-%d.db" % (what, files, index))
            else:
                check(files == [], "%s left %s in the results directory" % (what, files))
        r, files = shard(1, keep_local=True)
        check(r.returncode == 0 and files == ["explore-%d.db" % index],
              "a retried shard whose old database is still there exited %d (%s)" % (r.returncode, r.stderr.strip()))
        with open(os.path.join(tmp, "args")) as f:
            args = f.read().split("\n")[0]
        check("--shard %d/%d" % (index, spec["completions"]) in args,
              "quiesce was called with %r, not --shard %d/%d" % (args, index, spec["completions"]))

    if failures:
        sys.exit(1)
    print("k8s_job: the claim, the failure policy and the shard's exit statuses are as docs/scale-out.md says")


main()
