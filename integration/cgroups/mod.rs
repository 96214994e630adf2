//! cgroups on real containers: limits land in the right files with the right (converted)
//! values and hold (OOM kill, fork loop, device access), pause/resume, update, events, ps, the
//! container's own view of its cgroups, and cleanup. The same tests run on this hybrid host
//! (v1 controllers) and, through hack/cgroup2-vm.sh, in a cgroup2-only guest.
//!
//! Every cgroup a test touches lies under the bundle's own absolute parent (/berth-it-<pid>-<n>):
//! never the host's root cgroup nor /sys/fs/cgroup/memory/process_api. On the hybrid host no
//! test sets a limit that lives in the v2 tree (hugetlb): that would delegate it from the v2 root.

mod commands;
mod limits;

use crate::common::{Bundle, Container, STATE_TIMEOUT};
use crate::host;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// Whether /sys/fs/cgroup is a cgroup2 mount (a cgroup2-only host), rather than v1 controllers.
pub fn v2() -> bool {
    host::host_mounts()
        .iter()
        .any(|m| m.mount_point == "/sys/fs/cgroup" && m.fstype == "cgroup2")
}

/// Waits are stretched by `BERTH_TEST_TIMEOUT_SCALE` (the VM runs each exec ~40x slower).
pub fn scaled(d: Duration) -> Duration {
    let scale: u32 = std::env::var("BERTH_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    d * scale.max(1)
}

/// The host path of a file of the bundle's cgroup: `controller` picks the v1 hierarchy (and is
/// ignored on v2).
pub fn cg_file(b: &Bundle, controller: &str, file: &str) -> PathBuf {
    let rel = b.cgroup_path.trim_start_matches('/');
    if v2() {
        PathBuf::from("/sys/fs/cgroup").join(rel).join(file)
    } else {
        PathBuf::from("/sys/fs/cgroup")
            .join(controller)
            .join(rel)
            .join(file)
    }
}

#[track_caller]
pub fn read_cg(b: &Bundle, controller: &str, file: &str) -> String {
    let p = cg_file(b, controller, file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Adds capabilities to every set of the bundle's process.
pub fn with_caps(b: Bundle, caps: &[&str]) -> Bundle {
    let mut b = b;
    for set in ["bounding", "effective", "permitted"] {
        let list = b.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set");
        list.extend(caps.iter().map(|c| json!(c)));
    }
    b
}

#[track_caller]
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    host::wait_until(scaled(STATE_TIMEOUT), what, f)
}

/// The container's output once it holds `needle` (a scaled `Container::wait_output`).
#[track_caller]
pub fn wait_out(c: &Container, needle: &str) -> String {
    wait_for(&format!("{needle:?} in the output of {}", c.id), || {
        let out = c.output();
        out.contains(needle).then_some(out)
    })
}

/// A shell that lives until killed.
pub fn sleeper() -> Bundle {
    Bundle::new().args(&["sh", "-c", "echo ready; exec sleep 1000"])
}

/// `cat /proc/self/cgroup` and `ls /sys/fs/cgroup` inside show the container's own cgroups,
/// with and without a cgroup namespace: its paths (or `/` in its namespace), and the
/// controllers' files holding its own limits.
#[test]
fn container_sees_its_own_cgroups() {
    need_root!();
    let script = "cat /proc/self/cgroup; echo ---; ls /sys/fs/cgroup; echo ---; \
                  cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max";
    for cgroupns in [false, true] {
        // Without a cgroup namespace runc 1.1 mounts the host's whole cgroup2 tree on v2;
        // berth binds the container's own cgroup there.
        if v2() && !cgroupns && !crate::common::berth_specific_enabled() {
            continue;
        }
        let mut b = Bundle::new()
            .set("/linux/resources/pids", json!({"limit": 77}))
            .args(&["sh", "-c", script]);
        if cgroupns {
            b = b.set("/linux/namespaces/-", json!({"type": "cgroup"}));
        }
        let path = b.cgroup_path.clone();
        let c = Container::new(b);
        let out = c.run(&[]);
        out.assert_ok();
        let parts: Vec<&str> = out.stdout.split("---\n").collect();
        assert_eq!(parts.len(), 3, "{out}");
        let own = if cgroupns { "/" } else { path.as_str() };
        let lines: Vec<&str> = parts[0].lines().collect();
        assert!(!lines.is_empty(), "{out}");
        if v2() {
            assert_eq!(lines, [format!("0::{own}")], "{out}");
        } else {
            // Every v1 hierarchy shows the container's cgroup. (The v2 line of a hybrid host
            // is the runtime's business: runc leaves it outside a cgroup namespace's view.)
            for l in lines.iter().filter(|l| !l.starts_with("0::")) {
                assert!(l.ends_with(&format!(":{own}")), "{l} in {out}");
            }
            assert!(lines.iter().any(|l| l.contains(":pids:")), "{out}");
        }
        let listing: Vec<&str> = parts[1].lines().collect();
        if v2() {
            for f in [
                "cgroup.controllers",
                "cgroup.procs",
                "memory.max",
                "pids.max",
            ] {
                assert!(listing.contains(&f), "{f} missing: {listing:?}");
            }
        } else {
            for h in [
                "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
            ] {
                assert!(listing.contains(&h), "{h} missing: {listing:?}");
            }
        }
        // The files are the container's cgroup's, not the host root's.
        assert_eq!(parts[2].trim(), "77", "{out}");
        c.assert_no_leftovers();
    }
}

/// berth-specific: wherever the host has a cgroup2 hierarchy (cgroup2-only, or hybrid) the
/// init is cloned straight into its cgroup2 directory (clone3 CLONE_INTO_CGROUP: it never runs
/// outside it), as `--debug` shows; the v1 hierarchies it joins itself, first thing after Go.
#[test]
fn init_is_cloned_into_its_cgroup_on_v2() {
    need_berth!();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let has_v2 = mountinfo.lines().any(|l| l.contains(" - cgroup2 "));
    let mut c = Container::new(Bundle::new().args(&["true"]));
    let out = c.create(&["--debug"]);
    out.assert_ok();
    let into = out.stderr.contains("cloning the init into its cgroup");
    assert_eq!(into, has_v2, "{out}");
    let phases = out
        .stderr
        .lines()
        .find(|l| l.contains("init phases"))
        .unwrap_or_default();
    assert!(phases.contains("cgroup="), "{out}");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// `delete` kills what is left in the cgroup (processes that outlive the init without a pid
/// namespace; cgroup.kill on v2) and removes the cgroup directory in every hierarchy.
#[test]
fn delete_kills_the_rest_and_removes_the_cgroup() {
    need_root!();
    let mut b = Bundle::new()
        .set("/linux/resources/memory", json!({"limit": 67108864}))
        .set("/linux/resources/pids", json!({"limit": 50}))
        .args(&[
            "sh",
            "-c",
            "sleep 1000 & sleep 1000 & echo ready; exec sleep 1000",
        ]);
    let ns = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    ns.retain(|n| n["type"] != "pid");
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "ready");
    let procs = host::procs_in_cgroup(&c.bundle.cgroup_path);
    assert_eq!(procs.len(), 3, "{procs:?}");
    assert!(!host::existing_cgroup_dirs(&c.bundle.cgroup_path).is_empty());
    c.delete(true).assert_ok();
    assert!(procs.iter().all(|p| !p.alive()), "{procs:?}");
    c.assert_no_leftovers();
}

/// A limit the kernel refuses, or one this host cannot apply, fails create: non-zero, nothing
/// left behind (state, cgroup dirs, processes), and (berth) one line naming the field and file.
#[test]
fn bad_limits_fail_create_and_leave_nothing() {
    need_root!();
    let berth = crate::common::berth_specific_enabled();
    // (pointer, value, field, file, berth only: runc 1.1 ignores realtime values on v2)
    let mut cases: Vec<(&str, Value, &str, &str, bool)> = vec![
        // CPUs this host does not have.
        (
            "/linux/resources/cpu",
            json!({"cpus": "0-255"}),
            "linux.resources.cpu.cpus",
            "cpuset.cpus",
            false,
        ),
    ];
    if v2() {
        cases.push((
            "/linux/resources/unified",
            json!({"memory.bogus": "1"}),
            "linux.resources.unified[\"memory.bogus\"]",
            "memory.bogus",
            false,
        ));
        cases.push((
            "/linux/resources/cpu",
            json!({"realtimeRuntime": 950000, "realtimePeriod": 1000000}),
            "linux.resources.cpu.realtime",
            "realtime",
            true,
        ));
    } else {
        cases.push((
            "/linux/resources/memory",
            json!({"limit": 67108864, "swap": 33554432}),
            "linux.resources.memory.swap",
            "memory.memsw.limit_in_bytes",
            false,
        ));
        cases.push((
            "/linux/resources/unified",
            json!({"memory.high": "1000000"}),
            "linux.resources.unified[\"memory.high\"]",
            "cgroup v2 only",
            false,
        ));
    }
    for (pointer, value, field, file, berth_only) in cases {
        if berth_only && !berth {
            continue;
        }
        let mut c = Container::new(Bundle::new().set(pointer, value.clone()).args(&["true"]));
        let out = c.create(&[]);
        out.assert_failed();
        c.assert_no_leftovers();
        if berth {
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{value}: {out}");
            assert!(lines[0].contains(field), "{value}: wanted {field}: {out}");
            assert!(lines[0].contains(file), "{value}: wanted {file}: {out}");
        }
    }
}
