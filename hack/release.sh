#!/usr/bin/env bash
# Builds the release berth binary: static, not position-independent, optimised for size, and
# linked against musl when it can be (glibc's static libc.a otherwise). A runtime is started
# several times per container (create re-executes itself sealed, then start, state, delete), so
# what runs before main() is paid at every one of them (see README, Performance).
#
#   bash hack/release.sh      # prints the path of the binary
#
# Why musl: glibc fills in every sysconf(_SC_LEVEL*_CACHE_*) value at start-up, in a static
# binary as in ld.so, by running CPUID (leaves 2 and 4) over a hundred times; in a VM each CPUID
# traps to the hypervisor. Here that is 0.5 ms of every glibc process's start (`perf record` of a
# `berth run` loop: glibc's intel_check_word and handle_intel held over half of berth's own
# samples); `berth state` takes 0.6 ms with musl and 1.1 ms with glibc. musl queries nothing.
# berth needs nothing of glibc's (no NSS: process.user is numeric; no locale; credentials
# go through raw syscalls anyway). BERTH_LIBC=gnu builds against glibc instead.
#
# The musl build needs the rust-std of <arch>-unknown-linux-musl (`rustup target add`) and
# musl-gcc (Debian's musl-tools) for the C in dock's dependencies, which share berth's crate;
# the script installs both when it can, and falls back on glibc, saying so, when it cannot.
#
# Only the berth binary is built this way (--bin berth, an explicit --target: proc-macros and
# build scripts stay dynamic). It lands in target/<target triple>/release/berth;
# `cargo build --release` still builds the ordinary dynamic binary in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "release: $*" >&2; }

host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
*-linux-gnu) ;;
*)
	say "expected a *-linux-gnu toolchain, not $host"
	exit 1
	;;
esac
arch=${host%%-*}

musl_ready() {
	local target=$1
	if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
		command -v rustup >/dev/null || return 1
		say "adding the $target standard library (rustup target add)"
		rustup target add "$target" >&2 || return 1
	fi
	if ! command -v musl-gcc >/dev/null; then
		[ "$(id -u)" -eq 0 ] || return 1
		say "installing musl-tools (musl-gcc)"
		{ apt-get install -y musl-tools || { apt-get update && apt-get install -y musl-tools; }; } >&2 ||
			return 1
	fi
}

libc=${BERTH_LIBC:-musl}
if [ "$libc" = musl ]; then
	target=$arch-unknown-linux-musl
	if musl_ready "$target"; then
		export "CC_${target//-/_}=musl-gcc"
	else
		say "no musl toolchain here; building against glibc (each start pays glibc's CPUID probing)"
		libc=gnu
	fi
fi
if [ "$libc" = gnu ]; then
	target=$host
	# glibc's static archives (libc.a) come with libc6-dev, which gcc pulls in.
	if ! gcc -print-file-name=libc.a | grep -q /; then
		say "glibc's libc.a is missing (apt-get install libc6-dev)"
		exit 1
	fi
fi

# Not position-independent by default: a static-PIE binary relocates itself at every start,
# writing ~9000 addresses over 60-odd pages (copy-on-write faults: about 0.15 ms per start here,
# twice per `berth run`). The price is a fixed load address for berth's own code (heap, stack
# and mmaps stay randomised), as in Go's static binaries. BERTH_PIE=1 builds static-PIE instead.
flags="-C target-feature=+crt-static"
[ "${BERTH_PIE:-0}" = 1 ] || flags="$flags -C relocation-model=static"
# Optimised for size (BERTH_OPT_LEVEL=3 for speed): the code a start runs is spread over the
# whole binary, and the kernel maps it 64 KiB around each page fault, so a smaller binary means
# a smaller peak RSS at the same start-up time. Only this build: dock's gzip and sha256 keep
# opt-level 3 in `cargo build --release`.
CARGO_PROFILE_RELEASE_OPT_LEVEL=${BERTH_OPT_LEVEL:-s} \
	RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --quiet --target "$target" --bin berth
echo "${CARGO_TARGET_DIR:-$PWD/target}/$target/release/berth"
