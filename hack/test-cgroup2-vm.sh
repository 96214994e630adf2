#!/usr/bin/env bash
# The cgroup integration tests again, on a cgroup2-only host: cargo builds the test binary here,
# hack/cgroup2-vm.sh runs it in a QEMU guest booted with cgroup_no_v1=all (v2 limits, the eBPF
# device filter, cgroup.freeze/kill, CLONE_INTO_CGROUP). hack/test.sh runs it after the host pass.
#
#   sudo bash hack/test-cgroup2-vm.sh [TEST FILTER...]     (default: the cgroup tests)
#
# Each exec in the guest is ~40x slower than here: waits are stretched (BERTH_TEST_TIMEOUT_SCALE)
# and the guest runs a copy of berth without debug info (a 55 MB debug binary is copied into a
# sealed memfd at every create: seconds under TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test-cgroup2-vm: needs root; skipped" >&2; exit 0; }

filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(cgroups:: review_regressions::device_)

bin=$(cargo test --no-run --quiet --test integration --message-format=json |
	grep -o '"executable":"[^"]*/integration-[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "test-cgroup2-vm: no integration test binary from cargo" >&2; exit 1; }
mkdir -p target/cgroup2-vm
objcopy --strip-debug target/debug/berth target/cgroup2-vm/berth

start=$(date +%s)
set +e
BERTH_TEST_RUNTIME=$PWD/target/cgroup2-vm/berth BERTH_TEST_TIMEOUT_SCALE=${BERTH_TEST_TIMEOUT_SCALE:-6} \
	bash hack/cgroup2-vm.sh -- "$bin" --quiet "${filters[@]}"
rc=$?
set -e
echo "test-cgroup2-vm: the cgroup v2 pass took $(($(date +%s) - start)) s (exit status $rc)" >&2
exit "$rc"
