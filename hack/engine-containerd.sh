#!/usr/bin/env bash
# Usage: sudo [RUNTIME=/path/to/runtime] bash hack/engine-containerd.sh [--ci] [--only REGEX]
#
# containerd 1.6 + ctr, unchanged, running its containers on RUNTIME (default berth's release
# build; RUNTIME=/usr/sbin/runc to compare) through the runc v2 shim (`ctr run --runc-binary`).
# Installs containerd from Debian, starts it with all its state under a temp dir, imports a
# busybox image made here, runs the checks, prints PASS/FAIL per check and "N passed, M failed",
# then stops and removes everything it made. See hack/engine-lib.sh for TRACE= and KEEP_LOGS=.

# shellcheck source=hack/engine-lib.sh
source "$(dirname "$0")/engine-lib.sh"
eng_setup containerd "$@"
eng_install containerd busybox-static iproute2
eng_setup_runtime
# containerd 1.6 puts its shims' sockets under /run/containerd/s whatever its state dir is.
ENG_RUN_DIRS=(/run/containerd)
eng_record_host

T=$ENG_T
NS=berth-test
IMG=docker.io/berth/busybox:latest
CTR=(ctr --address "$T/containerd.sock" --namespace "$NS")
# What every `ctr run` of the checks passes: the runtime, its state dir, the FIFO dir.
RUNOPTS=(--runc-binary "$RT" --runc-root "$T/runc-root" --fifo-dir "$T/fifo")
CTRD_PID=

eng_make_rootfs_tar
eng_make_image_archive berth/busybox:latest "$T/image.tar"

cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$T/containerd.sock"
[ttrpc]
  address = "$T/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
EOF

engine_stop() {
	local id
	if [ -n "$CTRD_PID" ] && [ -e /proc/$CTRD_PID ]; then
		for id in $("${CTR[@]}" task ls -q 2>/dev/null); do
			timeout 20 "${CTR[@]}" task kill -a -s KILL "$id" >/dev/null 2>&1
			timeout 20 "${CTR[@]}" task rm -f "$id" >/dev/null 2>&1
		done
		for id in $("${CTR[@]}" container ls -q 2>/dev/null); do
			timeout 20 "${CTR[@]}" container rm "$id" >/dev/null 2>&1
		done
		eng_kill_wait TERM 15 "$CTRD_PID" || eng_kill_wait KILL 5 "$CTRD_PID"
	fi
}

eng_log "starting containerd ($(containerd --version | awk '{print $3}')) in $T, runtime $RUNTIME"
setsid containerd --config "$T/config.toml" >"$T/logs/containerd.log" 2>&1 </dev/null &
CTRD_PID=$!
wait_for 30 "${CTR[@]}" version || eng_die "containerd did not come up: $(tail -5 "$T/logs/containerd.log")"
run "${CTR[@]}" image import "$T/image.tar"
[ $RC = 0 ] || eng_die "ctr image import failed: $OUT"
"${CTR[@]}" image ls -q | grep -xF "$IMG" >/dev/null || eng_die "image $IMG not found after import"

# ctr run with the common options and an absolute cgroup under ours: crun ID [ARGS...]
crun() {
	local opts=() id
	while [ $# -gt 0 ] && [[ $1 == -* ]]; do
		opts+=("$1")
		shift
	done
	id=$1
	shift
	run "${CTR[@]}" run "${RUNOPTS[@]}" --cgroup "$ENG_CG/$id" "${opts[@]}" "$IMG" "$id" "$@"
}
crun_tty() {
	local id=$1
	shift
	run_tty "${CTR[@]}" run "${RUNOPTS[@]}" --cgroup "$ENG_CG/$id" -t --rm "$IMG" "$id" "$@"
}
task_status() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }
task_pid() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
log_of() { cat "$T/logs/$1.log" 2>/dev/null; }
ticks() { log_of "$1" | grep -c '^tick' || true; }
more_ticks() { [ "$(ticks "$1")" -gt "$2" ]; }
gone() {
	! "${CTR[@]}" container ls -q | grep -xF "$1" >/dev/null || why "container $1 still listed" || return 1
	[ ! -e "$T/runc-root/$NS/$1" ] || why "runtime state $T/runc-root/$NS/$1 still there" || return 1
	[ ! -d "/sys/fs/cgroup/memory$ENG_CG/$1" ] || why "cgroup $ENG_CG/$1 still there"
}

# Gate: the container's cgroups are where we said, never under the caller's own cgroup.
ck_cgroup_placement() {
	crun --rm c-cg cat /proc/self/cgroup
	want_rc 0 && want_cgroup_under
}

ck_run_rm_output() {
	crun --rm c-out sh -c 'echo "out $(cat /proc/1/cmdline | tr "\0" " ")"; echo err-line >&2'
	want_rc 0 && want_out "out sh -c" && want_out "err-line" && gone c-out
}

ck_exit_code() {
	crun --rm c-exit sh -c 'exit 7'
	want_rc 7 && gone c-exit
}

# The shim shows the runtime's last error line; runc's wording names the missing file.
ck_missing_executable() {
	crun --rm c-noexe /no/such/program
	[ "$RC" != 0 ] || why "wanted a failure"
	want_out "no such file or directory" && gone c-noexe
}

ck_run_tty() {
	crun_tty c-tty sh -c '[ -t 0 ] && [ -t 1 ] && echo "tty-ok $(tty)"'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

# The long-running container of the checks below: a ticker with a 64 MiB memory limit, its
# output in a log file. ctr mounts no cgroupfs by default: the container gets one (as CRI
# does) to read its limit.
ck_run_detached_memory() {
	crun -d --memory-limit=67108864 --log-uri="file://$T/logs/c-run.log" \
		--mount=type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:nodev:noexec c-run ticker
	want_rc 0 || return 1
	wait_for 20 grep -q '^tick 2 ' "$T/logs/c-run.log" || why "no ticks in the log: $(log_of c-run | head -3)" || return 1
	grep -q '^tick 1 mem=67108864 ' "$T/logs/c-run.log" || why "limit seen inside: $(grep -m1 '^tick' "$T/logs/c-run.log")" || return 1
	local host
	host=$(cat "/sys/fs/cgroup/memory$ENG_CG/c-run/memory.limit_in_bytes" 2>&1)
	[ "$host" = 67108864 ] || why "memory.limit_in_bytes of $ENG_CG/c-run: $host" || return 1
	[ "$(task_status c-run)" = RUNNING ] || why "task status $(task_status c-run)" || return 1
	[ -e "$T/runc-root/$NS/c-run/state.json" ] || why "the runtime under test keeps no state for c-run in $T/runc-root/$NS"
}

ck_task_exec() {
	run "${CTR[@]}" task exec --fifo-dir "$T/fifo" --exec-id e1 c-run sh -c 'echo "exec-ok $(cat /proc/1/cmdline | tr "\0" " ")"'
	want_rc 0 && want_out "exec-ok /bin/sh /bin/ticker"
}

ck_task_exec_exit_code() {
	run "${CTR[@]}" task exec --fifo-dir "$T/fifo" --exec-id e2 c-run sh -c 'exit 3'
	want_rc 3
}

ck_task_exec_tty() {
	run_tty "${CTR[@]}" task exec --fifo-dir "$T/fifo" -t --exec-id e3 c-run sh -c '[ -t 0 ] && echo "tty-ok $(tty)"'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

# ctr task ps asks the runtime for the container's pids (`ps --format json`): the ticker and
# the sleep it runs (between two sleeps it may briefly be alone: asked again).
ps_lists_both() {
	local pid
	pid=$(task_pid c-run)
	run "${CTR[@]}" task ps c-run
	want_rc 0 || return 1
	awk 'NR > 1 { print $1 }' <<<"$OUT" | grep -xF "$pid" >/dev/null || why "init pid $pid not listed" || return 1
	[ "$(awk 'NR > 1' <<<"$OUT" | wc -l)" -ge 2 ] || why "wanted the ticker and its sleep"
}
ck_task_ps() {
	for _ in 1 2 3 4 5; do
		ps_lists_both && return 0
		[ "$RC" = 0 ] || return 1
	done
	return 1
}

ck_pause_resume() {
	run "${CTR[@]}" task pause c-run
	want_rc 0 || return 1
	[ "$(task_status c-run)" = PAUSED ] || why "status after pause: $(task_status c-run)" || return 1
	sleep 0.5
	local n
	n=$(ticks c-run)
	sleep 1.2
	[ "$(ticks c-run)" = "$n" ] || why "still ticking while paused" || return 1
	run "${CTR[@]}" task resume c-run
	want_rc 0 || return 1
	[ "$(task_status c-run)" = RUNNING ] || why "status after resume: $(task_status c-run)" || return 1
	wait_for 5 more_ticks c-run "$n" || why "not ticking after resume"
}

ck_kill() {
	run "${CTR[@]}" task kill -s SIGUSR1 c-run
	want_rc 0 || return 1
	wait_for 5 grep -q got-USR1 "$T/logs/c-run.log" || why "USR1 did not reach the trap" || return 1
	run "${CTR[@]}" task kill c-run
	want_rc 0 || return 1
	wait_for 10 grep -q got-TERM "$T/logs/c-run.log" || why "TERM did not reach the trap" || return 1
	wait_for 10 task_is c-run STOPPED || why "status after TERM: $(task_status c-run)"
}

ck_rm() {
	# ctr task rm warns with the task's exit status (the trap's 42).
	run "${CTR[@]}" task rm c-run
	want_rc 0 && want_out "exit code 42" || return 1
	run "${CTR[@]}" container rm c-run
	want_rc 0 && gone c-run
}

ck_kill_all() {
	crun -d --log-uri="file://$T/logs/c-all.log" c-all sh -c 'sleep 1000 & sleep 1000 & echo ready; wait'
	want_rc 0 || return 1
	wait_for 10 grep -q ready "$T/logs/c-all.log" || why "container did not start" || return 1
	local procs=/sys/fs/cgroup/pids$ENG_CG/c-all/cgroup.procs
	[ "$(wc -l <"$procs")" -ge 3 ] || why "wanted 3 processes in $procs" || return 1
	run "${CTR[@]}" task kill -a -s SIGKILL c-all
	want_rc 0 || return 1
	wait_for 10 task_is c-all STOPPED || why "status after kill --all: $(task_status c-all)" || return 1
	[ ! -s "$procs" ] || why "processes left: $(cat "$procs" | tr '\n' ' ')" || return 1
	run "${CTR[@]}" task rm c-all
	run "${CTR[@]}" container rm c-all
	want_rc 0 && gone c-all
}

ck_rm_force_running() {
	crun -d --log-uri="file://$T/logs/c-force.log" c-force ticker
	want_rc 0 || return 1
	wait_for 10 grep -q '^tick' "$T/logs/c-force.log" || why "container did not start" || return 1
	run "${CTR[@]}" task rm -f c-force
	[ "$RC" = 0 ] || [ "$RC" = 137 ] || why "wanted exit 0 or 137" || return 1
	run "${CTR[@]}" container rm c-force
	want_rc 0 && gone c-force
}

gate cgroup-placement ck_cgroup_placement
check run-rm-output ck_run_rm_output
check exit-code ck_exit_code
check missing-executable ck_missing_executable
check run-tty ck_run_tty
check run-detached-memory ck_run_detached_memory
check task-exec ck_task_exec
check task-exec-exit-code ck_task_exec_exit_code
check task-exec-tty ck_task_exec_tty
check task-ps ck_task_ps
check pause-resume ck_pause_resume
check kill ck_kill
check rm ck_rm
check kill-all ck_kill_all
check rm-force-running ck_rm_force_running
eng_finish
