#!/usr/bin/env bash
# Builds the release berth binary: statically linked against glibc (crt-static) and not
# position-independent, so that no dynamic loader and no self-relocation run at each start.
# A runtime is started several times per container (create re-executes itself sealed, then
# start, state, delete); on this kind of VM the loader, the relocations and their page faults
# cost more than the rest of berth's own start-up (see README, Performance).
#
#   bash hack/release.sh      # prints the path of the binary
#
# Only the berth binary is built this way (--bin berth): crt-static goes through RUSTFLAGS with
# an explicit --target, so proc-macros and build scripts stay dynamic, and other binaries of the
# package keep their defaults. The binary lands in target/<host triple>/release/berth.
# `cargo build --release` still builds the ordinary dynamic binary in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
*-linux-gnu) ;;
*)
	echo "release: a static glibc build needs a *-linux-gnu toolchain, not $host" >&2
	exit 1
	;;
esac
# glibc's static archives (libc.a) come with libc6-dev, which gcc pulls in.
if ! gcc -print-file-name=libc.a | grep -q /; then
	echo "release: glibc's libc.a is missing (apt-get install libc6-dev)" >&2
	exit 1
fi
# Not position-independent by default: a static-PIE binary relocates itself at every start,
# writing ~9000 addresses over 60-odd pages (copy-on-write faults: about 0.15 ms per start here,
# twice per `berth run`). The price is a fixed load address for berth's own code (heap, stack
# and mmaps stay randomised), as in Go's static binaries. BERTH_PIE=1 builds static-PIE instead.
flags="-C target-feature=+crt-static"
[ "${BERTH_PIE:-0}" = 1 ] || flags="$flags -C relocation-model=static"
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --quiet --target "$host" --bin berth
echo "${CARGO_TARGET_DIR:-$PWD/target}/$host/release/berth"
