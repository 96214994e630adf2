# Shared by hack/engine-containerd.sh, hack/engine-podman.sh and hack/engine-docker.sh (sourced,
# not run): options, the temp dir, the busybox image, the check runner, and a cleanup that
# removes everything the engine made. An engine script calls eng_setup, eng_install,
# eng_setup_runtime and eng_record_host (after setting ENG_RUN_DIRS, ENG_BRIDGES, ENG_NET_OWN
# and ENG_NET_CHAINS), defines engine_stop (stop what it started), runs `gate`/`check` for each
# check and ends with eng_finish.
#
# Options of every engine script:
#   RUNTIME=/path       the runtime the engine runs (default: this repository's release build
#                       of berth, target/release/berth; RUNTIME=/usr/sbin/runc to compare)
#   --ci                CI mode: with berth, a failure listed in hack/engine-xfail is reported as
#                       XFAIL and does not fail the run; any other failure does, and so does a
#                       listed check that passes (XPASS: remove it from the list)
#   --only REGEX        run only the checks whose name matches (their setup still runs)
#   TRACE=FILE          log every runtime command line the engine runs (and its exit code) to FILE
#   KEEP_LOGS=DIR       copy the engine's logs to DIR before cleaning up
#   ENG_TIMEOUT=SECS    how long one engine command may take (default 90)

set -euo pipefail

ENG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENG_XFAIL_FILE=$ENG_REPO/hack/engine-xfail
ENG_START=$SECONDS
ENG_CI=0
ENG_ONLY=
ENG_PASSED=0
ENG_FAILED=0
ENG_XFAILED=0
ENG_FAILS=()
ENG_CLEANED=0
ENG_T=
# Engine commands give up after this long (a hung engine must not stall CI).
ENG_TIMEOUT=${ENG_TIMEOUT:-90}

eng_log() { echo "engine-$ENG_NAME: $*" >&2; }
eng_die() {
	eng_log "$*"
	exit 1
}

eng_parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--ci) ENG_CI=1 ;;
		--only)
			[ $# -ge 2 ] || eng_die "--only needs a regular expression"
			ENG_ONLY=$2
			shift
			;;
		-h | --help)
			sed -n '/^# Usage/,/^$/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) eng_die "unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
}

# Installs the Debian packages that are missing (apt-get update first). A package's maintainer
# scripts must not start a system-wide daemon: a temporary policy-rc.d forbids it where none
# exists.
eng_install() {
	local need=() pkg made_policy=0
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep "install ok installed" >/dev/null || need+=("$pkg")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	eng_log "installing ${need[*]}"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; } || rc=$?
	[ $made_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || eng_die "apt-get install ${need[*]} failed"
}

# Runs a command with the engine timeout; its stdout and stderr (merged) go to OUT, its exit
# status to RC. Never fails, so a check goes on to say what went wrong.
OUT=
RC=0
run() {
	RC=0
	OUT=$(timeout -k 5 "$ENG_TIMEOUT" "$@" 2>&1) || RC=$?
}
# The same, inside a pseudo-terminal (for -t/-it): `script` gives the engine a real tty.
run_tty() {
	local cmd
	cmd=$(printf '%q ' "$@")
	RC=0
	OUT=$(timeout -k 5 "$ENG_TIMEOUT" script -qefc "$cmd" /dev/null </dev/null 2>&1) || RC=$?
	OUT=${OUT//$'\r'/}
}

# A check's failure reason: what it wanted and what the engine said (one line).
REASON=
why() {
	local extra=${OUT:-}
	extra=$(printf '%s' "$extra" | tr '\n' '|' | sed 's/|*$//; s/|/ | /g' | cut -c1-400)
	REASON="$* (exit $RC${extra:+: $extra})"
	return 1
}
# want_rc N: the last run exited N.
want_rc() {
	[ "$RC" = "$1" ] || why "wanted exit $1"
}
# want_out TEXT: the last run's output holds TEXT (a fixed string).
want_out() {
	grep -qF -- "$1" <<<"$OUT" || why "wanted '$1' in the output"
}
# Polls a command (silently) until it succeeds; 1 after SECS seconds.
wait_for() {
	local secs=$1 deadline
	shift
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# The berth features a check waits for, from hack/engine-xfail ("FEATURE ENGINE CHECK" lines),
# joined with '+'; fails if the check is not listed.
eng_xfail_feature() {
	[ -f "$ENG_XFAIL_FILE" ] || return 1
	awk -v e="$ENG_NAME" -v c="$1" '
		!/^#/ && NF >= 3 && $2 == e && $3 == c { f = f (f == "" ? "" : "+") $1 }
		END { if (f == "") exit 1; print f }' "$ENG_XFAIL_FILE"
}

# check NAME FUNCTION [ARGS...]: runs one check and prints its line.
check() {
	local name=$1 fn=$2 feature=
	shift 2
	if [ -n "$ENG_ONLY" ] && ! [[ $name =~ $ENG_ONLY ]]; then
		return 0
	fi
	REASON=
	local t0=$SECONDS ok=0
	if "$fn" "$@"; then ok=1; fi
	local took=$((SECONDS - t0))
	[ $ENG_XFAIL_APPLIES = 1 ] && feature=$(eng_xfail_feature "$name") || feature=
	if [ $ok = 1 ] && [ -n "$feature" ] && [ $ENG_CI = 1 ]; then
		echo "XPASS $name: passes now; remove it from hack/engine-xfail ($feature) [${took}s]"
		ENG_FAILED=$((ENG_FAILED + 1))
		ENG_FAILS+=("$name")
	elif [ $ok = 1 ]; then
		echo "PASS $name [${took}s]"
		ENG_PASSED=$((ENG_PASSED + 1))
	elif [ -n "$feature" ] && [ $ENG_CI = 1 ]; then
		echo "XFAIL $name: needs $feature: ${REASON:-failed} [${took}s]"
		ENG_XFAILED=$((ENG_XFAILED + 1))
	else
		echo "FAIL $name: ${REASON:-failed}${feature:+ (expected until berth has $feature)} [${took}s]"
		ENG_FAILED=$((ENG_FAILED + 1))
		ENG_FAILS+=("$name")
	fi
}

# gate NAME FUNCTION: a check that runs whatever --only says; if it sets ENG_STOP (e.g. a
# container's cgroup is not where it must be), nothing else runs.
ENG_STOP=
gate() {
	local only=$ENG_ONLY
	ENG_ONLY=
	check "$@"
	ENG_ONLY=$only
	if [ -n "$ENG_STOP" ]; then
		eng_log "$1: $ENG_STOP: stopping before anything else runs"
		eng_finish
		exit 1
	fi
}

# want_cgroup_under: the last run printed /proc/self/cgroup with a memory cgroup under ours;
# if not, the gate stops the run.
want_cgroup_under() {
	local mem now
	mem=$(grep -E '^[0-9]+:memory:' <<<"$OUT" | cut -d: -f3)
	if ! [[ $mem == "$ENG_CG"/?* ]]; then
		ENG_STOP="the container's memory cgroup is '$mem', not under $ENG_CG"
		why "$ENG_STOP"
		return 1
	fi
	# Nor anything else (conmon's, a shim's) under the caller's own memory cgroup.
	now=$(eng_caller_cgroups)
	if [ "$now" != "$ENG_CALLER_CGROUPS" ]; then
		ENG_STOP="new cgroups under the caller's own memory cgroup: $(comm -13 <(echo "$ENG_CALLER_CGROUPS") <(echo "$now") | tr '\n' ' ')"
		why "$ENG_STOP"
		return 1
	fi
}

# The cgroups below the caller's own in the memory hierarchy (where a relative cgroup path
# would land: on this machine, its own service's cgroup).
eng_caller_cgroups() {
	local own
	own=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	[ -n "$own" ] && [ -d "/sys/fs/cgroup/memory$own" ] || return 0
	find "/sys/fs/cgroup/memory$own" -mindepth 1 -type d 2>/dev/null | sort
}

# --- host state: recorded before the engine starts, restored by the cleanup -------------------

ENG_SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
	net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.ipv4.conf.all.route_localnet net.ipv4.conf.default.route_localnet)
declare -A ENG_SYSCTL_WAS=()
declare -A ENG_NFT_TABLES_WAS=()
ENG_NETNS_WAS=
ENG_CALLER_CGROUPS=
# Host paths an engine uses whatever its configured roots; set before eng_record_host.
ENG_RUN_DIRS=()
declare -A ENG_RUN_DIR_WAS=()

eng_sysctl_path() { echo "/proc/sys/${1//.//}"; }

eng_record_host() {
	local k p cmd t
	for k in "${ENG_SYSCTLS[@]}"; do
		p=$(eng_sysctl_path "$k")
		[ -r "$p" ] && ENG_SYSCTL_WAS[$k]=$(cat "$p")
	done
	for cmd in iptables ip6tables; do
		command -v $cmd >/dev/null || continue
		for t in filter nat mangle raw; do
			$cmd -t $t -S >"$ENG_T/host/$cmd-$t.before" 2>/dev/null || true
		done
	done
	if command -v nft >/dev/null; then
		for t in $(nft list tables 2>/dev/null | awk '{print $2 "/" $3}'); do
			ENG_NFT_TABLES_WAS[$t]=1
		done
	fi
	ENG_NETNS_WAS=$(ls /run/netns 2>/dev/null || true)
	ENG_CALLER_CGROUPS=$(eng_caller_cgroups)
	for p in "${ENG_RUN_DIRS[@]}"; do
		[ -e "$p" ] && ENG_RUN_DIR_WAS[$p]=1
	done
	return 0
}

# ENG_NET_OWN: regexes only this run's rules match (its bridge, its subnet). ENG_NET_CHAINS: a
# regex for the chains the engine makes (DOCKER..., NETAVARK...), which every engine of its kind
# on the host shares.
eng_net_own() {
	local IFS='|'
	echo "${ENG_NET_OWN[*]:-^$}"
}

# Chains of the engine's kind made during the run: CMD TABLE.
eng_new_chains() {
	local c
	[ -n "$ENG_NET_CHAINS" ] || return 0
	for c in $($1 -t "$2" -S 2>/dev/null | awk '$1 == "-N" { print $2 }'); do
		[[ $c =~ ^($ENG_NET_CHAINS) ]] || continue
		grep -qxF -- "-N $c" "$ENG_T/host/$1-$2.before" || echo "$c"
	done
}

# A chain of the engine's that no container uses: none of its rules names an address, an
# interface or a port, or jumps into another of the engine's chains, and only the built-in
# chains jump into it. CMD TABLE CHAIN.
eng_chain_unused() {
	local rules own
	rules=$($1 -t "$2" -S 2>/dev/null)
	own=$(grep -- "^-A $3 " <<<"$rules")
	! grep -E -- ' (-[sdio]|--dport|--to-destination|--to-ports) ' <<<"$own" >/dev/null || return 1
	! grep -oE -- ' -[jg] [^ ]+' <<<"$own" | awk '{ print $2 }' | grep -E "^($ENG_NET_CHAINS)" >/dev/null || return 1
	! grep -E -- " -[jg] $3( |\$)" <<<"$rules" | grep -vE '^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' >/dev/null
}

# Removes what the run added to iptables and nobody else uses: the rules naming our bridge or
# subnet; then the engine's chains made during the run that are left unused, with the jumps into
# them; the chain policies it changed; and the tables iptables-nft made for them, once they
# hold nothing again. Another engine's rules and chains in use stay.
eng_restore_iptables() {
	local cmd fam t line chain pol old own before changed
	own=$(eng_net_own)
	for cmd in iptables ip6tables; do
		command -v $cmd >/dev/null || continue
		fam=ip
		[ $cmd = ip6tables ] && fam=ip6
		for t in filter nat mangle raw; do
			before=$ENG_T/host/$cmd-$t.before
			[ -f "$before" ] || continue
			$cmd -t $t -S 2>/dev/null | grep '^-A ' | tac | while IFS= read -r line; do
				grep -qxF -- "$line" "$before" && continue
				grep -Eq -- "$own" <<<"$line" || continue
				eval "$cmd -t $t -D ${line#-A }" 2>/dev/null || eng_log "cleanup: cannot delete $cmd -t $t $line"
			done
			for _ in 1 2 3 4; do
				changed=0
				for chain in $(eng_new_chains $cmd $t); do
					eng_chain_unused $cmd $t "$chain" || continue
					$cmd -t $t -S 2>/dev/null | grep -E -- " -j $chain( |\$)" | grep '^-A ' | while IFS= read -r line; do
						eval "$cmd -t $t -D ${line#-A }" 2>/dev/null
					done
					$cmd -t $t -F "$chain" 2>/dev/null
					$cmd -t $t -X "$chain" 2>/dev/null && changed=1
				done
				[ $changed = 1 ] || break
			done
			$cmd -t $t -S 2>/dev/null | awk '$1 == "-P" { print $2, $3 }' | while read -r chain pol; do
				old=$(awk -v c="$chain" '$1 == "-P" && $2 == c { print $3 }' "$before")
				[ -z "$old" ] || [ "$old" = "$pol" ] || $cmd -t $t -P "$chain" "$old"
			done
			if command -v nft >/dev/null && [ -z "${ENG_NFT_TABLES_WAS[$fam/$t]:-}" ] &&
				nft list table $fam $t >/dev/null 2>&1 &&
				! $cmd -t $t -S 2>/dev/null | grep -v '^-P [A-Z]* ACCEPT$' >/dev/null; then
				nft delete table $fam $t 2>/dev/null || true
			fi
		done
	done
}

eng_restore_sysctls() {
	local k p now
	for k in "${!ENG_SYSCTL_WAS[@]}"; do
		p=$(eng_sysctl_path "$k")
		[ -w "$p" ] || continue
		now=$(cat "$p")
		[ "$now" = "${ENG_SYSCTL_WAS[$k]}" ] || echo "${ENG_SYSCTL_WAS[$k]}" >"$p" || true
	done
}

# --- processes, mounts, cgroups ------------------------------------------------------------------

# PIDs of the processes whose command line names the temp dir: the engine, its shims, conmon...
eng_our_pids() {
	local p cmd
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		{ cmd=$(tr '\0' ' ' <"$p/cmdline"); } 2>/dev/null || continue
		case $cmd in *"$ENG_T"*) echo "${p#/proc/}" ;; esac
	done
}

eng_no_pids_left() { [ -z "$(eng_our_pids)" ]; }

# Every process in our cgroup parent (the containers).
eng_cgroup_pids() {
	local h
	for h in /sys/fs/cgroup/*/"${ENG_CG#/}" /sys/fs/cgroup/"${ENG_CG#/}"; do
		[ -d "$h" ] || continue
		find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null || true
	done | sort -un
}

# Signals PIDs, then waits up to SECS for them to go; returns 1 if some remain.
eng_kill_wait() {
	local sig=$1 secs=$2 p alive
	shift 2
	[ $# -gt 0 ] || return 0
	kill -"$sig" "$@" 2>/dev/null || true
	local deadline=$((SECONDS + secs))
	while :; do
		alive=0
		for p in "$@"; do
			if [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null; then alive=1; fi
		done
		[ $alive = 0 ] && return 0
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

eng_thaw() {
	local f
	[ -d /sys/fs/cgroup/freezer/"${ENG_CG#/}" ] || return 0
	find /sys/fs/cgroup/freezer/"${ENG_CG#/}" -name freezer.state | while read -r f; do
		echo THAWED >"$f" 2>/dev/null || true
	done
}

eng_remove_cgroups() {
	local h
	for h in /sys/fs/cgroup/*/"${ENG_CG#/}" /sys/fs/cgroup/"${ENG_CG#/}"; do
		[ -d "$h" ] || continue
		find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ ! -d "$h" ] || eng_log "cleanup: could not remove cgroup $h"
	done
}

eng_unmount_under() {
	local dir=$1 m
	findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
		m=$(printf '%b' "$m")
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || eng_log "cleanup: cannot unmount $m"
	done
}

# Runs once, from the end of the script or from the trap (failure, Ctrl-C).
eng_cleanup() {
	[ $ENG_CLEANED = 0 ] || return 0
	ENG_CLEANED=1
	trap '' INT TERM
	set +e
	[ -n "$ENG_T" ] && [ -d "$ENG_T" ] || return 0
	[ -z "${KEEP_LOGS:-}" ] || { mkdir -p "$KEEP_LOGS" && cp -r "$ENG_T"/logs/. "$KEEP_LOGS"/ 2>/dev/null; }
	if declare -F engine_stop >/dev/null; then engine_stop; fi
	# Whatever is left: thaw paused containers, then end the processes we started, by PID.
	eng_thaw
	local pids
	pids=$(eng_cgroup_pids)
	# shellcheck disable=SC2086
	eng_kill_wait KILL 10 $pids || eng_log "cleanup: container processes still alive: $pids"
	# The engine's helpers finish on their own (conmon runs podman's exit command, a shim exits
	# with its last container); whatever is still there after that is ended.
	wait_for 15 eng_no_pids_left || true
	pids=$(eng_our_pids)
	# shellcheck disable=SC2086
	eng_kill_wait TERM 10 $pids || eng_kill_wait KILL 5 $pids ||
		eng_log "cleanup: processes still alive: $pids"
	eng_unmount_under "$ENG_T"
	local link
	for link in "${ENG_BRIDGES[@]}"; do
		ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
	done
	eng_restore_iptables
	eng_restore_sysctls
	eng_remove_cgroups
	if declare -F engine_host_files >/dev/null; then engine_host_files; fi
	# Host paths the engine uses whatever its roots (ENG_RUN_DIRS): what this run created and
	# left empty goes; anything in them may be another engine's, and stays.
	local d
	for d in "${ENG_RUN_DIRS[@]}"; do
		[ -n "${ENG_RUN_DIR_WAS[$d]:-}" ] && continue
		if [ -d "$d" ] && [ ! -L "$d" ]; then
			find "$d" -depth -type d -empty -delete 2>/dev/null
		elif [ -e "$d" ]; then
			rm -f "$d"
		fi
	done
	rm -rf --one-file-system "$ENG_T"
	[ ! -e "$ENG_T" ] || eng_log "cleanup: $ENG_T is left (busy mount?)"
	set -e
}

# What must be gone once cleanup has run; prints one line per leftover.
eng_leftovers() {
	local p h
	[ ! -e "$ENG_T" ] || echo "temp dir $ENG_T"
	p=$(eng_our_pids)
	[ -z "$p" ] || echo "processes $(echo $p)"
	for h in /sys/fs/cgroup/*/"${ENG_CG#/}" /sys/fs/cgroup/"${ENG_CG#/}"; do
		[ ! -d "$h" ] || echo "cgroup $h"
	done
	for p in "${ENG_BRIDGES[@]}"; do
		! ip link show "$p" >/dev/null 2>&1 || echo "link $p"
	done
	findmnt -rn -o TARGET | grep -F "$ENG_T" | sed 's/^/mount /' || true
	local k
	for k in "${!ENG_SYSCTL_WAS[@]}"; do
		[ "$(cat "$(eng_sysctl_path "$k")")" = "${ENG_SYSCTL_WAS[$k]}" ] || echo "sysctl $k"
	done
	for p in "${ENG_RUN_DIRS[@]}"; do
		[ -n "${ENG_RUN_DIR_WAS[$p]:-}" ] || [ ! -e "$p" ] || echo "path $p"
	done
	# podman keeps its network namespaces in /run/netns (docker's are under its exec-root).
	for p in /run/netns/netns-*; do
		[ -e "$p" ] || continue
		grep -qxF "${p##*/}" <<<"$ENG_NETNS_WAS" || echo "netns $p"
	done
	if command -v nft >/dev/null; then
		for p in $(nft list tables 2>/dev/null | awk '{print $2 "/" $3}'); do
			[ -n "${ENG_NFT_TABLES_WAS[$p]:-}" ] || echo "nftables table $p"
		done
	fi
	local cmd c
	for cmd in iptables ip6tables; do
		command -v $cmd >/dev/null || continue
		for t in filter nat mangle raw; do
			[ -f "$ENG_T/host/$cmd-$t.before" ] || continue
			$cmd -t $t -S 2>/dev/null | grep -E -- "$(eng_net_own)" | sed "s/^/$cmd -t $t rule /" || true
			for c in $(eng_new_chains $cmd $t); do
				! eng_chain_unused $cmd $t "$c" || echo "$cmd -t $t chain $c"
			done
		done
	done
}

eng_on_signal() {
	eng_log "interrupted: cleaning up"
	eng_cleanup
	exit 130
}

# --- setup ---------------------------------------------------------------------------------------

# The runtime the engine will run, and a shim in front of it when TRACE is set. The shim keeps
# the runtime's basename: podman decides what a runtime supports by it.
eng_setup_runtime() {
	RUNTIME=${RUNTIME:-$ENG_REPO/target/release/berth}
	[ -x "$RUNTIME" ] || eng_die "RUNTIME $RUNTIME is not an executable (build berth with: cargo build --release)"
	RUNTIME=$(readlink -f "$RUNTIME")
	RT_NAME=$(basename "$RUNTIME")
	RT_VERSION=$("$RUNTIME" --version 2>&1 | head -1) || eng_die "$RUNTIME --version failed: $RT_VERSION"
	ENG_XFAIL_APPLIES=0
	case $RT_VERSION in berth*) ENG_XFAIL_APPLIES=1 ;; esac
	RT=$RUNTIME
	if [ -n "${TRACE:-}" ]; then
		mkdir -p "$ENG_T/shim"
		RT=$ENG_T/shim/$RT_NAME
		cat >"$RT" <<EOF
#!/bin/sh
echo "\$(date +%T.%N) [\$\$] $RT_NAME \$*" >>'$TRACE'
'$RUNTIME' "\$@"
rc=\$?
echo "\$(date +%T.%N) [\$\$] rc=\$rc" >>'$TRACE'
exit \$rc
EOF
		chmod 0755 "$RT"
	fi
}

# The busybox root filesystem (hack/mkrootfs.sh) as a tar of its contents, with a page for
# httpd, a volume mount point and the ticker script.
eng_make_rootfs_tar() {
	local dir=$ENG_T/rootfs
	bash "$ENG_REPO/hack/mkrootfs.sh" "$dir" 2>/dev/null
	mkdir -p "$dir/www" "$dir/data"
	echo "hello from berth's engine test" >"$dir/www/index.html"
	# The long-running container of the checks: prints a tick with the limits it sees, and
	# reports a SIGTERM or SIGUSR1 in its output.
	cat >"$dir/bin/ticker" <<'EOF'
#!/bin/sh
trap 'echo got-TERM; exit 42' TERM
trap 'echo got-USR1' USR1
echo "started pid=$$"
i=0
while :; do
	i=$((i + 1))
	mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max 2>/dev/null)
	pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max 2>/dev/null)
	echo "tick $i mem=$mem pids=$pids"
	sleep 0.3 &
	wait $!
done
EOF
	chmod 0755 "$dir/bin/ticker"
	tar -C "$dir" -cf "$ENG_T/rootfs.tar" .
}

# A docker-save archive of the rootfs tar (one layer), for `ctr image import`.
eng_make_image_archive() {
	local name=$1 out=$2 d diff cfg cfgsha
	d=$ENG_T/image
	mkdir -p "$d"
	diff=$(sha256sum "$ENG_T/rootfs.tar" | cut -d' ' -f1)
	mkdir -p "$d/$diff"
	cp "$ENG_T/rootfs.tar" "$d/$diff/layer.tar"
	cfg='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:'$diff'"]},"history":[{"created_by":"hack/mkrootfs.sh"}]}'
	printf '%s' "$cfg" >"$d/config.json"
	cfgsha=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$cfgsha.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfgsha" "$name" "$diff" >"$d/manifest.json"
	tar -C "$d" -cf "$out" manifest.json "$cfgsha.json" "$diff"
}

# A TCP port nothing listens on, for -p checks.
eng_free_port() {
	local p
	for p in $(shuf -i 20000-40000 -n 50); do
		ss -Htln "sport = :$p" | grep . >/dev/null || {
			echo "$p"
			return 0
		}
	done
	return 1
}

# A /24 no route covers, for the engine's bridge.
eng_free_subnet() {
	local n
	for n in $(shuf -i 100-250 -n 40); do
		ip -4 route | grep "^10\.213\.$n\." >/dev/null && continue
		ip -4 addr | grep "inet 10\.213\.$n\." >/dev/null && continue
		echo "10.213.$n"
		return 0
	done
	return 1
}

# eng_setup NAME: root, the temp dir, the host record, traps. Call before anything else.
ENG_BRIDGES=()
ENG_NET_OWN=()
ENG_NET_CHAINS=
eng_setup() {
	ENG_NAME=$1
	shift
	eng_parse_args "$@"
	[ "$(id -u)" = 0 ] || eng_die "needs root"
	ENG_T=$(mktemp -d "/tmp/berth-$ENG_NAME.XXXXXX")
	chmod 0755 "$ENG_T"
	mkdir -p "$ENG_T/host" "$ENG_T/logs" "$ENG_T/tmp"
	# The engines' and their helpers' temporary files (conmon's console sockets, the shims'
	# process.json files) go in the temp dir too.
	export TMPDIR=$ENG_T/tmp
	# Every container's cgroup goes under this absolute parent, never under the caller's own.
	ENG_CG=/$(basename "$ENG_T")
	trap eng_cleanup EXIT
	trap eng_on_signal INT TERM HUP
}

# The last line: the counts, and the exit status (1 if anything failed).
eng_summary() {
	local took=$((SECONDS - ENG_START))
	echo "$ENG_PASSED passed, $ENG_FAILED failed$([ $ENG_CI = 1 ] && echo ", $ENG_XFAILED expected failures (XFAIL)") ($ENG_NAME, runtime $RUNTIME, ${took}s)"
	[ $ENG_FAILED = 0 ]
}

# Cleans up now, then checks that nothing is left (a check of its own).
eng_finish() {
	eng_cleanup
	local left
	left=$(eng_leftovers)
	if [ -z "$left" ]; then
		echo "PASS cleanup"
		ENG_PASSED=$((ENG_PASSED + 1))
	else
		echo "FAIL cleanup: left behind: $(echo "$left" | tr '\n' ';')"
		ENG_FAILED=$((ENG_FAILED + 1))
	fi
	eng_summary
}
