#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests on real
# containers. Run as root from the repository: sudo bash hack/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
	bash hack/deps.sh
else
	echo "test: not root: the integration tests will skip themselves" >&2
fi
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
# The cgroup tests again in a cgroup2-only QEMU guest (this host is hybrid).
bash hack/test-cgroup2-vm.sh
