#!/usr/bin/env bash
# Installs what building and testing berth needs on a fresh Debian machine (as root), once.
set -euo pipefail
need=()
# busybox-static: the test rootfs; runc: side-by-side tests; iproute2: network namespaces;
# gcc: the seccomp tests' raw-syscall probe; libseccomp-dev: the seccomp differential tests'
# oracle (a dev-dependency links libseccomp); qemu-system-x86, cpio, xz-utils: the cgroup v2 test
# guest (hack/cgroup2-vm.sh); musl-tools: the static release build (hack/release.sh).
for pkg in busybox-static runc iproute2 gcc libseccomp-dev pkg-config qemu-system-x86 cpio xz-utils musl-tools; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
