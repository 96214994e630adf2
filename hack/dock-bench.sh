#!/usr/bin/env bash
# Times `run --rm busybox true` with dock against podman and docker on the same image and the
# same runtime (runc), in one run, and prints medians and ratios (goal: dock ≤ 0.5× podman).
# Also times dock on berth, and dock's import/load/save of the image.
#
#   sudo bash hack/dock-bench.sh [RUNS]      (default 20 runs each)
#
# podman and docker are measured only when present (docker only if its daemon answers).
# Everything lives in a scratch directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
[ "$(id -u)" -eq 0 ] || { echo "dock-bench: needs root" >&2; exit 1; }
cargo build --release --quiet --bin dock --bin berth
dock=$PWD/target/release/dock
berth=$PWD/target/release/berth
runc=${RUNC:-/usr/sbin/runc}
work=$(mktemp -d /tmp/dock-bench.XXXXXX)
podman_args=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay
	--runtime "$runc" --cgroup-manager cgroupfs --events-backend none)
# (Not `podman system reset`: it writes podman machine's config under $HOME; everything of
# this run's podman is under $work.)
cleanup() {
	command -v podman >/dev/null && podman "${podman_args[@]}" rmi -af >/dev/null 2>&1 || true
	grep -F " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

bash hack/mkrootfs.sh "$work/rootfs" 2>/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

# ms of one command
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "dock-bench: failed: $*" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
# Medians of $runs runs of several commands, interleaved (run 1 of each, then run 2 of each...)
# so that the machine's load falls on all of them alike. Commands are given as strings.
medians() {
	local cmd i
	for cmd in "$@"; do eval "$cmd" >/dev/null 2>&1 || { echo "dock-bench: failed: $cmd" >&2; eval "$cmd"; exit 1; }; done
	for i in $(seq "$runs"); do
		for cmd in "$@"; do
			# shellcheck disable=SC2086
			echo "$cmd	$(eval ms $cmd)"
		done
	done | awk -F'\t' '{v[$1] = v[$1] " " $2} END {for (c in v) print c "\t" v[c]}' |
		while IFS=$'\t' read -r c vals; do
			echo "$c	$(echo $vals | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
		done
}

d=(--root "$work/dock")
echo "dock import:       $(ms "$dock" "${d[@]}" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox) ms"
echo "dock save:         $(ms "$dock" "${d[@]}" save -o "$work/busybox-save.tar" busybox) ms"
"$dock" "${d[@]}" rmi busybox >/dev/null
echo "dock load:         $(ms "$dock" "${d[@]}" load -i "$work/busybox-save.tar") ms"

dock_runc_cmd="$dock --root $work/dock --runtime $runc run --rm busybox true"
dock_berth_cmd="$dock --root $work/dock --runtime $berth run --rm busybox true"
cmds=("$dock_runc_cmd" "$dock_berth_cmd")
podman_cmd=""
if command -v podman >/dev/null; then
	podman "${podman_args[@]}" load -i "$work/busybox-save.tar" >/dev/null 2>&1
	# podman's default RLIMIT_NOFILE (1048576) is above this sandbox's hard limit.
	podman_cmd="podman ${podman_args[*]} run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox true"
	cmds+=("$podman_cmd")
fi
docker_cmd=""
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
	docker load -i "$work/busybox-save.tar" >/dev/null
	docker_cmd="docker run --rm --network none busybox true"
	cmds+=("$docker_cmd")
fi

results=$(medians "${cmds[@]}")
med() { printf '%s\n' "$results" | awk -F'\t' -v c="$1" '$1 == c {print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
dock_runc=$(med "$dock_runc_cmd")
echo "dock run --rm (runc):   median ${dock_runc} ms over $runs runs"
echo "dock run --rm (berth):  median $(med "$dock_berth_cmd") ms over $runs runs"
if [ -n "$podman_cmd" ]; then
	p=$(med "$podman_cmd")
	echo "podman run --rm (runc): median ${p} ms  → dock/podman = $(ratio "$dock_runc" "$p") (goal ≤ 0.5)"
else
	echo "podman: not installed, skipped"
fi
if [ -n "$docker_cmd" ]; then
	k=$(med "$docker_cmd")
	echo "docker run --rm:        median ${k} ms  → dock/docker = $(ratio "$dock_runc" "$k")"
	docker rmi busybox >/dev/null 2>&1 || true
else
	echo "docker: no daemon answers, skipped"
fi
