#!/usr/bin/env python3
"""The markdown report of hack/bench.sh, from the files its run left in WORK/res.

Usage (by bench.sh): bench-report.py WORK "RUNTIMES" RUNS WARMUP MANY PARALLEL MANY_RUNS MANY_LIMIT
"""
import json
import os
import platform
import statistics
import sys

work, rts, runs, warmup, many, par, many_runs, many_limit = sys.argv[1:9]
rts = rts.split()
res = os.path.join(work, "res")


def read(name, default=""):
    try:
        with open(os.path.join(res, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def cell(text):
    return text.replace("|", "\\|")


bins = dict(line.split(" ", 1) for line in open(os.path.join(work, "runtimes")).read().split("\n") if line)
load = read("load").splitlines() + ["?", "?"]

print("# berth benchmark\n")
print(f"- kernel: `{platform.release()}` ({os.cpu_count()} CPUs); load average (1/5/15 min) "
      f"{load[0]} before, {load[1]} after")
print(f"- cgroups: v1 hierarchies `{read('hierarchies')}` bound into a private tmpfs /sys/fs/cgroup "
      "(no cgroup2 mount); each runtime's --root on a tmpfs, as /run is")
for line in read("skipped").splitlines():
    print(f"- {line}")
print()

titles = {
    "plain": f"1. `run` /bin/true, plain config (no linux.resources); {runs} runs x 2 rounds, warmup {warmup}",
    "limits": "2. `run` /bin/true with limits (memory 256M, pids 100, cpu shares 512, devices deny-all) and "
              f"Docker's default seccomp profile; {runs} runs x 2 rounds, warmup {warmup}",
    "lifecycle": f"3. create; start; poll state until stopped; delete; {runs} runs x 2 rounds, warmup {warmup}",
    "many": f"4. {many} x `run` /bin/true, {par} at a time; {many_runs} runs x 2 rounds, warmup 1",
    "exec": f"5. `exec` /bin/true into a running container; {runs} runs x 2 rounds, warmup {warmup}",
}
notes = {
    "limits": "Like-for-like: every runtime applies the same memory, pids and cpu limits, the same "
              "devices rules and the same seccomp profile (berth compiles it with its own compiler, "
              "runc and crun with libseccomp).",
    "many": f"Every `run` is checked: a failed one is counted, and a measurement that takes over "
            f"{many_limit} s counts as a hang.",
}
for scen in ("plain", "limits", "lifecycle", "many", "exec"):
    print(f"## {titles[scen]}\n")
    status = {}
    for line in read(f"{scen}.status").splitlines():
        rt, st, msg = (line.split("\t") + ["", ""])[:3]
        status.setdefault(rt, (st, msg))
    times, per_round = {}, {1: {}, 2: {}}
    for rnd in (1, 2):
        p = os.path.join(res, f"{scen}-{rnd}.json")
        if not os.path.exists(p):
            continue
        for r in json.load(open(p))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
            per_round[rnd][r["command"]] = r["median"]
    base = next((b for b in ("crun", "runc") if b in times), next(iter(times), None))
    print(f"| runtime | median (ms) | min (ms) | max (ms) | ratio to {base or '-'} | ratio round 1 / round 2 | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    bmed = statistics.median(times[base]) if base else None
    for rt in rts:
        st, msg = status.get(rt, ("na", "not run"))
        if rt in times:
            t = times[rt]
            med = statistics.median(t)
            rr = []
            for rnd in (1, 2):
                a, b = per_round[rnd].get(rt), per_round[rnd].get(base)
                rr.append(f"{a / b:.2f}" if a and b else "-")
            print(f"| {rt} | {med * 1e3:.1f} | {min(t) * 1e3:.1f} | {max(t) * 1e3:.1f} | {med / bmed:.2f} "
                  f"| {' / '.join(rr)} | {cell(msg)} |")
        else:
            why = msg if st == "na" else "hyperfine failed (see the log above the report)"
            print(f"| {rt} | n/a | n/a | n/a | n/a | n/a | {cell(why)} |")
    print()
    if scen == "many":
        print("| runtime | `run`s completed | failed | hung measurements |\n|---|---:|---:|---:|")
        for rt in rts:
            total = failed = started = 0
            for line in read(f"many-{rt}.log").splitlines():
                words = line.split()
                if words[:1] == ["start"]:
                    started += 1
                elif words[:1] == ["done"]:
                    started -= 1
                    total, failed = total + int(words[1]), failed + int(words[2])
            print(f"| {rt} | {total} | {failed} | {started} |")
        print()
    if scen in notes:
        print(f"{notes[scen]}\n")

print("## Peak RSS of one `run` (GNU time -v, Maximum resident set size)\n")
print("| runtime | peak RSS (MiB) |\n|---|---:|")
for line in read("rss").splitlines():
    rt, v = line.split("\t", 1)
    print(f"| {rt} | {int(v) / 1024:.1f} |" if v.isdigit() else f"| {rt} | {cell(v)} |")
print("\n## Binaries\n")
print("| runtime | path | size (MiB) |\n|---|---|---:|")
for rt in rts:
    b = bins[rt]
    print(f"| {rt} | `{b}` | {os.path.getsize(b) / 2**20:.2f} |")

c = json.load(open(os.path.join(work, "cfg", f"limits-{rts[0]}", "config.json")))
lx = c["linux"]
print("\n## Config (from `runc spec`)\n")
print(f"- process: terminal={c['process']['terminal']}, args={c['process']['args']}, user "
      f"{c['process']['user']['uid']}:{c['process']['user']['gid']}, bounding caps "
      f"{','.join(x.replace('CAP_', '') for x in c['process'].get('capabilities', {}).get('bounding', []))}, "
      f"noNewPrivileges={c['process'].get('noNewPrivileges', False)}, rlimits "
      f"{','.join(r['type'] for r in c['process'].get('rlimits', []))}")
print(f"- root: one shared busybox rootfs, readonly={c['root'].get('readonly', False)}; hostname {c.get('hostname')}")
print(f"- mounts: {', '.join(m['destination'] for m in c.get('mounts', []))}")
print(f"- namespaces: {', '.join(n['type'] for n in lx.get('namespaces', []))}")
print(f"- maskedPaths: {len(lx.get('maskedPaths', []))}, readonlyPaths: {len(lx.get('readonlyPaths', []))}")
print("- cgroupsPath: /berth-bench-<runtime>/<id> (absolute, one per runtime and container); "
      "the parent /berth-bench-<runtime> is made beforehand in every hierarchy (cpuset copied from the root)")
print("- scenarios 1, 3, 4, 5: no linux.resources, no linux.seccomp; scenario 5 runs `sleep` and execs /bin/true")
print(f"- scenario 2 linux.resources: `{json.dumps(lx['resources'], separators=(',', ':'))}`")
s = lx["seccomp"]
print(f"- scenario 2 linux.seccomp: `{read('seccomp_src')}`: defaultAction {s['defaultAction']}, "
      f"architectures {','.join(s.get('architectures', []))}, {len(s['syscalls'])} rules, "
      f"{sum(len(r['names']) for r in s['syscalls'])} syscall names")
