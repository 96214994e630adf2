//! Docker's default seccomp profile for a container's capability set, as dockerd builds it
//! (moby's setupSeccomp): the profile is kept in Docker's own format, and an entry holds when
//! its `includes` do (the capabilities are granted, the arch is this one, the kernel is new
//! enough) and its `excludes` do not. So `--cap-add SYS_ADMIN` also allows `mount`, and
//! `--cap-add SYS_PTRACE` allows `ptrace` on older kernels, as with docker.

use serde_json::{json, Value};
use std::sync::OnceLock;

/// moby v20.10's profiles/seccomp/default.json (see integration/data/seccomp/README.md).
const DOCKER_PROFILE: &str = include_str!("../../integration/data/seccomp/docker-default.json");

fn docker_profile() -> Option<&'static Value> {
    static P: OnceLock<Option<Value>> = OnceLock::new();
    P.get_or_init(|| serde_json::from_str(DOCKER_PROFILE).ok())
        .as_ref()
}

/// Docker's name of this machine's architecture.
pub fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn native_scmp(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "x86" | "386" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        _ => return None,
    })
}

/// `(major, minor)` of a kernel release such as "6.18.44-fc".
pub fn kernel_version(release: &str) -> (u32, u32) {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn host_kernel() -> (u32, u32) {
    kernel_version(&rustix::system::uname().release().to_string_lossy())
}

/// The OCI `linux.seccomp` for a container holding `caps`.
pub fn profile(caps: &[String]) -> Option<Value> {
    convert(docker_profile()?, docker_arch(), caps, host_kernel())
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn convert(p: &Value, arch: &str, caps: &[String], kernel: (u32, u32)) -> Option<Value> {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut out = json!({"defaultAction": p["defaultAction"]});
    if !p["defaultErrnoRet"].is_null() {
        out["defaultErrnoRet"] = p["defaultErrnoRet"].clone();
    }
    let mut arches: Vec<Value> = p["architectures"].as_array().cloned().unwrap_or_default();
    let native = native_scmp(arch);
    for m in p["archMap"].as_array().into_iter().flatten() {
        if native.is_some_and(|n| m["architecture"] == n) {
            arches.push(m["architecture"].clone());
            arches.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            break;
        }
    }
    if !arches.is_empty() {
        out["architectures"] = json!(arches);
    }
    let min_kernel = |v: &Value| v.as_str().map(kernel_version);
    let mut syscalls = Vec::new();
    for call in p["syscalls"].as_array()? {
        let (inc, exc) = (&call["includes"], &call["excludes"]);
        let excluded = strs(&exc["arches"]).contains(&arch)
            || strs(&exc["caps"]).iter().any(|c| has(c))
            || min_kernel(&exc["minKernel"]).is_some_and(|k| kernel >= k);
        let included = (inc["arches"].is_null() || strs(&inc["arches"]).contains(&arch))
            && strs(&inc["caps"]).iter().all(|c| has(c))
            && min_kernel(&inc["minKernel"]).is_none_or(|k| kernel >= k);
        if excluded || !included {
            continue;
        }
        let names = if call["name"].is_string() {
            json!([call["name"]])
        } else {
            call["names"].clone()
        };
        let mut new = json!({"names": names, "action": call["action"]});
        if !call["errnoRet"].is_null() {
            new["errnoRet"] = call["errnoRet"].clone();
        }
        if call["args"].as_array().is_some_and(|a| !a.is_empty()) {
            new["args"] = call["args"].clone();
        }
        syscalls.push(new);
    }
    out["syscalls"] = json!(syscalls);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dock::spec::DEFAULT_CAPS;

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn default_caps_give_the_generated_oci_profile() {
        // The same conversion as hack/docker-seccomp-to-oci.py, whose output is checked in.
        let want: Value = serde_json::from_str(include_str!(
            "../../integration/data/seccomp/docker-default.oci.json"
        ))
        .unwrap();
        let got = convert(docker_profile().unwrap(), "amd64", &default_caps(), (6, 18)).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn added_capabilities_widen_the_profile() {
        let names = |v: &Value| -> Vec<String> {
            v["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| strs(&s["names"]).into_iter().map(str::to_string))
                .collect()
        };
        let base =
            names(&convert(docker_profile().unwrap(), "amd64", &default_caps(), (6, 18)).unwrap());
        assert!(!base.contains(&"mount".to_string()));
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let admin = names(&convert(docker_profile().unwrap(), "amd64", &caps, (6, 18)).unwrap());
        assert!(admin.contains(&"mount".to_string()) && admin.contains(&"setns".to_string()));
        // ptrace needs 4.8 without CAP_SYS_PTRACE.
        assert!(!names(
            &convert(docker_profile().unwrap(), "amd64", &default_caps(), (4, 4)).unwrap()
        )
        .contains(&"ptrace".to_string()));
        assert_eq!(kernel_version("6.18.44-fc"), (6, 18));
    }
}
