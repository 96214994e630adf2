#!/usr/bin/env bash
# Installs what berth needs, builds it, makes a busybox bundle and runs a container in it that
# prints what it sees. Run as root from the repository: sudo bash hack/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "quickstart: run as root (containers need it)" >&2; exit 1; }
bash hack/deps.sh
cargo build --release --quiet
berth=$PWD/target/release/berth

bundle=${BUNDLE:-/tmp/berth-quickstart}
mkdir -p "$bundle"
bash hack/mkrootfs.sh "$bundle/rootfs" >/dev/null
rm -f "$bundle/config.json"
(cd "$bundle" && "$berth" spec)
# runc's defaults, with no terminal (stdout is ours), an absolute cgroup path, and a probe.
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", """
echo "hostname: $(hostname)"
echo "I am: $(id)"
echo "my pid: $$; processes I can see: $(ls -d /proc/[0-9]* | wc -l)"
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
echo "root filesystem: $(ls / | tr "\n" " ")"
touch /probe 2>/dev/null && echo "rootfs is writable" || echo "rootfs is read-only"
echo "mounts:"; awk '{print "  " $5 " " $9}' /proc/self/mountinfo | head -8
"""]
c["linux"]["cgroupsPath"] = "/berth-quickstart"
json.dump(c, open(path, "w"), indent=2)
PY
echo "+ berth run --bundle $bundle quickstart"
"$berth" --root /run/berth-quickstart run --bundle "$bundle" quickstart
