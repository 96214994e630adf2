#!/usr/bin/env bash
# Compile time and program length of Docker's default seccomp profile
# (integration/data/seccomp/docker-default.oci.json): berth's compiler against libseccomp
# driven as runc drives it, plus the BPF instructions each runs for a few common calls.
# Goal (issue): berth's compile at most 1/10 of libseccomp's time, its program no longer.
#
#   bash hack/seccomp-bench.sh [ITERATIONS]    # libseccomp builds timed (berth: 10x as many)
#
# Installs libseccomp-dev and pkg-config from Debian when missing (needs root then).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in libseccomp-dev pkg-config; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
exec cargo run --quiet --release --example seccomp_bench -- "$@"
