#!/usr/bin/env bash
# Build a minimal busybox root filesystem for the integration tests.
#
#   hack/mkrootfs.sh DIR
#
# Idempotent: running it again over an existing DIR brings it back to the same state.
# Installs busybox-static with apt-get when /bin/busybox is missing or not statically linked.
set -euo pipefail

die() {
	echo "mkrootfs: $*" >&2
	exit 1
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DIR"
dir=$1

# A static busybox runs in a directory that holds nothing but itself.
is_static_busybox() {
	local bb=$1 probe
	[ -x "$bb" ] || return 1
	if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
		probe=$(mktemp -d) || return 1
		cp "$bb" "$probe/busybox"
		if chroot "$probe" /busybox true 2>/dev/null; then
			rm -rf "$probe"
			return 0
		fi
		rm -rf "$probe"
		return 1
	fi
	# Not root: fall back on the loader's opinion.
	LC_ALL=C ldd "$bb" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'
}

if ! is_static_busybox /bin/busybox; then
	[ "$(id -u)" -eq 0 ] || die "/bin/busybox is not a static busybox and installing busybox-static needs root"
	echo "mkrootfs: installing busybox-static" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq busybox-static >/dev/null || die "apt-get install busybox-static failed"
	is_static_busybox /bin/busybox || die "/bin/busybox is still not a static busybox after installing busybox-static"
fi

mkdir -p "$dir" || die "cannot create $dir"
# Two test runs at once must not interleave their work on the same DIR.
if command -v flock >/dev/null; then
	exec 9>"${dir%/}.lock" || die "cannot open ${dir%/}.lock"
	flock 9 || die "cannot lock ${dir%/}.lock"
fi
cd "$dir" || die "cannot enter $dir"

mkdir -p bin sbin usr/bin usr/sbin proc sys dev tmp root etc run var
chmod 1777 tmp
chmod 0700 root

# Replace rather than overwrite: a running copy of the old binary must not be written into.
cp /bin/busybox bin/busybox.new
chmod 0755 bin/busybox.new
mv -f bin/busybox.new bin/busybox

applets=$(bin/busybox --list) || die "bin/busybox --list failed"
[ -n "$applets" ] || die "bin/busybox --list printed no applets"
for applet in $applets; do
	[ "$applet" = busybox ] && continue
	# Builtin tests, no fork when the link is already right (each exec costs ~60 ms in the
	# cgroup v2 test VM).
	[ -L "bin/$applet" ] && [ "bin/$applet" -ef bin/busybox ] && continue
	ln -sfn busybox "bin/$applet"
done

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
chmod 0644 etc/passwd etc/group

[ -x bin/sh ] || die "no bin/sh applet in $dir"
echo "mkrootfs: rootfs ready in $dir" >&2
