#!/bin/busybox sh
# The init of hack/cgroup2-vm.sh's guest. Stage 1 runs from the initramfs: load the modules,
# mount the host's / (9p, read-only) under a tmpfs overlay and switch into it. Stage 2 runs
# there: mount what a host has (proc, sys, dev, tmpfs on /tmp and /run, cgroup2 alone on
# /sys/fs/cgroup with every controller delegated from the root), run the command with its
# stdout, stderr and exit status on three virtio-serial ports, and power off.
bb=/bin/busybox

arg() {
	for w in $($bb cat /proc/cmdline); do
		case $w in "$1="*) echo "${w#*=}" ;; esac
	done
}

fail() {
	echo "cgroup2-vm guest: $*" >&2
	$bb sync
	$bb reboot -f
	exit 1
}

if [ "$1" != stage2 ]; then
	export PATH=/bin
	$bb mount -t proc proc /proc
	$bb mount -t sysfs sysfs /sys
	$bb mount -t devtmpfs devtmpfs /dev
	for m in $($bb cat /modules/order); do
		$bb insmod "/modules/$m.ko" || fail "insmod $m failed"
	done
	$bb mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,access=client,msize=512000 root /lower ||
		fail "mounting the host's / over 9p failed"
	# overlayfs refuses an upper dir on 9p: a tmpfs takes the guest's writes.
	$bb mount -t tmpfs -o mode=755 upper /upper
	$bb mkdir -p /upper/u /upper/w
	$bb mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot ||
		fail "the overlay root failed"
	$bb cp /init /newroot/.cgroup2-vm-init
	$bb mount --move /dev /newroot/dev
	$bb umount /proc /sys
	exec $bb switch_root /newroot $bb sh /.cgroup2-vm-init stage2
fi

# --- Stage 2: in the overlay root. ---
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
$bb mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# The host's /tmp stays reachable under the guest's own (see the working directory below).
$bb mkdir -p /.host-tmp
$bb mount --bind /tmp /.host-tmp
$bb mount -t tmpfs -o mode=1777 tmpfs /tmp
$bb mount -t tmpfs -o mode=755 tmpfs /run
$bb mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
	fail "mounting cgroup2 failed"
for c in $($bb cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fail "enabling the $c controller failed"
done
# Modules loaded later (loop, veth, ...) come from the unpacked package.
modules=$(arg berth.modules)
kver=$($bb uname -r)
if [ -d "$modules/$kver" ]; then
	$bb mkdir -p "/lib/modules/$kver"
	$bb mount --bind "$modules/$kver" "/lib/modules/$kver"
fi
run=$(arg berth.run)
$bb mkdir -p "$run"
$bb mount -t 9p -o trans=virtio,version=9p2000.L,access=client,msize=512000 run "$run" ||
	fail "mounting the run directory $run failed"
# A working directory under /tmp (a CI clone there, say) is the host's, not the guest's empty
# /tmp: the host's directory that holds it comes back at its own path.
cwd=$($bb cat "$run/cwd")
case $cwd in
/tmp/?*)
	top=${cwd#/tmp/}
	top=/tmp/${top%%/*}
	$bb mkdir -p "$top"
	$bb mount --bind "/.host-tmp/${top#/tmp/}" "$top" || fail "binding the working directory $top failed"
	;;
esac
$bb ip link set lo up
$bb hostname cgroup2-vm

port() {
	for p in /sys/class/virtio-ports/*; do
		if [ "$($bb cat "$p/name")" = "$1" ]; then
			echo "/dev/${p##*/}"
			return
		fi
	done
	fail "no virtio-serial port named $1"
}
out=$(port stdout)
err=$(port stderr)
status=$(port status)

/bin/sh "$run/cmd" >"$out" 2>"$err" </dev/null
echo $? >"$status"
$bb sync
$bb reboot -f
