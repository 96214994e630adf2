//! runc's CVE classes mounted for real: a hostile config or rootfs tries to redirect the
//! runtime's procfs writes (CVE-2025-52881, CVE-2019-16884) or its /dev/null masking
//! (CVE-2025-31133) onto something else, and the host stays untouched. The LSM labels are
//! refused on a host without the LSM rather than ignored.

use crate::bundle::Bundle;
use crate::common::{runtime_is_berth, Container};
use crate::host::HostDir;
use serde_json::json;
use std::fs;
use std::process::{Child, Command};

/// A host process the test owns, whose /proc/<pid>/oom_score_adj is the procfs file the attack
/// aims at (writable by root from any process, and harmless to change).
struct Helper(Child);

impl Helper {
    fn new() -> Helper {
        Helper(
            Command::new("/bin/sleep")
                .arg("60")
                .spawn()
                .expect("spawn helper"),
        )
    }

    fn target(&self) -> String {
        format!("/proc/{}/oom_score_adj", self.0.id())
    }

    fn value(&self) -> String {
        fs::read_to_string(self.target()).expect("read the helper's oom_score_adj")
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CVE-2025-52881 class: the config binds something over the sysctl file the runtime is asked
/// to write: a host file (a non-procfs target), or a host procfs file (a target a fstatfs check
/// alone would accept). The value must land in the container's real sysctl (berth writes
/// through a private procfs no mount can cover) or the config must be refused (runc refuses
/// mounts inside /proc); the bound files never change.
#[test]
fn sysctl_writes_cannot_be_redirected() {
    need_root!();
    let dir = HostDir::new();
    let host_file = dir.path().join("ip_forward");
    fs::write(&host_file, "untouched\n").expect("write host file");
    let helper = Helper::new();
    for source in [host_file.display().to_string(), helper.target()] {
        let before = helper.value();
        let b = Bundle::new()
            .args(&["cat", "/proc/sys/net/ipv4/conf/all/forwarding"])
            .set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}))
            .mount(
                json!({"destination": "/proc/sys/net/ipv4/ip_forward", "type": "bind",
                          "source": source, "options": ["bind"]}),
            );
        let c = Container::new(b);
        let out = c.run(&[]);
        if runtime_is_berth() {
            out.assert_ok();
            // ip_forward and conf/all/forwarding are one setting of the container's netns.
            assert_eq!(out.stdout, "1\n", "{source}: {out}");
        } else {
            out.assert_failed();
        }
        assert_eq!(
            fs::read_to_string(&host_file).expect("read host file"),
            "untouched\n"
        );
        assert_eq!(helper.value(), before, "{source}: {out}");
        c.assert_no_leftovers();
    }
}

/// oom_score_adj: written by `create` through the host's /proc, which nothing the container
/// mounts can reach; a file bound over the container's /proc/1/oom_score_adj stays as it was.
#[test]
fn oom_score_adj_write_cannot_be_redirected() {
    need_root!();
    let dir = HostDir::new();
    let host_file = dir.path().join("oom");
    fs::write(&host_file, "untouched\n").expect("write host file");
    let b = Bundle::new()
        .args(&["cat", "/proc/1/task/1/oom_score_adj"])
        .set("/process/oomScoreAdj", json!(234))
        .mount(
            json!({"destination": "/proc/1/oom_score_adj", "type": "bind",
                      "source": host_file, "options": ["bind"]}),
        );
    let c = Container::new(b);
    let out = c.run(&[]);
    if runtime_is_berth() {
        out.assert_ok();
        assert_eq!(out.stdout, "234\n", "{out}");
    } else {
        out.assert_failed();
    }
    assert_eq!(fs::read_to_string(&host_file).expect("read"), "untouched\n");
    c.assert_no_leftovers();
}

/// CVE-2025-31133: the image's /dev/null is a symlink to a procfs file the host shares
/// (kernel.core_pattern). Masking must not bind that file over a masked path, where the
/// container could write it: the /dev/null that masking uses must be the 1:3 device.
/// Berth-specific: runc 1.1.5 predates the fix and binds the symlink's target.
#[test]
fn masking_refuses_a_dev_null_symlink_to_procfs() {
    need_berth!();
    let fake_dev = HostDir::new();
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        fake_dev.path().join("null"),
    )
    .expect("symlink");
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let b = Bundle::new()
        .set("/linux/maskedPaths", json!(["/proc/keys"]))
        .set("/linux/readonlyPaths", json!([]));
    let mut mounts = b.config["mounts"].clone();
    for m in mounts.as_array_mut().expect("mounts") {
        if m["destination"] == "/dev" {
            *m = json!({"destination": "/dev", "type": "bind", "source": fake_dev.path(),
                        "options": ["rbind"]});
        }
    }
    let mut c = Container::new(b.set("/mounts", mounts));
    let out = c.create(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("masking /proc/keys: /dev/null in the container is not the null device"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern"),
        before
    );
    assert_eq!(
        fs::read_link(fake_dev.path().join("null")).expect("link"),
        std::path::Path::new("/proc/sys/kernel/core_pattern")
    );
    c.assert_no_leftovers();
}

/// An AppArmor profile or SELinux label on a host without that LSM is refused, naming the
/// field and saying why, rather than run unconfined. (This host has neither; where one is
/// enabled the label is applied, see src/lsm.rs.)
#[test]
fn lsm_labels_are_refused_without_the_lsm() {
    need_berth!();
    let apparmor = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let label = "system_u:system_r:container_t:s0:c1,c2";
    for (pointer, value, field, lsm, enabled) in [
        (
            "/process/apparmorProfile",
            "docker-default",
            "process.apparmorProfile",
            "AppArmor",
            apparmor,
        ),
        (
            "/process/selinuxLabel",
            label,
            "process.selinuxLabel",
            "SELinux",
            selinux,
        ),
        (
            "/linux/mountLabel",
            label,
            "linux.mountLabel",
            "SELinux",
            selinux,
        ),
    ] {
        if enabled {
            println!("skipping {field}: {lsm} is enabled here");
            continue;
        }
        let mut c = Container::new(Bundle::new().set(pointer, json!(value)));
        let out = c.create(&[]);
        out.assert_failed();
        assert!(
            out.stderr
                .contains(&format!("{field}: {lsm} is not enabled on this host")),
            "{out}"
        );
        c.assert_no_leftovers();
    }
}
