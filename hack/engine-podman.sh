#!/usr/bin/env bash
# Usage: sudo [RUNTIME=/path/to/runtime] bash hack/engine-podman.sh [--ci] [--only REGEX]
#
# podman 4.3, unchanged (conmon calls the runtime), running its containers on RUNTIME (default
# berth's release build; RUNTIME=/usr/sbin/runc to compare). Installs podman from Debian, gives
# it a containers.conf and storage.conf with all its state under a temp dir (cgroupfs, netavark
# with a bridge of its own), imports a busybox image made here, runs the checks, prints
# PASS/FAIL per check and "N passed, M failed", then removes everything it made.
# See hack/engine-lib.sh for TRACE= and KEEP_LOGS=.

# shellcheck source=hack/engine-lib.sh
source "$(dirname "$0")/engine-lib.sh"
eng_setup podman "$@"
eng_install podman conmon netavark iptables catatonit busybox-static iproute2 curl
eng_setup_runtime

T=$ENG_T
IMG=localhost/berth/busybox:latest
SUB=$(eng_free_subnet) || eng_die "no free 10.213.N.0/24 for the bridge"
BRIDGE=berthpd${SUB##*.}
ENG_BRIDGES=("$BRIDGE")
# This run's iptables rules are those naming its bridge or subnet; podman's chains are shared
# with any other podman on the host (removed only if made during the run and left unused).
ENG_NET_OWN=("$BRIDGE" "${SUB//./\\.}\\.")
ENG_NET_CHAINS=NETAVARK
# Host paths podman 4.3 uses whatever its configuration: netavark's IPAM database in
# /run/containers/networks, the image copy's blob-info cache in /var/lib/containers/cache, and
# the runtime's default state dir (podman passes no --root, as users run it). With
# lock_type = "file" below, it makes no /dev/shm/libpod_lock.
ENG_RUN_DIRS=(/run/containers /var/lib/containers "/run/$RT_NAME")
eng_record_host

mkdir -p "$T/networks"
# podman's default rlimits (1048576) are above this sandbox's hard limits: EPERM in any runtime.
# podman 4.3 also lowers its own RLIMIT_NPROC to 32768 at start-up (seen with strace), so conmon
# and the runtime inherit no more than that.
NOFILE=$(ulimit -Hn)
NPROC=$(ulimit -Hu)
[ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ] && NPROC=32768
cat >"$T/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
init_path = "/usr/bin/catatonit"
log_driver = "k8s-file"

[network]
network_backend = "netavark"
network_config_dir = "$T/networks"
default_network = "berthnet"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
events_logfile_path = "$T/logs/events.log"
tmp_dir = "$T/tmp"
static_dir = "$T/storage/libpod"
image_copy_tmp_dir = "$T/tmp"
volume_path = "$T/volumes"
runtime = "$RT_NAME"
# podman passes --log-format=json and allows --cgroups=disabled only to runtimes it knows by name.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "berth"]
runtime_supports_nocgroups = ["crun", "krun", "berth"]

[engine.runtimes]
$RT_NAME = ["$RT"]
EOF
cat >"$T/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$T/storage"
runroot = "$T/runroot"
EOF
printf 'unqualified-search-registries = []\n' >"$T/registries.conf"
export CONTAINERS_CONF=$T/containers.conf CONTAINERS_STORAGE_CONF=$T/storage.conf \
	CONTAINERS_REGISTRIES_CONF=$T/registries.conf
PODMAN=(podman)

# (Not `podman system reset`: it writes podman machine's config under $HOME. The cleanup
# unmounts what the storage left mounted under the temp dir.)
engine_stop() {
	timeout 60 "${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1
}

# Once podman and its helpers are gone: the IPAM database and the blob-info cache, if this run
# made their directories and no other podman has used them since (it would have made its
# storage there).
engine_host_files() {
	if [ -z "${ENG_RUN_DIR_WAS[/run/containers]:-}" ] && [ ! -e /run/containers/storage ]; then
		rm -f /run/containers/networks/ipam.db
	fi
	if [ -z "${ENG_RUN_DIR_WAS[/var/lib/containers]:-}" ] && [ ! -e /var/lib/containers/storage ]; then
		rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
	fi
}

eng_make_rootfs_tar
eng_log "podman $(podman --version | awk '{print $3}') in $T, runtime $RUNTIME"
run "${PODMAN[@]}" import --change 'CMD ["sh"]' "$T/rootfs.tar" "$IMG"
[ $RC = 0 ] || eng_die "podman import failed: $OUT"
# The containers' network, with a bridge of our own name (podman 4.3's `network create` cannot
# name it): netavark's network file, as `podman network create --disable-dns` writes it.
cat >"$T/networks/berthnet.json" <<EOF
{
  "name": "berthnet",
  "id": "$(printf berthnet%s "$T" | sha256sum | cut -d' ' -f1)",
  "driver": "bridge",
  "network_interface": "$BRIDGE",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "subnets": [{"subnet": "$SUB.0/24", "gateway": "$SUB.1"}],
  "ipv6_enabled": false,
  "internal": false,
  "dns_enabled": false,
  "ipam_options": {"driver": "host-local"}
}
EOF
run "${PODMAN[@]}" network inspect berthnet
[ $RC = 0 ] || eng_die "podman does not see the network berthnet: $OUT"

# podman run with an absolute cgroup parent under ours: prun [OPTIONS...] -- ARGS...
prun() { run "${PODMAN[@]}" run --pull=never --cgroup-parent="$ENG_CG" "$@"; }
status_of() { "${PODMAN[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
status_is() { [ "$(status_of "$1")" = "$2" ]; }
logs_of() { "${PODMAN[@]}" logs "$1" 2>&1; }
ticks() { logs_of "$1" | grep -c '^tick' || true; }
more_ticks() { [ "$(ticks "$1")" -gt "$2" ]; }
started_twice() { [ "$(logs_of "$1" | grep -c '^started')" -ge 2 ]; }
in_logs() { logs_of "$1" | grep -- "$2" >/dev/null; }

# Gate: containers' cgroups (and conmon's) land under ours, never under the caller's own.
ck_cgroup_placement() {
	prun --rm "$IMG" cat /proc/self/cgroup
	want_rc 0 && want_cgroup_under
}

ck_run_rm_output() {
	prun --rm --name p-out "$IMG" sh -c 'echo "out $(cat /proc/1/cmdline | tr "\0" " ")"; echo err-line >&2'
	want_rc 0 && want_out "out sh -c" && want_out err-line || return 1
	! "${PODMAN[@]}" container exists p-out || why "p-out still exists"
}

ck_exit_code() {
	prun --rm "$IMG" sh -c 'exit 7'
	want_rc 7
}

ck_missing_executable() {
	prun --rm "$IMG" /no/such/program
	want_rc 127
}

ck_run_it() {
	# The pause after the echo: conmon 2.1 sometimes loses what a tty container wrote just before
	# it exited (1 run in 12 here, with runc as with berth).
	run_tty "${PODMAN[@]}" run --pull=never --cgroup-parent="$ENG_CG" -it --rm "$IMG" \
		sh -c '[ -t 0 ] && [ -t 1 ] && echo "tty-ok $(tty)" && sleep 0.5'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

ck_run_detached_logs() {
	prun -d --name p-run "$IMG" ticker
	want_rc 0 || return 1
	wait_for 20 in_logs p-run '^tick 2 ' || why "no ticks in the logs: $(logs_of p-run | head -3)" || return 1
	in_logs p-run '^started' || why "no 'started' line" || return 1
	[ "$(status_of p-run)" = running ] || why "status $(status_of p-run)" || return 1
	local id
	id=$("${PODMAN[@]}" inspect -f '{{.Id}}' p-run)
	[ -e "/run/$RT_NAME/$id/state.json" ] || why "the runtime under test has no state for p-run in /run/$RT_NAME"
}

ck_exec() {
	run "${PODMAN[@]}" exec p-run sh -c 'echo "exec-ok $(cat /proc/1/cmdline | tr "\0" " ")"'
	want_rc 0 && want_out "exec-ok /bin/sh /bin/ticker"
}

ck_exec_exit_code() {
	run "${PODMAN[@]}" exec p-run sh -c 'exit 5'
	want_rc 5
}

ck_exec_it() {
	run_tty "${PODMAN[@]}" exec -it p-run sh -c '[ -t 0 ] && echo "tty-ok $(tty)"'
	want_rc 0 && want_out "tty-ok /dev/pts/"
}

ck_pause_unpause() {
	run "${PODMAN[@]}" pause p-run
	want_rc 0 || return 1
	[ "$(status_of p-run)" = paused ] || why "status after pause: $(status_of p-run)" || return 1
	sleep 0.5
	local n
	n=$(ticks p-run)
	sleep 1.2
	[ "$(ticks p-run)" = "$n" ] || why "still ticking while paused" || return 1
	run "${PODMAN[@]}" unpause p-run
	want_rc 0 || return 1
	[ "$(status_of p-run)" = running ] || why "status after unpause: $(status_of p-run)" || return 1
	wait_for 5 more_ticks p-run "$n" || why "not ticking after unpause"
}

ck_memory() {
	prun --rm --memory 64m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	want_rc 0 && want_out 67108864
}

# podman update calls `RUNTIME update --resources=FILE`; the ticker prints the limit it sees.
ck_update() {
	run "${PODMAN[@]}" update --memory 96m --memory-swap 192m p-run
	want_rc 0 || return 1
	wait_for 5 in_logs p-run "mem=100663296 " || why "the container does not see 96m: $(logs_of p-run | tail -1)"
}

ck_stop() {
	local t0=$SECONDS
	run "${PODMAN[@]}" stop -t 20 p-run
	want_rc 0 || return 1
	[ $((SECONDS - t0)) -lt 15 ] || why "stop waited for the timeout: SIGTERM did not end it" || return 1
	in_logs p-run got-TERM || why "SIGTERM did not reach the trap" || return 1
	local code
	code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' p-run)
	[ "$code" = 42 ] || why "exit code $code, wanted the trap's 42"
}

ck_start() {
	run "${PODMAN[@]}" start p-run
	want_rc 0 || return 1
	wait_for 10 started_twice p-run || why "no second 'started' line" || return 1
	[ "$(status_of p-run)" = running ] || why "status $(status_of p-run)"
}

ck_kill() {
	run "${PODMAN[@]}" kill -s USR1 p-run
	want_rc 0 || return 1
	wait_for 5 in_logs p-run got-USR1 || why "SIGUSR1 did not reach the trap" || return 1
	run "${PODMAN[@]}" kill p-run
	want_rc 0 || return 1
	wait_for 10 status_is p-run exited || true
	[ "$(status_of p-run)" = exited ] || why "status after kill: $(status_of p-run)" || return 1
	local code
	code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' p-run)
	[ "$code" = 137 ] || why "exit code $code, wanted 137"
}

ck_published_port() {
	local port
	port=$(eng_free_port) || why "no free port" || return 1
	prun -d --name p-web -p "127.0.0.1:$port:80" "$IMG" httpd -f -p 80 -h /www
	want_rc 0 || return 1
	wait_for 15 curl -fsS "http://127.0.0.1:$port/" || true
	run curl -fsS --max-time 5 "http://127.0.0.1:$port/"
	want_rc 0 && want_out "hello from berth's engine test"
}

ck_rm() {
	run "${PODMAN[@]}" rm -f -t 0 p-run p-web
	want_rc 0 || return 1
	! "${PODMAN[@]}" container exists p-run || why "p-run still exists" || return 1
	local left
	left=$(find /sys/fs/cgroup/memory"$ENG_CG" -mindepth 1 -maxdepth 1 -name 'libpod-*' 2>/dev/null)
	[ -z "$left" ] || why "cgroups left: $left"
}

gate cgroup-placement ck_cgroup_placement
check run-rm-output ck_run_rm_output
check exit-code ck_exit_code
check missing-executable ck_missing_executable
check run-it ck_run_it
check run-detached-logs ck_run_detached_logs
check exec ck_exec
check exec-exit-code ck_exec_exit_code
check exec-it ck_exec_it
check pause-unpause ck_pause_unpause
check memory ck_memory
check update ck_update
check stop ck_stop
check start ck_start
check kill ck_kill
check published-port ck_published_port
check rm ck_rm
eng_finish
