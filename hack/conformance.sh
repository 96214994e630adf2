#!/usr/bin/env bash
# Runs the OCI conformance suite (opencontainers/runtime-tools' validation programs) against
# one or more runtimes and prints a per-program table: ok/fail counts per runtime and a short
# reason for each failure.
#
# The programs are built elsewhere, outside this repository (see issue 8): this script only
# runs them. Point it at a runtime-tools checkout where `runtimetest` and validation/*/*.t
# have been built (the programs read ./runtimetest and ./rootfs-amd64.tar.gz from there).
#
# usage: sudo bash hack/conformance.sh [-d DIR] [-p PROGRAM]... [-t SECONDS] [-k] RUNTIME...
#   -d DIR      the built runtime-tools checkout (default: $VALIDATION_DIR)
#   -p PROGRAM  run only this program, e.g. -p kill -p state (default: every validation/*/*.t)
#   -t SECONDS  timeout per program and runtime (default 120)
#   -k          keep the logs (each program's TAP, stderr and the runtime calls it made)
#   RUNTIME     runtime binaries, e.g. target/release/berth /usr/sbin/runc
#
# Each program runs, for each runtime, in its own mount namespace (unshare -m --propagation
# private) under a timeout, with TMPDIR (where it makes its bundles) in a scratch directory.
# The programs call $RUNTIME with runc's CLI and no global flags, so RUNTIME points at a small
# generated shim that adds a private --root and logs the call. On `create` the shim anchors an
# empty or relative linux.cgroupsPath under /berth-conformance-<pid> (as if the runtime were
# started from that cgroup): a relative path would otherwise resolve under the caller's own
# cgroup, which on this host is a service's. Absolute paths (the suite's /cgrouptest) are kept,
# since the cgroup programs read the cgroup files there. Afterwards every container left in the
# private root is force-deleted, leftover processes in those cgroups are killed, and the cgroup
# directories, bundles and the scratch directory are removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${VALIDATION_DIR:-}
timeout_s=120
keep=0
programs=()
while getopts "d:p:t:kh" opt; do
	case $opt in
	d) dir=$OPTARG ;;
	p) programs+=("$OPTARG") ;;
	t) timeout_s=$OPTARG ;;
	k) keep=1 ;;
	*)
		sed -n '10,15p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
die() {
	echo "conformance: $*" >&2
	exit 2
}
[ "$(id -u)" -eq 0 ] || die "must run as root"
[ $# -ge 1 ] || die "name at least one runtime binary (e.g. target/release/berth /usr/sbin/runc)"
[ -n "$dir" ] || die "no validation directory: pass -d DIR or set VALIDATION_DIR"
dir=$(cd "$dir" && pwd) || die "no such directory: $dir"
[ -x "$dir/runtimetest" ] && [ -f "$dir/rootfs-amd64.tar.gz" ] ||
	die "$dir: no built runtimetest or rootfs-amd64.tar.gz (build runtime-tools there first)"
case "$timeout_s" in '' | *[!0-9]*) die "-t: not a number of seconds: $timeout_s" ;; esac

runtimes=()
for rt in "$@"; do
	path=$(command -v -- "$rt") || die "no such runtime: $rt"
	runtimes+=("$(readlink -f -- "$path")")
done
if [ ${#programs[@]} -eq 0 ]; then
	for t in "$dir"/validation/*/*.t; do
		[ -x "$t" ] && programs+=("$(basename "$t" .t)")
	done
	[ ${#programs[@]} -gt 0 ] || die "$dir/validation: no built programs (*.t)"
fi
for p in "${programs[@]}"; do
	[ -x "$dir/validation/$p/$p.t" ] || die "no built program: $dir/validation/$p/$p.t"
done

cg_parent=berth-conformance-$$
# The cgroup the suite's own programs use; it must not belong to anyone else.
suite_cg=cgrouptest
work=$(mktemp -d /tmp/berth-conformance.XXXXXX)
chmod 755 "$work"

# Mount points of every cgroup hierarchy on the host.
cgroup_mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) ~ /^cgroup2?$/) print $5; break } }' \
		/proc/self/mountinfo
}

# Kills every process in the named top-level cgroup (any hierarchy), then removes its
# directories deepest first. Only ever called with names this script owns.
remove_cgroup() {
	local name=$1 m pid i
	for i in 1 2 3 4 5; do
		local pids=()
		for m in $(cgroup_mounts); do
			[ -d "$m/$name" ] || continue
			while read -r pid; do pids+=("$pid"); done < <(find "$m/$name" -name cgroup.procs -exec cat {} + 2>/dev/null)
		done
		[ ${#pids[@]} -eq 0 ] && break
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.2
	done
	for m in $(cgroup_mounts); do
		[ -d "$m/$name" ] && find "$m/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}

suite_cg_exists() {
	local m
	for m in $(cgroup_mounts); do [ -d "$m/$suite_cg" ] && return 0; done
	return 1
}

cleanup_run() { # RUNTIME RUNDIR
	local rt=$1 run=$2 id
	if [ -d "$run/root" ]; then
		for id in $(ls -A "$run/root"); do
			timeout -k 5 30 "$rt" --root "$run/root" delete --force "$id" >>"$run/cleanup.log" 2>&1 ||
				echo "cleanup: delete --force $id failed" >>"$run/cleanup.log"
		done
	fi
	remove_cgroup "$cg_parent"
	[ "$owns_suite_cg" -eq 1 ] && remove_cgroup "$suite_cg"
	# Bundles live in the run's TMPDIR; mounts there could only be in the private namespaces.
	if grep -q " $run/" /proc/self/mountinfo; then
		echo "cleanup: mounts left under $run" >>"$run/cleanup.log"
		awk -v p="$run/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
			xargs -r -n1 umount -l
	fi
	rm -rf "$run/tmp" "$run/root"
}

finish() {
	local rc=$?
	remove_cgroup "$cg_parent"
	if [ "$keep" -eq 1 ]; then
		echo "conformance: logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
	exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

owns_suite_cg=1
echo "conformance: ${#programs[@]} program(s), runtimes: ${runtimes[*]}" >&2
for p in "${programs[@]}"; do
	line="$p:"
	for i in "${!runtimes[@]}"; do
		rt=${runtimes[$i]}
		run=$work/$i/$p
		mkdir -p "$run/root" "$run/tmp"
		chmod 755 "$run" "$run/tmp"
		if suite_cg_exists; then
			owns_suite_cg=0
			echo "conformance: a /$suite_cg cgroup exists that this run did not make; not running $p" >"$run/stderr"
			echo 125 >"$run/rc"
			line+=" [skipped: /$suite_cg exists]"
			continue
		fi
		owns_suite_cg=1
		cat >"$run/runtime" <<-EOF
			#!/bin/sh
			# Generated by hack/conformance.sh: the runtime under test with a private --root.
			printf '%s\n' "\$*" >>'$run/calls.log'
			if [ "\$1" = create ]; then
			    python3 '$here/conformance.py' fix-cgroups-path '/$cg_parent' "\$@" || exit 1
			fi
			exec '$rt' --root '$run/root' "\$@"
		EOF
		chmod 755 "$run/runtime"
		set +e
		(cd "$dir" && RUNTIME=$run/runtime TMPDIR=$run/tmp \
			unshare -m --propagation private \
			timeout -k 5 "$timeout_s" "./validation/$p/$p.t") >"$run/tap" 2>"$run/stderr" </dev/null
		echo $? >"$run/rc"
		set -e
		cleanup_run "$rt" "$run"
		line+=" $(python3 "$here/conformance.py" summary "$run")"
	done
	echo "$line" >&2
done

labels=()
for rt in "${runtimes[@]}"; do labels+=("$(basename "$rt")"); done
python3 "$here/conformance.py" table "$work" "${labels[@]}" -- "${programs[@]}"
