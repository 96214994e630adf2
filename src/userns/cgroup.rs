//! The runtime-spec's cgroup ownership rule: in a user namespace, with a new cgroup namespace
//! and the cgroup filesystem mounted read-write at /sys/fs/cgroup, the container's cgroup v2
//! directory and the files the kernel lists as delegatable belong to the host uid of
//! `process.user.uid`, so the container can manage its own subtree (runc does the same with its
//! systemd driver). Never on a v1 or hybrid host, where delegation is not safe.

use std::io;
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;

use super::Plan;
use crate::cgroups::{self, Cgroup, CgroupError, Hierarchy};
use crate::rootfs::resolve;
use crate::spec::Config;

impl Plan {
    /// The runtime-spec's cgroup ownership rule: with a new cgroup namespace and the cgroup
    /// filesystem mounted read-write at /sys/fs/cgroup, the host uid of `process.user.uid`.
    pub(super) fn cgroup_owner_for(&self, c: &Config) -> Option<u32> {
        let linux = c.spec.linux().as_ref()?;
        let new_cgroupns = linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none());
        let rw_cgroupfs = c.spec.mounts().iter().flatten().any(|m| {
            m.source().as_deref() == Some(Path::new("cgroup"))
                && resolve::clean(m.destination()) == Path::new("sys/fs/cgroup")
                && !m.options().iter().flatten().any(|o| o == "ro")
        });
        let uid = c.spec.process().as_ref().map_or(0, |p| p.user().uid());
        (new_cgroupns && rw_cgroupfs)
            .then(|| self.uid_map.to_host(uid))
            .flatten()
    }

    /// Gives the container's root the cgroup v2 files it needs to manage its own subtree, as
    /// the runtime-spec describes: the directory and the files listed in
    /// /sys/kernel/cgroup/delegate (runc does the same with its systemd driver). Never on a v1
    /// or hybrid host, where delegation is not safe.
    pub fn delegate_cgroup(
        &self,
        hierarchies: &[Hierarchy],
        cg: &Cgroup,
    ) -> Result<(), CgroupError> {
        let Some(uid) = self.cgroup_owner else {
            return Ok(());
        };
        if cgroups::hierarchy::mode(hierarchies) != cgroups::Mode::Unified {
            return Ok(());
        }
        let files = std::fs::read_to_string("/sys/kernel/cgroup/delegate").unwrap_or_else(|_| {
            "cgroup.procs\ncgroup.subtree_control\ncgroup.threads\n".to_string()
        });
        for d in cg.dirs.iter().filter(|d| d.hierarchy == "unified") {
            delegate(&d.path, &files, uid)?;
        }
        Ok(())
    }
}

/// Chowns the cgroup directory `dir` and its `files` (those that exist) to `uid`.
pub fn delegate(dir: &Path, files: &str, uid: u32) -> Result<(), CgroupError> {
    let chown = |p: &Path| match std::os::unix::fs::lchown(p, Some(uid), None) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r.map_err(cgroups::io_err("delegating to the container's user", p)),
    };
    chown(dir)?;
    for f in files.lines().map(str::trim).filter(|f| !f.is_empty()) {
        chown(&dir.join(f))?;
    }
    Ok(())
}
