//! `process.apparmorProfile`, `process.selinuxLabel` and `linux.mountLabel`: the Linux security
//! modules' labels. A label asked for on a host without that LSM is an error (running unconfined
//! would be silent). Otherwise:
//!
//! - AppArmor: `exec <profile>` is written to the init's own `attr/apparmor/exec` (or `attr/exec`
//!   on kernels without the per-LSM directory); the profile takes effect at the execve.
//! - SELinux: the label is written to `attr/exec`; `linux.mountLabel` becomes a `context=` option
//!   of the container's filesystem mounts (see rootfs).
//!
//! The attribute files are opened by the init while it still holds its privileges, through a
//! private procfs instance that no mount of the config can cover (CVE-2019-16884 and
//! CVE-2025-52881 redirected exactly this write); the write itself happens right before the
//! execve, after the startContainer hooks, with no allocation.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::init::{Context, StepError};
use crate::procfs::ProcFs;
use oci_spec::runtime::Process;

use crate::spec::{Config, SpecError};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn set(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

fn absent(lsm: &str) -> String {
    format!("{lsm} is not enabled on this host")
}

/// One attribute of the init to set before the exec.
struct Attr {
    field: &'static str,
    /// Files under `/proc/<pid>/task/<tid>/attr/`, the first that exists is used.
    files: &'static [&'static str],
    value: Vec<u8>,
    fd: Option<OwnedFd>,
}

#[derive(Default)]
pub struct Plan {
    attrs: Vec<Attr>,
}

impl Plan {
    pub fn from_config(c: &Config) -> Result<Plan, SpecError> {
        let mount_label = c.spec.linux().as_ref().and_then(|l| set(l.mount_label()));
        let plan = match c.spec.process() {
            Some(p) => Plan::for_process(p)
                .map_err(|(field, msg)| c.invalid(format!("process.{field}"), msg))?,
            None => Plan::default(),
        };
        if mount_label.is_some() && !selinux_enabled() {
            return Err(c.invalid("linux.mountLabel", absent("SELinux")));
        }
        Ok(plan)
    }

    /// The labels of one process (the init's, or an exec'd one's); an error names the process
    /// field (`apparmorProfile`, `selinuxLabel`) and says why.
    pub fn for_process(p: &Process) -> Result<Plan, (&'static str, String)> {
        let mut plan = Plan::default();
        if let Some(profile) = set(p.apparmor_profile()) {
            if !apparmor_enabled() {
                return Err(("apparmorProfile", absent("AppArmor")));
            }
            let list = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles");
            if let Ok(list) = list {
                if !profile_loaded(&list, &profile) {
                    return Err((
                        "apparmorProfile",
                        format!("no AppArmor profile {profile:?} is loaded"),
                    ));
                }
            }
            plan.attrs.push(Attr {
                field: "process.apparmorProfile",
                files: &["apparmor/exec", "exec"],
                value: format!("exec {profile}").into_bytes(),
                fd: None,
            });
        }
        if let Some(label) = set(p.selinux_label()) {
            if !selinux_enabled() {
                return Err(("selinuxLabel", absent("SELinux")));
            }
            plan.attrs.push(Attr {
                field: "process.selinuxLabel",
                files: &["exec"],
                value: label.into_bytes(),
                fd: None,
            });
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// In the init, still privileged: opens each attribute file of this thread through `proc`.
    pub fn open(&mut self, proc: &ProcFs) -> Result<(), StepError> {
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        for a in &mut self.attrs {
            let mut last = None;
            for f in a.files {
                match proc.open(&attr_path(pid, tid, f), OFlags::WRONLY) {
                    Ok(fd) => {
                        a.fd = Some(fd);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if a.fd.is_none() {
                let e = last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT));
                return Err(e).step(|| format!("opening the attribute file for {}", a.field));
            }
        }
        Ok(())
    }

    /// Right before execve: one write per attribute (no allocation unless it fails).
    pub fn apply(&self) -> Result<(), String> {
        for a in &self.attrs {
            let Some(fd) = &a.fd else { continue };
            if let Err(e) = rustix::io::write(fd, &a.value) {
                return Err(format!(
                    "applying {} {:?}: {}",
                    a.field,
                    String::from_utf8_lossy(&a.value),
                    std::io::Error::from(e)
                ));
            }
        }
        Ok(())
    }
}

/// `<pid>/task/<tid>/attr/<file>`: /proc/thread-self without following its symlink.
fn attr_path(pid: i32, tid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("{pid}/task/{tid}/attr/{file}"))
}

/// Whether `profile` is in the kernel's list (`name (mode)` per line). Names the list cannot
/// show (unconfined, hats and stacks, other namespaces) count as loaded: the kernel decides.
fn profile_loaded(list: &str, profile: &str) -> bool {
    if profile == "unconfined" || profile.contains("//") || profile.starts_with(':') {
        return true;
    }
    list.lines()
        .filter_map(|l| l.rsplit_once(" ("))
        .any(|(name, _)| name == profile)
}

/// The superblock option `linux.mountLabel` adds to a filesystem mount of type `fstype`, if any:
/// every type but proc, sysfs, mqueue and cgroups (as runc). Given to fsconfig as is: no
/// quoting, since fsconfig does not split on the commas of an MLS range.
pub fn mount_label_option(fstype: &str, label: &str) -> Option<(String, Option<String>)> {
    match fstype {
        "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2" => None,
        _ => Some(("context".into(), Some(label.into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_list() {
        let list = "docker-default (enforce)\nmy profile (complain)\n/usr/bin/x (enforce)\n";
        assert!(profile_loaded(list, "docker-default"));
        assert!(profile_loaded(list, "my profile"));
        assert!(profile_loaded(list, "/usr/bin/x"));
        assert!(!profile_loaded(list, "docker"));
        assert!(profile_loaded(list, "unconfined"));
        assert!(profile_loaded(list, "a//b"));
    }

    #[test]
    fn attribute_paths_and_values() {
        assert_eq!(
            attr_path(1, 1, "apparmor/exec"),
            PathBuf::from("1/task/1/attr/apparmor/exec")
        );
        assert_eq!(
            mount_label_option("tmpfs", "system_u:object_r:container_file_t:s0:c1,c2"),
            Some((
                "context".into(),
                Some("system_u:object_r:container_file_t:s0:c1,c2".into())
            ))
        );
        assert_eq!(mount_label_option("proc", "x"), None);
        assert_eq!(mount_label_option("mqueue", "x"), None);
    }

    /// The attribute files open through a private procfs and a write reaches the kernel (which,
    /// with no LSM behind attr/exec, refuses it: the point is that it is procfs that answers).
    #[test]
    fn attributes_open_through_a_private_procfs() {
        let Ok(proc) = ProcFs::private() else {
            return; // not privileged
        };
        let mut plan = Plan {
            attrs: vec![Attr {
                field: "process.selinuxLabel",
                files: &["no-such-attr", "exec"],
                value: b"x".to_vec(),
                fd: None,
            }],
        };
        plan.open(&proc).unwrap();
        let fd = plan.attrs[0].fd.as_ref().unwrap();
        assert_eq!(
            rustix::fs::fstatfs(fd).unwrap().f_type as i64,
            0x9fa0,
            "not procfs"
        );
        if !apparmor_enabled() && !selinux_enabled() {
            let e = plan.apply().unwrap_err();
            assert!(
                e.starts_with("applying process.selinuxLabel \"x\": "),
                "{e}"
            );
        }
    }
}
