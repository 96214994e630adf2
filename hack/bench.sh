#!/usr/bin/env bash
# Benchmarks berth against the other OCI runtimes installed here (runc, crun, youki) on the
# same busybox bundle, and prints markdown tables (issue 9). Run as root from the repository:
#
#   sudo bash hack/bench.sh [RUNTIME...]     # RUNTIME: berth runc crun youki (default: all)
#
# Environment: RUNS (runs per command in scenarios 1-3 and 5, at least 30; default 30),
# SECCOMP_PROFILE (a Docker-format seccomp profile instead of the one in integration/data).
#
# What it does:
#   - installs hyperfine, busybox-static, time (and crun/runc when asked for) from Debian if
#     missing, builds berth in release mode, builds a busybox rootfs with hack/mkrootfs.sh;
#   - makes one bundle from `runc spec` (terminal off, args ["/bin/true"]); every runtime and
#     scenario gets its own config.json next to it (a runtime reads only BUNDLE/config.json) that
#     differs only in the absolute cgroupsPath /berth-bench-<runtime>/<id> and, for scenario 2,
#     linux.resources/linux.seccomp (for scenario 5, args /bin/sleep: the container exec'd into);
#     root.path points at the one shared, read-only rootfs;
#   - runs everything in a private mount namespace whose /sys/fs/cgroup is a fresh tmpfs that
#     holds bind mounts of the host's cgroup v1 hierarchies only (the namespace's own copy of the
#     old tree is detached there): crun refuses the hybrid layout, and this way every runtime sees
#     (and does) the same thing. The host's mounts are untouched;
#   - every scenario is one hyperfine invocation holding all runtimes, run twice, the second
#     time with the runtime order reversed, so ratios are taken under the same load;
#   - removes every container, state dir, cgroup, bundle and mount it made on exit (trap).
set -euo pipefail

ALL_RUNTIMES=(berth runc crun youki)
RUNS=${RUNS:-30}
WARMUP=3
MANY=50      # scenario 4: lifecycles per measurement
PARALLEL=2   # scenario 4: at a time
MANY_RUNS=5  # scenario 4: hyperfine runs

say() { echo "bench: $*" >&2; }
die() {
	say "$*"
	exit 1
}

# ---------------------------------------------------------------------------------------------
# Inner part: runs inside `unshare -m --propagation private` (see the end of the file).
# ---------------------------------------------------------------------------------------------

# The host's v1 hierarchies, bound into a fresh tmpfs on /sys/fs/cgroup of this namespace.
private_cgroupfs() {
	local stage=$WORK/cgstage name target
	local -a hier=() links=()
	mapfile -t hier < <(findmnt -rn -t cgroup -o TARGET | grep -E '^/sys/fs/cgroup/[^/]+$' || true)
	[ ${#hier[@]} -gt 0 ] || die "no cgroup v1 hierarchy is mounted under /sys/fs/cgroup"
	for target in /sys/fs/cgroup/*; do
		[ -L "$target" ] && links+=("${target##*/}=$(readlink "$target")")
	done
	mkdir -p "$stage"
	for target in "${hier[@]}"; do
		name=${target##*/}
		mkdir -p "$stage/$name"
		mount --bind "$target" "$stage/$name"
	done
	# A fresh tmpfs shadows this namespace's copy of the host's /sys/fs/cgroup tree (nothing of
	# the host's is unmounted or remounted); the runtimes see only the v1 binds moved into it.
	mount -t tmpfs -o mode=0755,nosuid,nodev,noexec berth-bench-cgroup /sys/fs/cgroup
	for target in "${hier[@]}"; do
		name=${target##*/}
		mkdir "/sys/fs/cgroup/$name"
		mount --move "$stage/$name" "/sys/fs/cgroup/$name"
	done
	for target in "${links[@]+"${links[@]}"}"; do
		ln -s "${target#*=}" "/sys/fs/cgroup/${target%%=*}"
	done
	HIERARCHIES="${hier[*]##*/}"
}

# The parent cgroup /berth-bench-<runtime> in every hierarchy, made once beforehand (cpuset
# copied from the root), as it would exist on a real host: runc and crun leave it behind after
# their first container anyway, while berth removes the empty parents it made; made here, every
# runtime does the same work in every scenario.
make_parents() {
	local rt h d f
	for rt in $RTS; do
		for h in $HIERARCHIES; do
			d=/sys/fs/cgroup/$h/berth-bench-$rt
			mkdir -p "$d"
			if [ -e "$d/cpuset.cpus" ]; then
				for f in cpuset.cpus cpuset.mems; do
					cat "/sys/fs/cgroup/$h/$f" >"$d/$f"
				done
			fi
		done
	done
}

rt_bin() { sed -n "s/^$1 //p" "$WORK/runtimes"; }

# Containers left by an interrupted or failed run, deleted by the runtime that made them.
inner_cleanup() {
	local rt bin root id
	trap - EXIT INT TERM
	for rt in $RTS; do
		bin=$(rt_bin "$rt")
		root=$WORK/state/$rt
		[ -d "$root" ] || continue
		for id in $(ls "$root" 2>/dev/null); do
			"$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
}

# The scenario's command for one runtime, as hyperfine -N runs it (split on spaces).
command_for() {
	local scen=$1 rt=$2 bin root
	bin=$(rt_bin "$rt")
	root=$WORK/state/$rt
	case $scen in
	plain) echo "$bin --root $root run --bundle $WORK/cfg/plain-$rt bench-plain" ;;
	limits) echo "$bin --root $root run --bundle $WORK/cfg/limits-$rt bench-limits" ;;
	lifecycle) echo "/bin/sh $WORK/lifecycle.sh $bin $root $WORK/cfg/lifecycle-$rt bench-lifecycle" ;;
	many) echo "/bin/sh $WORK/many.sh $bin $root $WORK/cfg/many-$rt- $MANY $PARALLEL" ;;
	exec) echo "$bin --root $root exec bench-exec /bin/true" ;;
	esac
}

ids_for() {
	case $1 in
	many) seq -f 'bench-many-%g' 1 "$MANY" ;;
	*) echo "bench-$1" ;;
	esac
}

# One scenario: a trial run per runtime (a refusal makes it n/a with its error), then two
# hyperfine rounds over the runtimes that passed, the second in reverse order.
scenario() {
	local scen=$1 runs=$2 warmup=$3 rt cmd err round rc
	local -a ok=() args=() order=()
	local status=$WORK/res/$scen.status
	: >"$status"
	for rt in $RTS; do
		cmd=$(command_for "$scen" "$rt")
		rc=0
		# shellcheck disable=SC2086 # the command is split on spaces, as hyperfine -N does
		timeout 300 $cmd >/dev/null 2>"$WORK/res/$scen-$rt.err" </dev/null || rc=$?
		if [ "$rc" -eq 0 ]; then
			ok+=("$rt")
			# What it said while succeeding (warnings), each line once, on one line.
			printf '%s\tok\t%s\n' "$rt" "$(grep -v '^[[:space:]]*$' "$WORK/res/$scen-$rt.err" | awk '!seen[$0]++' | paste -sd ';' | cut -c1-400)" >>"$status"
		else
			err=$(grep -v '^[[:space:]]*$' "$WORK/res/$scen-$rt.err" | tail -n1 | cut -c1-200 || true)
			[ -n "$err" ] || err="exit status $rc"
			say "$scen: $rt refused or failed: $err"
			printf '%s\tna\t%s\n' "$rt" "$err" >>"$status"
			for id in $(ids_for "$scen"); do
				"$(rt_bin "$rt")" --root "$WORK/state/$rt" delete --force "$id" >/dev/null 2>&1 || true
			done
		fi
	done
	[ ${#ok[@]} -gt 0 ] || return 0
	for round in 1 2; do
		order=("${ok[@]}")
		if [ "$round" -eq 2 ]; then
			order=()
			for ((i = ${#ok[@]} - 1; i >= 0; i--)); do order+=("${ok[i]}"); done
		fi
		args=()
		for rt in "${order[@]}"; do args+=(-n "$rt" "$(command_for "$scen" "$rt")"); done
		say "$scen: round $round (${order[*]}), $runs runs each"
		if ! hyperfine -N --style basic -w "$warmup" -r "$runs" \
			--export-json "$WORK/res/$scen-$round.json" "${args[@]}" >&2; then
			say "$scen: hyperfine failed in round $round"
			rm -f "$WORK/res/$scen-$round.json"
			for rt in "${ok[@]}"; do
				for id in $(ids_for "$scen"); do
					"$(rt_bin "$rt")" --root "$WORK/state/$rt" delete --force "$id" >/dev/null 2>&1 || true
				done
			done
		fi
	done
}

# config.json variants: one per runtime and scenario (and per id in scenario 4).
make_configs() {
	local rt n
	local -a a=()
	for rt in $RTS; do
		a+=(plain "$WORK/cfg/plain-$rt" "/berth-bench-$rt/bench-plain")
		a+=(limits "$WORK/cfg/limits-$rt" "/berth-bench-$rt/bench-limits")
		a+=(plain "$WORK/cfg/lifecycle-$rt" "/berth-bench-$rt/bench-lifecycle")
		a+=(plain "$WORK/cfg/rss-$rt" "/berth-bench-$rt/bench-rss")
		a+=(idle "$WORK/cfg/exec-$rt" "/berth-bench-$rt/bench-exec")
		for n in $(seq 1 "$MANY"); do
			a+=(plain "$WORK/cfg/many-$rt-$n" "/berth-bench-$rt/bench-many-$n")
		done
	done
	python3 "$WORK/cfg.py" "${a[@]}"
}

inner_main() {
	trap inner_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	private_cgroupfs
	make_parents
	make_configs

	scenario plain "$RUNS" "$WARMUP"
	scenario limits "$RUNS" "$WARMUP"
	scenario lifecycle "$RUNS" "$WARMUP"
	scenario many "$MANY_RUNS" 1

	# Scenario 5: `exec` of /bin/true in a running container (an idle one per runtime).
	local rt bin
	for rt in $RTS; do
		"$(rt_bin "$rt")" --root "$WORK/state/$rt" run --detach --bundle "$WORK/cfg/exec-$rt" bench-exec \
			</dev/null >/dev/null 2>"$WORK/res/exec-start-$rt.err" || true
	done
	scenario exec "$RUNS" "$WARMUP"
	for rt in $RTS; do
		"$(rt_bin "$rt")" --root "$WORK/state/$rt" delete --force bench-exec >/dev/null 2>&1 || true
	done

	# Peak RSS of one `run`, as GNU time sees it (the largest of the runtime's processes).
	: >"$WORK/res/rss"
	for rt in $RTS; do
		bin=$(rt_bin "$rt")
		if /usr/bin/time -v "$bin" --root "$WORK/state/$rt" run --bundle "$WORK/cfg/rss-$rt" bench-rss \
			>/dev/null 2>"$WORK/res/rss-$rt.txt" </dev/null; then
			printf '%s\t%s\n' "$rt" "$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$WORK/res/rss-$rt.txt")" >>"$WORK/res/rss"
		else
			printf '%s\tfailed: %s\n' "$rt" "$(grep -v -e '^[[:space:]]' -e '^Command exited' "$WORK/res/rss-$rt.txt" | tail -n1 | cut -c1-200)" >>"$WORK/res/rss"
			"$bin" --root "$WORK/state/$rt" delete --force bench-rss >/dev/null 2>&1 || true
		fi
	done
	echo "$HIERARCHIES" >"$WORK/res/hierarchies"
}

if [ "${BERTH_BENCH_INNER:-}" = 1 ]; then
	WORK=$1
	RTS=$2
	HIERARCHIES=
	inner_main
	exit 0
fi

# ---------------------------------------------------------------------------------------------
# Outer part: the host's namespace.
# ---------------------------------------------------------------------------------------------

cd "$(dirname "$0")/.."
REPO=$PWD
SELF=$REPO/hack/bench.sh
[ "$(id -u)" -eq 0 ] || die "run as root (containers need it)"
[[ $RUNS =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 30 ] || die "RUNS must be a number, at least 30"
case $REPO in *[[:space:]]*) die "the repository path must not hold spaces (hyperfine -N splits on them)" ;; esac

# Which runtimes: the arguments, in the order given, else all of them.
declare -a WANT=()
if [ $# -gt 0 ]; then
	for a in "$@"; do
		case " ${ALL_RUNTIMES[*]} " in
		*" $a "*) case " ${WANT[*]-} " in *" $a "*) ;; *) WANT+=("$a") ;; esac ;;
		*) die "unknown runtime '$a' (known: ${ALL_RUNTIMES[*]})" ;;
		esac
	done
else
	WANT=("${ALL_RUNTIMES[@]}")
fi
wants() { case " ${WANT[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# Debian packages this needs; runc and crun only when they are to be measured.
need=()
for pkg in hyperfine busybox-static time python3 util-linux; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
for rt in runc crun; do
	if wants "$rt" && ! command -v "$rt" >/dev/null; then
		dpkg-query -W -f='${Status}' "$rt" 2>/dev/null | grep -q "install ok installed" || need+=("$rt")
	fi
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

WORK=
INNER_PID=
CG_NAMES=()

# Every process below PID (not PID itself), deepest last.
descendants() {
	local p
	for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$p"
		descendants "$p"
	done
}

cleanup() {
	local rc=$? p d n mnt
	trap - EXIT INT TERM
	set +e
	if [ -n "$INNER_PID" ] && kill -0 "$INNER_PID" 2>/dev/null; then
		# hyperfine and the runtimes first: the inner shell's trap deletes its containers.
		for p in $(descendants "$INNER_PID"); do kill -TERM "$p" 2>/dev/null; done
		kill -TERM "$INNER_PID" 2>/dev/null
		for n in $(seq 1 100); do
			kill -0 "$INNER_PID" 2>/dev/null || break
			sleep 0.1
		done
		for p in $(descendants "$INNER_PID") "$INNER_PID"; do kill -KILL "$p" 2>/dev/null; done
		wait "$INNER_PID" 2>/dev/null
	fi
	# Whatever is left in our cgroups was started by a runtime for us: kill it, remove the dirs.
	for n in "${CG_NAMES[@]+"${CG_NAMES[@]}"}"; do
		for d in /sys/fs/cgroup/*/"$n"; do
			[ -d "$d" ] || continue
			for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
				kill -KILL "$p" 2>/dev/null
			done
			for _ in $(seq 1 50); do
				find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
				[ -d "$d" ] || break
				sleep 0.1
			done
			[ -d "$d" ] && say "could not remove $d"
		done
	done
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		# Nothing should be mounted here in this namespace; unmount it if something is.
		for mnt in $(findmnt -rn -o TARGET | grep -F "$WORK" | sort -r); do umount -l "$mnt"; done
		rm -rf "$WORK" "$WORK.lock"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
mkdir -p "$WORK/state" "$WORK/cfg" "$WORK/res" "$WORK/bundle"

# The runtimes to measure: name and absolute path, one a line; missing ones are said and skipped.
declare -a RTS=()
SKIPPED=()
for rt in "${WANT[@]}"; do
	bin=
	case $rt in
	berth)
		command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
		say "building berth (cargo build --release)"
		cargo build --release --quiet
		bin=$REPO/target/release/berth
		;;
	*) bin=$(command -v "$rt" || true) ;;
	esac
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		SKIPPED+=("$rt: not installed, skipped")
		continue
	fi
	RTS+=("$rt")
	CG_NAMES+=("berth-bench-$rt")
	echo "$rt $(readlink -f "$bin")" >>"$WORK/runtimes"
	mkdir -p "$WORK/state/$rt"
done
[ ${#RTS[@]} -gt 0 ] || die "none of ${WANT[*]} is installed"

say "building the busybox rootfs"
bash "$REPO/hack/mkrootfs.sh" "$WORK/bundle/rootfs" >/dev/null
rm -f "$WORK/bundle/rootfs.lock" "$WORK/bundle.lock"

# The one bundle: runc's default config (berth's if runc is missing).
spec_tool=$(command -v runc || echo "$REPO/target/release/berth")
[ -x "$spec_tool" ] || die "neither runc nor berth is available to write a config.json"
(cd "$WORK/bundle" && "$spec_tool" spec)

# Docker's default seccomp profile: the copy kept with the tests (moby 20.10.24, from Debian's
# golang-github-docker-docker-dev; see integration/data/seccomp/README.md), else one a Debian
# package installed here ships.
SECCOMP_SRC=${SECCOMP_PROFILE:-}
[ -n "$SECCOMP_SRC" ] || [ ! -r "$REPO/integration/data/seccomp/docker-default.json" ] ||
	SECCOMP_SRC=$REPO/integration/data/seccomp/docker-default.json
if [ -z "$SECCOMP_SRC" ]; then
	for pkg in docker.io docker-ce moby-engine containerd golang-github-containers-common containers-common podman; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || continue
		SECCOMP_SRC=$(dpkg -L "$pkg" 2>/dev/null | grep -i 'seccomp.*\.json$' | head -n1 || true)
		[ -n "$SECCOMP_SRC" ] && break
	done
fi
[ -z "$SECCOMP_SRC" ] || [ -r "$SECCOMP_SRC" ] || die "cannot read the seccomp profile $SECCOMP_SRC"

# For each KIND DIR CGROUPSPATH: DIR/config.json from the bundle's, plain (no linux.resources)
# or limits.
cat >"$WORK/cfg.py" <<'PY'
import json, os, sys
work = os.environ["WORK"]
base = open(os.path.join(work, "bundle", "config.json")).read()
args = sys.argv[1:]
for i in range(0, len(args), 3):
    kind, out, cgpath = args[i:i + 3]
    c = json.loads(base)
    c["process"]["terminal"] = False
    c["process"]["args"] = ["/bin/sleep", "1000000"] if kind == "idle" else ["/bin/true"]
    c["root"]["path"] = os.path.join(work, "bundle", "rootfs")
    c["linux"]["cgroupsPath"] = cgpath
    c["linux"].pop("resources", None)
    c["linux"].pop("seccomp", None)
    if kind == "limits":
        c["linux"]["resources"] = {
            "devices": [{"allow": False, "access": "rwm"}],
            "memory": {"limit": 256 * 1024 * 1024},
            "pids": {"limit": 100},
            "cpu": {"shares": 512},
        }
        seccomp = os.path.join(work, "seccomp.json")
        if os.path.exists(seccomp):
            c["linux"]["seccomp"] = json.load(open(seccomp))
    os.makedirs(out, exist_ok=True)
    json.dump(c, open(os.path.join(out, "config.json"), "w"), indent=2)
PY

# Docker's profile format to the runtime-spec's: the rules Docker would keep for this config
# (its includes/excludes on capabilities, architecture and kernel), without those fields.
if [ -n "$SECCOMP_SRC" ]; then
	python3 - "$SECCOMP_SRC" "$WORK/bundle/config.json" "$WORK/seccomp.json" "$(dpkg --print-architecture)" "$(uname -r)" <<'PY'
import json, re, sys
src, cfg, out, arch, kernel = sys.argv[1:6]
p = json.load(open(src))
c = json.load(open(cfg))
caps = set((c.get("process", {}).get("capabilities") or {}).get("bounding") or [])
def kver(s):
    return tuple(int(x) for x in re.findall(r"\d+", s)[:2])
native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
          "ppc64el": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64"}.get(arch)
goarch = {"ppc64el": "ppc64le"}.get(arch, arch)
arches = []
for m in p.get("archMap") or []:
    if m.get("architecture") == native:
        arches = [native] + list(m.get("subArchitectures") or [])
if not arches:
    arches = list(p.get("architectures") or [])
rules = []
for r in p.get("syscalls", []):
    inc, exc = r.get("includes") or {}, r.get("excludes") or {}
    if inc.get("arches") and goarch not in inc["arches"]:
        continue
    if inc.get("caps") and not all(x in caps for x in inc["caps"]):
        continue
    if inc.get("minKernel") and kver(kernel) < kver(inc["minKernel"]):
        continue
    if exc.get("arches") and goarch in exc["arches"]:
        continue
    if exc.get("caps") and any(x in caps for x in exc["caps"]):
        continue
    if exc.get("minKernel") and kver(kernel) >= kver(exc["minKernel"]):
        continue
    names = r.get("names") or ([r["name"]] if r.get("name") else [])
    rule = {"names": names, "action": r["action"]}
    if r.get("errnoRet") is not None:
        rule["errnoRet"] = r["errnoRet"]
    if r.get("args"):
        rule["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a and a[k] is not None}
                        for a in r["args"]]
    rules.append(rule)
s = {"defaultAction": p["defaultAction"], "architectures": arches, "syscalls": rules}
if p.get("defaultErrnoRet") is not None:
    s["defaultErrnoRet"] = p["defaultErrnoRet"]
json.dump(s, open(out, "w"), indent=2)
PY
fi

# Scenario 3: one lifecycle. Scenario 4: MANY `run`s, PARALLEL at a time.
cat >"$WORK/lifecycle.sh" <<'SH'
# RUNTIME ROOT BUNDLE ID: create, start, wait until stopped, delete.
set -e
rt=$1 root=$2 bundle=$3 id=$4
"$rt" --root "$root" create --bundle "$bundle" "$id"
"$rt" --root "$root" start "$id"
n=0
while :; do
	state=$("$rt" --root "$root" state "$id")
	case $state in *'"stopped"'*) break ;; esac
	n=$((n + 1))
	[ "$n" -lt 100000 ] || { echo "lifecycle: $id never stopped" >&2; exit 1; }
done
"$rt" --root "$root" delete "$id"
SH
cat >"$WORK/many.sh" <<'SH'
# RUNTIME ROOT BUNDLE_PREFIX N P: `run` containers 1..N (bundle PREFIX<i>), P at a time.
rt=$1 root=$2 prefix=$3 n=$4 p=$5
seq 1 "$n" | xargs -P "$p" -I{} "$rt" --root "$root" run --bundle "$prefix{}" "bench-many-{}"
SH

# Everything else in a private mount namespace (see private_cgroupfs).
export WORK
BERTH_BENCH_INNER=1 unshare -m --propagation private bash "$SELF" "$WORK" "${RTS[*]}" &
INNER_PID=$!
inner_rc=0
wait "$INNER_PID" || inner_rc=$?
INNER_PID=
[ "$inner_rc" -eq 0 ] || die "the benchmark failed (status $inner_rc)"

# ---------------------------------------------------------------------------------------------
# The report, on stdout.
# ---------------------------------------------------------------------------------------------
printf '%s\n' "${SKIPPED[@]+"${SKIPPED[@]}"}" >"$WORK/res/skipped"
echo "$SECCOMP_SRC" >"$WORK/res/seccomp_src"
python3 - "$WORK" "${RTS[*]}" "$RUNS" "$WARMUP" "$MANY" "$PARALLEL" "$MANY_RUNS" <<'PY'
import json, os, platform, statistics, sys
work, rts, runs, warmup, many, par, many_runs = sys.argv[1:8]
rts = rts.split()
res = os.path.join(work, "res")
def read(name, default=""):
    try:
        return open(os.path.join(res, name)).read().strip()
    except FileNotFoundError:
        return default
bins = dict(l.split(" ", 1) for l in open(os.path.join(work, "runtimes")).read().split("\n") if l)

print("# berth benchmark\n")
print(f"- kernel: `{platform.release()}` ({os.cpu_count()} CPUs); cgroups: v1 hierarchies "
      f"`{read('hierarchies')}` bound into a private tmpfs /sys/fs/cgroup (no cgroup2 mount)")
for l in read("skipped").splitlines():
    print(f"- {l}")
src = read("seccomp_src")
if not src:
    print("- seccomp: no Docker default seccomp profile found in an installed Debian package "
          "(looked in docker.io, containerd, containers-common, podman): scenario 2 runs WITHOUT seccomp")
print()

titles = {
    "plain": f"1. `run` /bin/true, plain config (no linux.resources); {runs} runs x 2 rounds, warmup {warmup}",
    "limits": f"2. `run` /bin/true with limits (memory 256M, pids 100, cpu shares 512, devices deny-all"
              + (", Docker's default seccomp" if src else ", NO seccomp") + f"); {runs} runs x 2 rounds, warmup {warmup}",
    "lifecycle": f"3. create; start; poll state until stopped; delete; {runs} runs x 2 rounds, warmup {warmup}",
    "many": f"4. {many} x `run` /bin/true, {par} at a time (xargs -P{par}); {many_runs} runs x 2 rounds, warmup 1",
    "exec": f"5. `exec` /bin/true in a running container (plain config, /bin/sleep); {runs} runs x 2 rounds, warmup {warmup}",
}
for scen in ("plain", "limits", "lifecycle", "many", "exec"):
    print(f"## {titles[scen]}\n")
    status = {}
    for l in read(f"{scen}.status").splitlines():
        rt, st, msg = (l.split("\t") + ["", ""])[:3]
        status[rt] = (st, msg)
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
            note = msg.replace("|", "\\|") if msg else ""
            print(f"| {rt} | {med * 1e3:.1f} | {min(t) * 1e3:.1f} | {max(t) * 1e3:.1f} | {med / bmed:.2f} "
                  f"| {' / '.join(rr)} | {note} |")
        else:
            why = msg if st == "na" else "hyperfine failed"
            print(f"| {rt} | n/a | n/a | n/a | n/a | n/a | {why.replace('|', chr(92) + '|')} |")
    print()

print("## Peak RSS of one `run` (GNU time -v, Maximum resident set size)\n")
print("| runtime | peak RSS (MiB) |\n|---|---:|")
for l in read("rss").splitlines():
    rt, v = l.split("\t", 1)
    print(f"| {rt} | {int(v) / 1024:.1f} |" if v.isdigit() else f"| {rt} | {v} |")
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
print("- scenarios 1, 3, 4, 5: no linux.resources, no linux.seccomp")
print(f"- scenario 2 linux.resources: `{json.dumps(lx['resources'], separators=(',', ':'))}`")
if "seccomp" in lx:
    s = lx["seccomp"]
    print(f"- scenario 2 linux.seccomp: from `{src}`: defaultAction {s['defaultAction']}, "
          f"architectures {','.join(s.get('architectures', []))}, {len(s['syscalls'])} rules, "
          f"{sum(len(r['names']) for r in s['syscalls'])} syscall names")
else:
    print("- scenario 2 linux.seccomp: none (no profile found)")
PY
