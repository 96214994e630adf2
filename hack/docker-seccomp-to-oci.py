#!/usr/bin/env python3
"""Converts Docker's seccomp profile format to an OCI `linux.seccomp` object, as dockerd does.

dockerd (moby 20.10, profiles/seccomp/seccomp_linux.go, setupSeccomp) turns its own format
(archMap, per-entry includes/excludes by capability, architecture and kernel version) into
the runtime-spec form it hands to the runtime. This does the same for one host:

- architectures: the archMap entry of the host's architecture and its subArchitectures;
- an entry is dropped when its excludes match (any excluded arch is the host's, any excluded
  capability is in the bounding set, the kernel is at least excludes.minKernel), or when its
  includes do not (includes.arches lacks the host's, some included capability is missing from
  the bounding set, the kernel is older than includes.minKernel);
- includes, excludes and comment are dropped; defaultAction, defaultErrnoRet, names (or name),
  action, errnoRet and args are kept.

Defaults: an x86_64 host ("amd64" in Docker's arch names), Docker's default capability set,
the running kernel. Run from the repository root:

    python3 hack/docker-seccomp-to-oci.py \
        integration/data/seccomp/docker-default.json \
        > integration/data/seccomp/docker-default.oci.json

Options: --arch NAME (Docker's arch name, default amd64), --kernel X.Y (default: uname -r),
--caps CAP_A,CAP_B (default: Docker's default set below).
"""
import argparse
import json
import os
import re
import sys

# moby's oci/caps/defaults.go DefaultCapabilities(): what a container gets without --cap-add.
DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

# Docker's (libseccomp's) arch name -> the OCI SCMP_ARCH_* of that machine's native ABI.
NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}


def parse_version(s):
    """Kernel "X.Y[...]" -> (X, Y); only the version and major revision count, as in dockerd."""
    m = re.match(r"(\d+)\.(\d+)", s)
    if not m:
        raise ValueError(f"bad kernel version {s!r}")
    return (int(m.group(1)), int(m.group(2)))


def convert(profile, arch, caps, kernel):
    if profile.get("architectures") and profile.get("archMap"):
        raise ValueError("'architectures' and 'archMap' were both given")
    out = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = list(profile.get("architectures") or [])
    native = NATIVE_TO_SECCOMP.get(arch)
    for m in profile.get("archMap") or []:
        if native is not None and m["architecture"] == native:
            arches.append(m["architecture"])
            arches.extend(m.get("subArchitectures") or [])
            break
    if arches:
        out["architectures"] = arches
    syscalls = []
    for call in profile.get("syscalls") or []:
        exc = call.get("excludes") or {}
        inc = call.get("includes") or {}
        if arch in (exc.get("arches") or []):
            continue
        if any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kernel >= parse_version(exc["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and kernel < parse_version(inc["minKernel"]):
            continue
        if call.get("name") and call.get("names"):
            raise ValueError("'name' and 'names' were both given")
        new = {"names": [call["name"]] if call.get("name") else list(call["names"])}
        new["action"] = call["action"]
        if call.get("errnoRet") is not None:
            new["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            new["args"] = call["args"]
        syscalls.append(new)
    out["syscalls"] = syscalls
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile", help="a seccomp profile in Docker's format")
    ap.add_argument("--arch", default="amd64", help="Docker's name of the host architecture")
    ap.add_argument("--kernel", default=os.uname().release, help="host kernel version, X.Y")
    ap.add_argument("--caps", default=",".join(DOCKER_DEFAULT_CAPS), help="bounding set")
    a = ap.parse_args()
    with open(a.profile) as f:
        profile = json.load(f)
    caps = [c for c in a.caps.split(",") if c]
    out = convert(profile, a.arch, caps, parse_version(a.kernel))
    json.dump(out, sys.stdout, indent="\t")
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
