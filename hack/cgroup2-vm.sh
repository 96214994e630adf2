#!/usr/bin/env bash
# Runs a command in a QEMU guest whose only cgroup hierarchy is cgroup v2, and returns its
# output and exit status. The guest sees the host's / (read-only, under a tmpfs overlay), so
# binaries built on the host (the integration test binary, berth) run there unchanged.
#
#   hack/cgroup2-vm.sh [-e NAME]... [--] COMMAND [ARG...]
#
# The command runs as root in the guest, in the caller's working directory, with PATH, HOME,
# RUST_*, BERTH_* and CARGO_* passed through (-e NAME adds more). Its stdout and stderr arrive
# live on ours; our exit status is its own (125 if the guest never reported one).
#
# The guest: Debian's 6.1 kernel (apt-get download + dpkg-deb -x into $BERTH_VM_CACHE, default
# /var/cache/berth-vm: never installed into the host's /boot), booted uncompressed under TCG on
# QEMU's microvm with cgroup_no_v1=all; an initramfs of busybox-static and the virtio/9p/overlay
# modules. Measured facts behind each option: /work/shared/notes/cgroup-v2-vm.md (KVM here is
# kvm_pvm, which Debian's kernel cannot use; the tsc options keep boot from hanging).
#
# Environment: BERTH_VM_CACHE (cache dir), BERTH_VM_TIMEOUT (seconds, default 900),
# BERTH_VM_KERNEL_PKG (e.g. linux-image-6.1.0-57-amd64), BERTH_VM_CONSOLE=1 (kernel console on
# stderr), BERTH_VM_MEM (default 2G).
set -euo pipefail

die() {
	echo "cgroup2-vm: $*" >&2
	exit 125
}

here=$(cd "$(dirname "$0")" && pwd)
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
timeout_s=${BERTH_VM_TIMEOUT:-900}

passenv=()
while [ $# -gt 0 ]; do
	case $1 in
	-e) passenv+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (usage: $0 [-e NAME]... [--] COMMAND [ARG...])" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "usage: $0 [-e NAME]... [--] COMMAND [ARG...]"
[ "$(id -u)" -eq 0 ] || die "must run as root (9p passthrough of the result directory)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86; hack/deps.sh does)"
command -v cpio >/dev/null || die "cpio is missing (apt-get install cpio)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"

# --- The kernel: downloaded once per package version, kept uncompressed. ---
pkg=${BERTH_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-6\.1\.[0-9]+-[0-9]+-amd64$/ {print $2; exit}')
fi
if [ -z "$pkg" ]; then
	# No apt lists: use a kernel cached earlier, if any.
	pkg=$(ls -1 "$cache" 2>/dev/null | grep -E '^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -1 || true)
fi
[ -n "$pkg" ] || die "cannot tell which Debian 6.1 kernel to use (apt-get update, or set BERTH_VM_KERNEL_PKG)"
kdir=$cache/$pkg
if [ ! -f "$kdir/vmlinux" ]; then
	# Per process: two runs fetching at once each unpack their own, the last rename wins.
	tmp=$kdir.tmp.$$
	echo "cgroup2-vm: fetching $pkg into $kdir" >&2
	rm -rf "$tmp"
	mkdir -p "$tmp/deb"
	(cd "$tmp/deb" && apt-get download "$pkg" >/dev/null 2>&1) ||
		(apt-get update -qq && cd "$tmp/deb" && apt-get download "$pkg" >/dev/null) ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$tmp"/deb/*.deb "$tmp/root"
	vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-*)
	# The bzImage carries the kernel as an xz stream; booted uncompressed (through its PVH
	# note) the guest reaches the command in ~4 s instead of ~14 s.
	off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1 || true)
	[ -n "$off" ] || die "no xz payload in $vmlinuz"
	tail -c +$((off + 1)) "$vmlinuz" >"$tmp/payload.xz"
	xz -dc --single-stream "$tmp/payload.xz" >"$tmp/vmlinux"
	mv "$tmp"/root/lib/modules "$tmp/modules"
	rm -rf "$tmp/deb" "$tmp/root" "$tmp/payload.xz"
	if [ -f "$kdir/vmlinux" ]; then rm -rf "$tmp"; else rm -rf "$kdir" && mv "$tmp" "$kdir"; fi
fi
kver=$(ls "$kdir/modules")

# --- The initramfs: busybox-static, the modules the guest needs before its root is mounted,
# and the guest init. Rebuilt when the init script or busybox changes. ---
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio
virtio_console virtio-rng 9pnet 9pnet_virtio netfs fscache 9p overlay"
stamp=$(cat "$here/cgroup2-vm-init.sh" /bin/busybox | sha256sum | cut -c1-16)
initrd=$kdir/initramfs-$stamp.cpio
if [ ! -f "$initrd" ]; then
	ird=$(mktemp -d)
	mkdir -p "$ird"/{bin,dev,proc,sys,lower,upper,newroot,modules}
	cp /bin/busybox "$ird/bin/busybox"
	for m in $modules; do
		f=$(find "$kdir/modules/$kver/kernel" -name "$m.ko" | head -1)
		[ -n "$f" ] || die "module $m not found in $pkg"
		cp "$f" "$ird/modules/"
		echo "$m" >>"$ird/modules/order"
	done
	cp "$here/cgroup2-vm-init.sh" "$ird/init"
	chmod 755 "$ird/init"
	(cd "$ird" && find . | cpio -o -H newc --quiet) >"$initrd.$$"
	mv "$initrd.$$" "$initrd"
	rm -rf "$ird"
	find "$kdir" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "initramfs-$stamp.cpio" -mmin +60 -delete
fi

# --- This run: the command, its environment and working directory, in a directory the guest
# mounts read-write at the same path. ---
run=$(mktemp -d /tmp/berth-vm.XXXXXX)
cleanup() { rm -rf "$run"; }
trap cleanup EXIT
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
printf '%s' "$PWD" >"$run/cwd"
{
	echo "cd $(quote "$PWD") || exit 125"
	for name in $(compgen -e); do
		case $name in
		PATH | HOME | RUST_* | BERTH_* | CARGO_*) ;;
		*) [[ " ${passenv[*]-} " == *" $name "* ]] || continue ;;
		esac
		echo "export $name=$(quote "${!name}")"
	done
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(quote "$a")"; done
	echo
} >"$run/cmd"

# The host's TSC frequency: without tsc_early_khz (and tsc=reliable) TCG boots hang.
khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
accel="tcg,thread=multi,tb-size=256"
if grep -qE '^(kvm_intel|kvm_amd) ' /proc/modules 2>/dev/null && [ -w /dev/kvm ]; then
	accel=kvm
fi
console=$run/console.log
[ "${BERTH_VM_CONSOLE:-0}" = 1 ] && console=/proc/self/fd/2

set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
	-machine microvm,pit=on,pic=on,rtc=on,isa-serial=on \
	-accel "$accel" -cpu max -smp 2 -m "${BERTH_VM_MEM:-2G}" -nic none \
	-nographic -no-reboot -nodefaults \
	-kernel "$kdir/vmlinux" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all random.trust_cpu=on tsc=reliable tsc_early_khz=$khz berth.run=$run berth.modules=$kdir/modules" \
	-serial "file:$console" \
	-device virtio-rng-device \
	-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-device,fsdev=root,mount_tag=root \
	-fsdev local,id=run,path="$run",security_model=passthrough,multidevs=remap \
	-device virtio-9p-device,fsdev=run,mount_tag=run \
	-device virtio-serial-device \
	-chardev file,id=out,path=/proc/self/fd/1,append=on \
	-device virtserialport,chardev=out,name=stdout \
	-chardev file,id=err,path=/proc/self/fd/2,append=on \
	-device virtserialport,chardev=err,name=stderr \
	-chardev file,id=status,path="$run/status" \
	-device virtserialport,chardev=status,name=status \
	</dev/null
qemu_rc=$?
set -e
status=$(tr -dc 0-9 <"$run/status" 2>/dev/null || true)
if [ -z "$status" ]; then
	echo "cgroup2-vm: the guest reported no exit status (qemu exited with $qemu_rc; 124 is the $timeout_s s timeout)" >&2
	[ -f "$run/console.log" ] && tail -n 40 "$run/console.log" >&2
	exit 125
fi
exit "$status"
