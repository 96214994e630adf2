#!/usr/bin/env bash
# Usage: sudo [RUNTIME=/path/to/runtime] bash hack/engine-docker.sh [--ci] [--only REGEX]
#
# dockerd 20.10, unchanged (its containerd and runc v2 shim call the runtime), running its
# containers on RUNTIME (default berth's release build; RUNTIME=/usr/sbin/runc to compare),
# added with --add-runtime and made the default. Installs docker.io from Debian, starts dockerd
# with its data-root, exec-root, socket and pid file under a temp dir (cgroupfs driver, a bridge
# of its own), imports a busybox image made here, runs the checks with /usr/bin/docker (Debian's
# client: /usr/local/bin/docker here is an unrelated Docker 28), prints PASS/FAIL per check and
# "N passed, M failed", then removes everything it made, iptables rules and ip_forward included.
# See hack/engine-lib.sh for TRACE= and KEEP_LOGS=; DOCKER_RUN_OPTS="--network none" adds options
# to every `docker run` (to see past a failure of the network's prestart hook, say).

# shellcheck source=hack/engine-lib.sh
source "$(dirname "$0")/engine-lib.sh"
eng_setup docker "$@"
eng_install docker.io iptables busybox-static iproute2 curl
eng_setup_runtime

T=$ENG_T
IMG=berth/busybox:latest
RT_LABEL=under-test
SUB=$(eng_free_subnet) || eng_die "no free 10.213.N.0/24 for the bridge"
BRIDGE=berthdk${SUB##*.}
ENG_BRIDGES=("$BRIDGE")
# This run's iptables rules are those naming its bridge or subnet; docker's chains are shared
# with any other docker on the host (removed only if made during the run and left unused).
ENG_NET_OWN=("$BRIDGE" "${SUB//./\\.}\\.")
ENG_NET_CHAINS=DOCKER
# Host paths dockerd 20.10 and its containerd use whatever their roots are: the shims' sockets,
# the plugin socket dir, containerd's opt dir, and the libtrust key.
ENG_RUN_DIRS=(/run/containerd /run/docker /opt/containerd /etc/docker/key.json)
eng_record_host

DOCKER=(/usr/bin/docker -H "unix://$T/docker.sock")
export DOCKER_CONFIG=$T/cli
DOCKERD_PID=

ip link add "$BRIDGE" type bridge
ip addr add "$SUB.1/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
cat >"$T/daemon.json" <<EOF
{
  "data-root": "$T/data",
  "exec-root": "$T/exec",
  "pidfile": "$T/docker.pid",
  "hosts": ["unix://$T/docker.sock"],
  "bridge": "$BRIDGE",
  "cgroup-parent": "$ENG_CG",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "runtimes": {"$RT_LABEL": {"path": "$RT"}},
  "default-runtime": "$RT_LABEL",
  "storage-driver": "overlay2",
  "log-driver": "json-file",
  "features": {"buildkit": false}
}
EOF

engine_stop() {
	if [ -n "$DOCKERD_PID" ] && [ -e /proc/$DOCKERD_PID ]; then
		local ids
		ids=$(timeout 20 "${DOCKER[@]}" ps -aq 2>/dev/null)
		# shellcheck disable=SC2086
		[ -z "$ids" ] || timeout 60 "${DOCKER[@]}" rm -f $ids >/dev/null 2>&1
		# dockerd stops its own containerd on the way out.
		eng_kill_wait TERM 30 "$DOCKERD_PID" || eng_kill_wait KILL 5 "$DOCKERD_PID"
	fi
}

eng_make_rootfs_tar
eng_log "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) in $T, runtime $RUNTIME"
setsid dockerd --config-file "$T/daemon.json" >"$T/logs/dockerd.log" 2>&1 </dev/null &
DOCKERD_PID=$!
wait_for 60 "${DOCKER[@]}" version || eng_die "dockerd did not come up: $(tail -5 "$T/logs/dockerd.log")"
run "${DOCKER[@]}" import --change 'CMD ["sh"]' "$T/rootfs.tar" "$IMG"
[ $RC = 0 ] || eng_die "docker import failed: $OUT"

# shellcheck disable=SC2206
RUN_OPTS=(${DOCKER_RUN_OPTS:-})
drun() { run "${DOCKER[@]}" run "${RUN_OPTS[@]}" "$@"; }
status_of() { "${DOCKER[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
status_is() { [ "$(status_of "$1")" = "$2" ]; }
exit_code_of() { "${DOCKER[@]}" inspect -f '{{.State.ExitCode}}' "$1" 2>/dev/null; }
logs_of() { "${DOCKER[@]}" logs "$1" 2>&1; }
ticks() { logs_of "$1" | grep -c '^tick' || true; }
more_ticks() { [ "$(ticks "$1")" -gt "$2" ]; }
started_times() { [ "$(logs_of "$1" | grep -c '^started')" -ge "$2" ]; }
in_logs() { logs_of "$1" | grep -- "$2" >/dev/null; }

# Gate: containers' cgroups land under ours, never under the caller's own; and the runtime
# under test is the one that ran it.
ck_cgroup_placement() {
	drun --rm "$IMG" cat /proc/self/cgroup
	want_rc 0 && want_cgroup_under
}

# dockerd reads `RUNTIME --version` (runc's "NAME version X" and "commit: Y" lines) for
# `docker info`.
ck_runtime_version() {
	local want
	want=$("$RUNTIME" --version | sed -n 's/^commit: *//p')
	run "${DOCKER[@]}" info -f '{{.RuncCommit.ID}}'
	want_rc 0 || return 1
	[ -n "$want" ] && [ "$OUT" = "$want" ] || why "docker info's runtime commit is '$OUT', \`$RUNTIME --version\` says '$want'"
}

ck_run_rm_output() {
	drun --rm --name d-out "$IMG" sh -c 'echo "out $(cat /proc/1/cmdline | tr "\0" " ")"; echo err-line >&2'
	want_rc 0 && want_out "out sh -c" && want_out err-line || return 1
	! "${DOCKER[@]}" inspect d-out >/dev/null 2>&1 || why "d-out still exists"
}

ck_exit_code() {
	drun --rm "$IMG" sh -c 'exit 7'
	want_rc 7
}

# docker exits 127 when the runtime's error names the program and says "no such file or
# directory".
ck_missing_executable() {
	drun --rm "$IMG" /no/such/program
	want_rc 127
}

ck_run_it() {
	run_tty "${DOCKER[@]}" run "${RUN_OPTS[@]}" -it --rm "$IMG" sh -c '[ -t 0 ] && [ -t 1 ] && echo "tty-ok $(tty)"'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

ck_run_detached_logs() {
	drun -d --name d-run "$IMG" ticker
	want_rc 0 || return 1
	wait_for 20 in_logs d-run '^tick 2 ' || why "no ticks in the logs: $(logs_of d-run | head -3)" || return 1
	status_is d-run running || why "status $(status_of d-run)" || return 1
	local id rt
	id=$("${DOCKER[@]}" inspect -f '{{.Id}}' d-run)
	rt=$("${DOCKER[@]}" inspect -f '{{.HostConfig.Runtime}}' d-run)
	[ "$rt" = $RT_LABEL ] || why "HostConfig.Runtime is '$rt'" || return 1
	# dockerd gives every runc-compatible runtime the root <exec-root>/runtime-runc/moby.
	compgen -G "$T/exec/runtime-*/moby/$id/state.json" >/dev/null || why "the runtime under test keeps no state for d-run"
}

ck_exec() {
	run "${DOCKER[@]}" exec d-run sh -c 'echo "exec-ok $(cat /proc/1/cmdline | tr "\0" " ")"'
	want_rc 0 && want_out "exec-ok /bin/sh /bin/ticker"
}

ck_exec_exit_code() {
	run "${DOCKER[@]}" exec d-run sh -c 'exit 5'
	want_rc 5
}

ck_exec_it() {
	run_tty "${DOCKER[@]}" exec -it d-run sh -c '[ -t 0 ] && echo "tty-ok $(tty)"'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

# docker top asks the runtime for the container's pids (`ps --format json`): the ticker and
# the sleep it runs (between two sleeps it may briefly be alone: asked again).
top_lists_both() {
	run "${DOCKER[@]}" top d-run
	want_rc 0 && want_out "/bin/ticker" && want_out "sleep"
}
ck_top() {
	for _ in 1 2 3 4 5; do
		top_lists_both && return 0
		[ "$RC" = 0 ] || return 1
	done
	return 1
}

ck_pause_unpause() {
	run "${DOCKER[@]}" pause d-run
	want_rc 0 || return 1
	status_is d-run paused || why "status after pause: $(status_of d-run)" || return 1
	sleep 0.5
	local n
	n=$(ticks d-run)
	sleep 1.2
	[ "$(ticks d-run)" = "$n" ] || why "still ticking while paused" || return 1
	run "${DOCKER[@]}" unpause d-run
	want_rc 0 || return 1
	status_is d-run running || why "status after unpause: $(status_of d-run)" || return 1
	wait_for 5 more_ticks d-run "$n" || why "not ticking after unpause"
}

# docker update sends `RUNTIME update --resources -` (stdin); the ticker prints what it sees.
ck_update() {
	run "${DOCKER[@]}" update --memory 96m --memory-swap 192m --pids-limit 50 d-run
	want_rc 0 || return 1
	wait_for 5 in_logs d-run "mem=100663296 pids=50" ||
		why "the container does not see 96m and 50 pids: $(logs_of d-run | tail -1)"
}

ck_stop() {
	local t0=$SECONDS
	run "${DOCKER[@]}" stop -t 20 d-run
	want_rc 0 || return 1
	[ $((SECONDS - t0)) -lt 15 ] || why "stop waited for the timeout: SIGTERM did not end it" || return 1
	in_logs d-run got-TERM || why "SIGTERM did not reach the trap" || return 1
	[ "$(exit_code_of d-run)" = 42 ] || why "exit code $(exit_code_of d-run), wanted the trap's 42"
}

ck_start() {
	run "${DOCKER[@]}" start d-run
	want_rc 0 || return 1
	wait_for 10 started_times d-run 2 || why "no second 'started' line" || return 1
	status_is d-run running || why "status $(status_of d-run)"
}

ck_restart() {
	local pid0
	pid0=$("${DOCKER[@]}" inspect -f '{{.State.Pid}}' d-run)
	run "${DOCKER[@]}" restart -t 20 d-run
	want_rc 0 || return 1
	wait_for 10 started_times d-run 3 || why "no third 'started' line" || return 1
	[ "$(logs_of d-run | grep -c got-TERM)" -ge 2 ] || why "SIGTERM did not reach the trap" || return 1
	local pid1
	pid1=$("${DOCKER[@]}" inspect -f '{{.State.Pid}}' d-run)
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] || why "pid $pid0 -> $pid1"
}

ck_kill() {
	run "${DOCKER[@]}" kill -s USR1 d-run
	want_rc 0 || return 1
	wait_for 5 in_logs d-run got-USR1 || why "SIGUSR1 did not reach the trap" || return 1
	run "${DOCKER[@]}" kill d-run
	want_rc 0 || return 1
	wait_for 10 status_is d-run exited || why "status after kill: $(status_of d-run)" || return 1
	[ "$(exit_code_of d-run)" = 137 ] || why "exit code $(exit_code_of d-run), wanted 137"
}

ck_published_port() {
	local port
	port=$(eng_free_port) || why "no free port" || return 1
	drun -d --name d-web -p "127.0.0.1:$port:80" "$IMG" httpd -f -p 80 -h /www
	want_rc 0 || return 1
	wait_for 15 curl -fsS "http://127.0.0.1:$port/" || true
	run curl -fsS --max-time 5 "http://127.0.0.1:$port/"
	want_rc 0 && want_out "hello from berth's engine test"
}

ck_memory() {
	drun --rm --memory 64m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	want_rc 0 && want_out 67108864
}

ck_pids_limit() {
	drun --rm --pids-limit 20 "$IMG" cat /sys/fs/cgroup/pids/pids.max
	want_rc 0 && want_out 20
}

ck_read_only_tmpfs() {
	drun --rm --read-only --tmpfs /scratch "$IMG" sh -c \
		'touch /x 2>/dev/null && echo root-writable; echo data >/scratch/f && cat /scratch/f; grep " /scratch " /proc/mounts'
	want_rc 0 && want_out data && want_out "tmpfs /scratch tmpfs rw" || return 1
	! grep -q root-writable <<<"$OUT" || why "/ is writable"
}

ck_user() {
	drun --rm --user 65534:65534 "$IMG" sh -c 'echo "ids $(id -u):$(id -g)"; touch /root/x 2>/dev/null && echo wrote-root; true'
	want_rc 0 && want_out "ids 65534:65534" || return 1
	! grep -q wrote-root <<<"$OUT" || why "uid 65534 could write /root"
}

ck_cap_drop_all() {
	drun --rm --cap-drop ALL "$IMG" sh -c 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; chown 1 /tmp 2>/dev/null && echo chown-worked; true'
	want_rc 0 && want_out "CapEff:	0000000000000000" && want_out "CapBnd:	0000000000000000" || return 1
	! grep -q chown-worked <<<"$OUT" || why "chown worked without CAP_CHOWN"
}

ck_volume() {
	mkdir -p "$T/vol"
	echo from-host >"$T/vol/in"
	drun --rm -v "$T/vol:/data" "$IMG" sh -c 'cat /data/in; echo from-container >/data/out'
	want_rc 0 && want_out from-host || return 1
	[ "$(cat "$T/vol/out" 2>/dev/null)" = from-container ] || why "the host does not see /data/out"
}

ck_init() {
	drun --rm --init "$IMG" sh -c 'echo "pid1 $(cat /proc/1/cmdline | tr "\0" " ")"; exit 3'
	want_rc 3 && want_out "pid1 /sbin/docker-init -- sh -c"
}

ck_pid_host() {
	drun --rm --pid host "$IMG" cat "/proc/$DOCKERD_PID/comm"
	want_rc 0 && want_out dockerd
}

ck_rm() {
	run "${DOCKER[@]}" rm -f d-run d-web
	want_rc 0 || return 1
	! "${DOCKER[@]}" inspect d-run >/dev/null 2>&1 || why "d-run still exists" || return 1
	local left
	left=$(find /sys/fs/cgroup/memory"$ENG_CG" -mindepth 1 -maxdepth 1 -type d 2>/dev/null)
	[ -z "$left" ] || why "cgroups left: $left" || return 1
	left=$(ls "$T"/exec/runtime-*/moby 2>/dev/null)
	[ -z "$left" ] || why "runtime state left: $left"
}

gate cgroup-placement ck_cgroup_placement
check runtime-version ck_runtime_version
check run-rm-output ck_run_rm_output
check exit-code ck_exit_code
check missing-executable ck_missing_executable
check run-it ck_run_it
check run-detached-logs ck_run_detached_logs
check exec ck_exec
check exec-exit-code ck_exec_exit_code
check exec-it ck_exec_it
check top ck_top
check pause-unpause ck_pause_unpause
check update ck_update
check stop ck_stop
check start ck_start
check restart ck_restart
check kill ck_kill
check published-port ck_published_port
check memory ck_memory
check pids-limit ck_pids_limit
check read-only-tmpfs ck_read_only_tmpfs
check user ck_user
check cap-drop-all ck_cap_drop_all
check volume ck_volume
check init ck_init
check pid-host ck_pid_host
check rm ck_rm
eng_finish
