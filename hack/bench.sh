#!/usr/bin/env bash
# Benchmarks berth against the other OCI runtimes installed here (runc, crun, youki) on the
# same busybox bundle, and prints markdown tables (issue 9). Run as root from the repository:
#
#   sudo bash hack/bench.sh [RUNTIME...]     # RUNTIME: berth runc crun youki (default: all)
#
# Environment: RUNS (runs per command in scenarios 1-3 and 5, at least 30; default 30),
# SECCOMP_PROFILE (an OCI linux.seccomp JSON instead of Docker's default profile in
# integration/data/seccomp/docker-default.oci.json), BERTH_BIN (a berth binary to measure
# instead of building one with hack/release.sh, e.g. an older build to compare with).
#
# What it does:
#   - installs hyperfine, busybox-static, time (and crun/runc when asked for) from Debian if
#     missing, builds berth's release binary with hack/release.sh (static), builds a busybox
#     rootfs with hack/mkrootfs.sh;
#   - makes one bundle from `runc spec` (terminal off, args ["/bin/true"]); every runtime and
#     scenario gets its own config.json next to it (a runtime reads only BUNDLE/config.json) that
#     differs only in the absolute cgroupsPath /berth-bench-<runtime>/<id> and, for scenario 2,
#     linux.resources/linux.seccomp; root.path points at the one shared, read-only rootfs;
#   - runs everything in a private mount namespace whose /sys/fs/cgroup is a fresh tmpfs that
#     holds bind mounts of the host's cgroup v1 hierarchies only (the namespace's own copy of the
#     old tree is detached there): crun refuses the hybrid layout, and this way every runtime sees
#     (and does) the same thing. Each runtime's --root is on a tmpfs there, as /run is on a real
#     host. The host's mounts are untouched;
#   - every scenario is one hyperfine invocation holding all runtimes, run twice, the second
#     time with the runtime order reversed, so ratios are taken under the same load; a runtime
#     that refuses a scenario (its trial run fails) shows n/a with its error;
#   - removes every container, state dir, cgroup, bundle and mount it made on exit (trap).
set -euo pipefail

ALL_RUNTIMES=(berth runc crun youki)
RUNS=${RUNS:-30}
WARMUP=3
MANY=50      # scenario 4: lifecycles per measurement
PARALLEL=2   # scenario 4: at a time
MANY_RUNS=5  # scenario 4: hyperfine runs
MANY_LIMIT=300 # scenario 4: seconds one measurement may take before it counts as a hang

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

# Each runtime's --root on a tmpfs, as /run/<runtime> is on a real host (state on a disk
# filesystem would measure its inode allocator on files created and deleted thousands of times).
private_state() {
	local rt
	mount -t tmpfs -o mode=0700,nosuid,nodev berth-bench-state "$WORK/state"
	for rt in $RTS; do mkdir "$WORK/state/$rt"; done
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

# The line of FILE that says what went wrong: the first naming an error, else the last one.
first_error() {
	{ grep -i -m1 'error' "$1" || grep -v '^[[:space:]]*$' "$1" | tail -n1; } 2>/dev/null | cut -c1-200 || true
}

# Deletes the containers of runtime RT named by IDS..., ignoring errors.
delete_ids() {
	local rt=$1 id
	shift
	for id in "$@"; do
		"$(rt_bin "$rt")" --root "$WORK/state/$rt" delete --force "$id" >/dev/null 2>&1 || true
	done
}

# Containers left by an interrupted or failed run, deleted by the runtime that made them.
inner_cleanup() {
	local rt root
	trap - EXIT INT TERM
	for rt in $RTS; do
		root=$WORK/state/$rt
		[ -d "$root" ] || continue
		# shellcheck disable=SC2046 # ids are plain words
		delete_ids "$rt" $(ls "$root" 2>/dev/null)
	done
	umount -l "$WORK/state" 2>/dev/null || true
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
	exec) echo "$bin --root $root exec bench-exec /bin/true" ;;
	many) echo "timeout -k 5 $MANY_LIMIT /bin/bash $WORK/many.sh $bin $root $WORK/cfg/many-$rt- $MANY $PARALLEL $WORK/res/many-$rt.log" ;;
	esac
}

ids_for() {
	case $1 in
	many) seq -f 'bench-many-%g' 1 "$MANY" ;;
	exec) ;; # the exec container lives through the whole scenario
	*) echo "bench-$1" ;;
	esac
}

# One scenario: a trial run per runtime (a refusal makes it n/a with its error), then two
# hyperfine rounds over the runtimes that passed, the second in reverse order.
scenario() {
	local scen=$1 runs=$2 warmup=$3 rt cmd err round rc
	local -a ok=() args=() order=() candidates=()
	local status=$WORK/res/$scen.status
	touch "$status"
	for rt in $RTS; do
		grep -q "^$rt	na	" "$status" || candidates+=("$rt")
	done
	for rt in "${candidates[@]+"${candidates[@]}"}"; do
		cmd=$(command_for "$scen" "$rt")
		rc=0
		# shellcheck disable=SC2086 # the command is split on spaces, as hyperfine -N does
		timeout 300 $cmd >/dev/null 2>"$WORK/res/$scen-$rt.err" </dev/null || rc=$?
		if [ "$rc" -eq 0 ]; then
			ok+=("$rt")
			# What it said while succeeding (warnings), each line once, on one line.
			printf '%s\tok\t%s\n' "$rt" "$(grep -v '^[[:space:]]*$' "$WORK/res/$scen-$rt.err" | awk '!seen[$0]++' | paste -sd ';' | cut -c1-400)" >>"$status"
		else
			err=$(first_error "$WORK/res/$scen-$rt.err")
			[ -n "$err" ] || err="exit status $rc"
			say "$scen: $rt refused or failed: $err"
			printf '%s\tna\t%s\n' "$rt" "$err" >>"$status"
			# shellcheck disable=SC2046 # ids are plain words
			delete_ids "$rt" $(ids_for "$scen")
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
				# shellcheck disable=SC2046 # ids are plain words
				delete_ids "$rt" $(ids_for "$scen")
			done
		fi
	done
}

# Scenario 5: a running container per runtime (`run --detach` of `sleep`), then `exec` into it.
exec_scenario() {
	local rt bin root rc err
	local status=$WORK/res/exec.status
	: >"$status"
	for rt in $RTS; do
		bin=$(rt_bin "$rt")
		root=$WORK/state/$rt
		rc=0
		timeout 60 "$bin" --root "$root" run --detach --bundle "$WORK/cfg/exec-$rt" bench-exec \
			>/dev/null 2>"$WORK/res/exec-start-$rt.err" </dev/null || rc=$?
		if [ "$rc" -ne 0 ]; then
			err=$(first_error "$WORK/res/exec-start-$rt.err")
			printf '%s\tna\tthe container to exec into did not start: %s\n' "$rt" "${err:-exit status $rc}" >>"$status"
			delete_ids "$rt" bench-exec
		fi
	done
	scenario exec "$RUNS" "$WARMUP"
	for rt in $RTS; do delete_ids "$rt" bench-exec; done
}

# config.json variants: one per runtime and scenario (and per id in scenario 4).
make_configs() {
	local rt n
	local -a a=()
	for rt in $RTS; do
		a+=(plain "$WORK/cfg/plain-$rt" "/berth-bench-$rt/bench-plain")
		a+=(limits "$WORK/cfg/limits-$rt" "/berth-bench-$rt/bench-limits")
		a+=(plain "$WORK/cfg/lifecycle-$rt" "/berth-bench-$rt/bench-lifecycle")
		a+=(exec "$WORK/cfg/exec-$rt" "/berth-bench-$rt/bench-exec")
		a+=(plain "$WORK/cfg/rss-$rt" "/berth-bench-$rt/bench-rss")
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
	private_state
	make_parents
	make_configs

	scenario plain "$RUNS" "$WARMUP"
	scenario limits "$RUNS" "$WARMUP"
	scenario lifecycle "$RUNS" "$WARMUP"
	scenario many "$MANY_RUNS" 1
	exec_scenario

	# Peak RSS of one `run`, as GNU time sees it (the largest of the runtime's processes).
	local rt bin
	: >"$WORK/res/rss"
	for rt in $RTS; do
		bin=$(rt_bin "$rt")
		if /usr/bin/time -v "$bin" --root "$WORK/state/$rt" run --bundle "$WORK/cfg/rss-$rt" bench-rss \
			>/dev/null 2>"$WORK/res/rss-$rt.txt" </dev/null; then
			printf '%s\t%s\n' "$rt" "$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$WORK/res/rss-$rt.txt")" >>"$WORK/res/rss"
		else
			printf '%s\tfailed: %s\n' "$rt" "$(grep -v -e '^[[:space:]]' -e '^Command exited' "$WORK/res/rss-$rt.txt" | tail -n1 | cut -c1-200)" >>"$WORK/res/rss"
			delete_ids "$rt" bench-rss
		fi
	done
	echo "$HIERARCHIES" >"$WORK/res/hierarchies"
}

if [ "${BERTH_BENCH_INNER:-}" = 1 ]; then
	WORK=$1
	RTS=$2
	MANY_LIMIT=$3
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
for pkg in hyperfine busybox-static time python3 util-linux coreutils; do
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

SECCOMP_SRC=${SECCOMP_PROFILE:-$REPO/integration/data/seccomp/docker-default.oci.json}
[ -r "$SECCOMP_SRC" ] || die "cannot read the seccomp profile $SECCOMP_SRC"
SECCOMP_SRC=$(readlink -f "$SECCOMP_SRC")

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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# The runtimes to measure: name and absolute path, one a line; missing ones are said and skipped.
declare -a RTS=()
SKIPPED=()
for rt in "${WANT[@]}"; do
	bin=
	case $rt in
	berth)
		if [ -n "${BERTH_BIN:-}" ]; then
			bin=$BERTH_BIN
		else
			command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup)"
			say "building berth's release binary (hack/release.sh)"
			bin=$(bash "$REPO/hack/release.sh")
		fi
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
done
[ ${#RTS[@]} -gt 0 ] || die "none of ${WANT[*]} is installed"

say "building the busybox rootfs"
bash "$REPO/hack/mkrootfs.sh" "$WORK/bundle/rootfs" >/dev/null
rm -f "$WORK/bundle/rootfs.lock" "$WORK/bundle.lock"

# The one bundle: runc's default config (berth's if runc is missing).
spec_tool=$(command -v runc || sed -n 's/^berth //p' "$WORK/runtimes")
[ -n "$spec_tool" ] && [ -x "$spec_tool" ] || die "neither runc nor berth is available to write a config.json"
(cd "$WORK/bundle" && "$spec_tool" spec)
cp "$SECCOMP_SRC" "$WORK/seccomp.json"

# For each KIND DIR CGROUPSPATH: DIR/config.json from the bundle's: plain (no linux.resources),
# limits (resources and the seccomp profile) or exec (plain, running `sleep`).
cat >"$WORK/cfg.py" <<'PY'
import json, os, sys
work = os.environ["WORK"]
base = open(os.path.join(work, "bundle", "config.json")).read()
seccomp = json.load(open(os.path.join(work, "seccomp.json")))
args = sys.argv[1:]
for i in range(0, len(args), 3):
    kind, out, cgpath = args[i:i + 3]
    c = json.loads(base)
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sleep", "1000000"] if kind == "exec" else ["/bin/true"]
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
        c["linux"]["seccomp"] = seccomp
    os.makedirs(out, exist_ok=True)
    json.dump(c, open(os.path.join(out, "config.json"), "w"), indent=2)
PY

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
# RUNTIME ROOT BUNDLE_PREFIX N P LOG: `run` containers 1..N (bundle PREFIX<i>), P at a time;
# logs "start", then "done RUNS FAILED". A hang is caught by the timeout around this script,
# and shows as a "start" without its "done".
rt=$1 root=$2 prefix=$3 n=$4 p=$5 log=$6
echo start >>"$log"
running=0 failed=0 i=0
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	"$rt" --root "$root" run --bundle "$prefix$i" "bench-many-$i" >/dev/null 2>&1 </dev/null &
	running=$((running + 1))
	if [ "$running" -ge "$p" ]; then
		wait -n || failed=$((failed + 1))
		running=$((running - 1))
	fi
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=$((failed + 1))
	running=$((running - 1))
done
echo "done $n $failed" >>"$log"
[ "$failed" -eq 0 ]
SH

# Everything else in a private mount namespace (see private_cgroupfs).
export WORK
BERTH_BENCH_INNER=1 unshare -m --propagation private bash "$SELF" "$WORK" "${RTS[*]}" "$MANY_LIMIT" &
INNER_PID=$!
inner_rc=0
wait "$INNER_PID" || inner_rc=$?
INNER_PID=
[ "$inner_rc" -eq 0 ] || die "the benchmark failed (status $inner_rc)"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# The report, on stdout.
# ---------------------------------------------------------------------------------------------
printf '%s\n' "${SKIPPED[@]+"${SKIPPED[@]}"}" >"$WORK/res/skipped"
echo "$SECCOMP_SRC" >"$WORK/res/seccomp_src"
printf '%s\n%s\n' "$LOAD_BEFORE" "$LOAD_AFTER" >"$WORK/res/load"
python3 "$REPO/hack/bench-report.py" "$WORK" "${RTS[*]}" "$RUNS" "$WARMUP" "$MANY" "$PARALLEL" "$MANY_RUNS" "$MANY_LIMIT"
