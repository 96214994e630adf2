#!/usr/bin/env python3
"""Helpers of hack/conformance.sh (the OCI conformance suite runner).

  conformance.py fix-cgroups-path PARENT create ARGS...   (the runtime shim, on `create`)
  conformance.py summary RUNDIR                          (one run: "ok/fail")
  conformance.py table WORKDIR LABEL... -- PROGRAM...    (the per-program table)

The validation programs print TAP 13 whose diagnostic blocks hold JSON (tap-go's default),
which Debian's `prove` rejects, so the TAP is parsed here. What counts:
  - `ok` / `not ok` lines (`# SKIP` counts as skipped, `# TODO` failures are not failures);
  - a diagnostic block with an "error" that no test line owns (some programs report a
    failure that way, e.g. state and prestart_fail) is a failure;
  - a plan that does not match the tests run, a timeout, or a non-zero exit (util.Fatal)
    is a failure of the program as a whole.
A RUNDIR holds `tap` (stdout), `stderr` and `rc` (the exit status) of one program run.
"""

import json
import os
import re
import sys

TEST = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
PLAN = re.compile(r"^1\.\.(\d+)")
DIRECTIVE = re.compile(r"#\s*(SKIP|TODO)\b\s*(.*)$", re.IGNORECASE)


def fix_cgroups_path(parent, args):
    """Anchors an empty or relative linux.cgroupsPath of `create ARGS` under PARENT."""
    bundle, rest, i = ".", [], 1
    while i < len(args):
        a = args[i]
        if a in ("--bundle", "-b", "-bundle") and i + 1 < len(args):
            bundle, i = args[i + 1], i + 2
            continue
        if a.startswith("--bundle="):
            bundle = a.split("=", 1)[1]
        elif a in ("--pid-file", "-pid-file", "--console-socket", "--preserve-fds"):
            i += 1
        elif not a.startswith("-"):
            rest.append(a)
        i += 1
    if not rest:
        return  # no id: let the runtime refuse it
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return  # a missing or broken config is the runtime's to report
    linux = config.get("linux")
    if not isinstance(linux, dict):
        return
    cg = linux.get("cgroupsPath") or ""
    if not isinstance(cg, str) or cg.startswith("/"):
        return
    linux["cgroupsPath"] = "%s/%s" % (parent, cg or rest[-1])
    with open(path, "w") as f:
        json.dump(config, f, indent="\t")


def diag_blocks(lines):
    """Yields ("line", text) and ("block", parsed) items; blocks are '  ---' .. '  ...'."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "---" and line.startswith(" "):
            body, i = [], i + 1
            while i < len(lines) and lines[i].strip() != "...":
                body.append(lines[i])
                i += 1
            text = "\n".join(body)
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"raw": text.strip()}
            yield "block", parsed if isinstance(parsed, dict) else {"raw": str(parsed)}
        else:
            yield "line", line
        i += 1


def first_line(s, limit=160):
    """The gist of a message on one line: no spec links, runc's logrus wrapping, or scratch
    paths."""
    s = re.sub(r"\s*Refer to: \S+", "", str(s))
    s = re.sub(r'time="[^"]*" level=(\w+) msg="(.*)"', r"\2", s)
    s = re.sub(r"/\S*/ocitest\d+/", "BUNDLE/", s)
    s = " ".join(x.strip() for x in s.strip().splitlines()[:3] if x.strip())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def parse_tap(text):
    """Returns {"ok", "fail", "skip", "failures": [reason...]} over every TAP stream in text
    (some programs print several, each from its own "TAP version" line with its own plan)."""
    total = {"ok": 0, "fail": 0, "skip": 0, "count": 0, "failures": []}
    streams = re.split(r"^TAP version \d+$", text, flags=re.MULTILINE)
    for stream in streams:
        res = parse_stream(stream)
        for k in ("ok", "fail", "skip", "count"):
            total[k] += res[k]
        total["failures"] += res["failures"]
        if res["plan"] is not None and res["plan"] != res["count"]:
            total["fail"] += 1
            total["failures"].append("planned %d tests, ran %d" % (res["plan"], res["count"]))
    return total


def parse_stream(text):
    """One TAP stream: {"ok", "fail", "skip", "count", "plan", "failures"}."""
    res = {"ok": 0, "fail": 0, "skip": 0, "plan": None, "failures": []}
    tests = []  # [ok?, description, block-after, block-before, comment lines]
    pending = None  # a block that precedes its test (RuntimeInsideValidate's stdout)
    for kind, item in diag_blocks(text.splitlines()):
        if kind == "block":
            owner = tests[-1] if tests and tests[-1][2] is None else None
            if "stdout" in item and "reference" not in item:
                pending = item
            elif owner is not None:
                owner[2] = item
            elif item.get("error"):
                res["fail"] += 1
                res["failures"].append(first_line(item["error"]))
            continue
        m = PLAN.match(item)
        if m:
            res["plan"] = int(m.group(1))
            continue
        if item.startswith("Bail out!"):
            res["fail"] += 1
            res["failures"].append(first_line(item))
            continue
        if item.startswith("#") and tests and tests[-1][2] is None:
            tests[-1][4].append(item.lstrip("# ").strip())  # a diagnostic line of that test
            continue
        m = TEST.match(item)
        if not m:
            continue
        ok, desc = m.group(1) == "ok", m.group(3)
        d = DIRECTIVE.search(desc)
        if d and d.group(1).upper() == "SKIP":
            res["skip"] += 1
            tests.append([True, desc, None, pending, []])
        elif ok or (d and d.group(1).upper() == "TODO"):
            res["ok"] += 1
            tests.append([True, desc, None, pending, []])
        else:
            res["fail"] += 1
            tests.append([False, desc, None, pending, []])
        pending = None
    for ok, desc, after, before, comments in tests:
        if not ok:
            block = after or before or ({"error": " ".join(comments)} if comments else {})
            res["failures"].append(failure_reason(desc, block))
    res["count"] = len(tests)
    return res


def failure_reason(desc, block):
    """The test's description plus what its diagnostics say went wrong."""
    detail = ""
    stdout = block.get("stdout") or ""
    if "not ok" in stdout:  # the runtimetest TAP run inside the container
        inner = parse_tap(stdout)["failures"]
        detail = "; ".join(inner[:3])
    # A bare "exit status N" says less than the runtime's own stderr.
    error = block.get("error") or ""
    keys = ("stderr", "error") if re.fullmatch(r"exit status \d+", error) else ("error", "stderr")
    for key in keys:
        if not detail and block.get(key):
            detail = first_line(block[key])
    # The "expected"/"actual" pairs that runtimetest reports.
    if not detail and ("expected" in block or "actual" in block):
        detail = "expected %s, got %s" % (
            json.dumps(block.get("expected")),
            json.dumps(block.get("actual")),
        )
    return first_line(desc + (": " + detail if detail else ""), 300)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run_result(rundir):
    tap = read(os.path.join(rundir, "tap"))
    stderr = read(os.path.join(rundir, "stderr"))
    try:
        rc = int(read(os.path.join(rundir, "rc")).strip())
    except ValueError:
        rc = -1
    res = parse_tap(tap)
    # The runtime's own message: util prints it after "failed to create the container".
    noise = (
        "failed to create the container",
        "failed to start the container",
        "exit status",
        "Refer to:",
    )
    last_err = next(
        (l for l in reversed(stderr.splitlines()) if l.strip() and not l.startswith(noise)), ""
    )
    if last_err:
        res["failures"] = [
            f + " (" + first_line(last_err) + ")" if re.search(r"exit status \d+$", f) else f
            for f in res["failures"]
        ]
    if rc == 125 and "not running" in stderr:
        res["skipped_run"] = first_line(stderr)
        return res
    if rc in (124, 137):
        res["fail"] += 1
        res["failures"].append("timed out")
    elif rc != 0:
        res["fail"] += 1
        res["failures"].append("exit %d: %s" % (rc, first_line(last_err) or "(no stderr)"))
    elif not tap.strip() and not res["failures"]:
        # The *_fail programs print nothing and exit 0 when the runtime refused the config.
        res["ok"] += 1
    return res


def cell(res):
    if "skipped_run" in res:
        return "n/a"
    s = "%d/%d" % (res["ok"], res["fail"])
    return s + (" (%d skip)" % res["skip"] if res["skip"] else "")


def table(workdir, labels, programs):
    all_results = [
        [run_result(os.path.join(workdir, str(i), p)) for i in range(len(labels))]
        for p in programs
    ]
    width = max([len(p) for p in programs] + [len("programs passed")])
    cols = [
        max([len(l), 9] + [len(cell(r[i])) for r in all_results]) for i, l in enumerate(labels)
    ]
    head = "%-*s  " % (width, "program") + "  ".join(
        "%-*s" % (w, l) for l, w in zip(labels, cols)
    )
    print("ok/fail per runtime (a program's own crash, timeout or bad plan counts as a fail)")
    print(head)
    print("-" * len(head))
    notes = []
    totals = [[0, 0, 0] for _ in labels]  # programs fully passing, with failures, n/a
    for p, results in zip(programs, all_results):
        row = "%-*s  " % (width, p) + "  ".join(
            "%-*s" % (w, cell(r)) for r, w in zip(results, cols)
        )
        print(row)
        for i, (l, r) in enumerate(zip(labels, results)):
            if "skipped_run" in r:
                totals[i][2] += 1
                notes.append("  %s [%s] %s" % (p, l, r["skipped_run"]))
                continue
            totals[i][0 if r["fail"] == 0 else 1] += 1
            seen = {}
            for f in r["failures"]:
                seen[f] = seen.get(f, 0) + 1
            for f, n in seen.items():
                notes.append("  %s [%s] %s%s" % (p, l, "(%dx) " % n if n > 1 else "", f))
    print("-" * len(head))
    print(
        "%-*s  " % (width, "programs passed")
        + "  ".join("%-*s" % (w, "%d/%d" % (t[0], t[0] + t[1])) for t, w in zip(totals, cols))
    )
    if notes:
        print("\nfailures:")
        print("\n".join(notes))


def main(argv):
    if len(argv) >= 3 and argv[1] == "fix-cgroups-path":
        fix_cgroups_path(argv[2], argv[3:])
    elif len(argv) == 3 and argv[1] == "summary":
        r = run_result(argv[2])
        print(cell(r))
    elif len(argv) >= 4 and argv[1] == "table" and "--" in argv:
        sep = argv.index("--")
        table(argv[2], argv[3:sep], argv[sep + 1 :])
    else:
        print(__doc__.strip().splitlines()[2:5], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
