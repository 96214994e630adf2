#!/usr/bin/env bash
# Installs dock and berth and gives dock a busybox image, so that right after it
#   dock run busybox echo hello
# works. Run as root from the repository: sudo bash hack/dock-install.sh
#
# PREFIX (default /usr/local) is where the binaries go; DOCK_ROOT (default /var/lib/dock) is
# dock's state. The image is Debian's busybox-static in a minimal rootfs (hack/mkrootfs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "dock-install: run as root (containers need it)" >&2; exit 1; }
prefix=${PREFIX:-/usr/local}
root=${DOCK_ROOT:-/var/lib/dock}
bash hack/deps.sh
cargo build --release --quiet --bin dock --bin berth
install -d "$prefix/bin"
install -m 0755 target/release/berth target/release/dock "$prefix/bin/"
echo "dock-install: installed $prefix/bin/dock and $prefix/bin/berth (dock's default runtime)" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash hack/mkrootfs.sh "$work/rootfs" >/dev/null 2>&1
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
"$prefix/bin/dock" --root "$root" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
echo "dock-install: imported busybox:latest into $root" >&2
"$prefix/bin/dock" --root "$root" images
echo "+ dock run --rm busybox echo hello" >&2
"$prefix/bin/dock" --root "$root" run --rm busybox echo hello
