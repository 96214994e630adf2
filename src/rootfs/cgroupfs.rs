//! The `type: cgroup` mount (docker, podman and `runc spec` put one at /sys/fs/cgroup): the
//! container sees its own cgroups. On a v2 host that is one cgroup2 mount; on a v1 or hybrid host,
//! runc's layout: a tmpfs holding one directory per hierarchy.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use super::mounts::{self, Mount, Options};
use super::resolve;
use crate::init::{Context, StepError};
use crate::sys::attr;

/// One hierarchy's part of the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Directory name under the mount: "memory", "cpu,cpuacct", "systemd", "unified".
    pub name: String,
    /// v1 controllers (`name=systemd` kept as is); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The container's cgroup directory on the host.
    pub host_dir: PathBuf,
}

/// What the init needs to build the view, computed by the parent from the container's cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub hierarchies: Vec<Source>,
    /// The container has its own cgroup namespace: mount fresh instances (they show the
    /// namespace's root) instead of binding host directories.
    pub new_namespace: bool,
}

impl Sources {
    fn unified_only(&self) -> bool {
        self.hierarchies.len() == 1 && self.hierarchies[0].controllers.is_empty()
    }
}

pub fn mount(root: BorrowedFd<'_>, m: &Mount, s: &Sources) -> Result<(), StepError> {
    let dest = &m.destination;
    let what = || format!("mount cgroup on {}", dest.display());
    let target = resolve::mkdir_all(root, dest).step(what)?;
    if s.unified_only() {
        return mount_one(
            target.as_fd(),
            &s.hierarchies[0],
            s.new_namespace,
            &m.options,
        )
        .step(what);
    }
    // runc's layout: a writable tmpfs (as runc leaves it) holding one mount per hierarchy, each
    // with the mount's flags.
    let tmpfs_opts = Options {
        set: attr::NOSUID | attr::NODEV | attr::NOEXEC,
        data: vec![("mode".into(), Some("755".into()))],
        ..Default::default()
    };
    let tmpfs = mounts::new_fs("tmpfs", "tmpfs", &tmpfs_opts).step(what)?;
    mounts::attach(tmpfs.as_fd(), target.as_fd(), &Options::default()).step(what)?;
    let view = mounts::reopen_dir_at(tmpfs.as_fd()).step(what)?;
    for h in &s.hierarchies {
        let name = h.name.clone();
        let sub = resolve::mkdir_all(view.as_fd(), &PathBuf::from(&name)).step(what)?;
        mount_one(sub.as_fd(), h, s.new_namespace, &m.options)
            .step(|| format!("mount cgroup {name} on {}/{name}", dest.display()))?;
        // Co-mounted controllers ("cpu,cpuacct") get a link per controller, as on the host.
        if h.controllers.len() > 1 {
            for c in &h.controllers {
                let _ = rustix::fs::symlinkat(name.as_str(), view.as_fd(), c.as_str());
            }
        }
    }
    Ok(())
}

fn mount_one(
    target: BorrowedFd<'_>,
    h: &Source,
    new_namespace: bool,
    o: &Options,
) -> std::io::Result<()> {
    let opts = Options {
        set: o.set,
        clear: o.clear,
        ..Default::default()
    };
    let mnt = if new_namespace {
        let mut fresh = opts.clone();
        if !h.controllers.is_empty() {
            fresh.data = h
                .controllers
                .iter()
                .map(|c| match c.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (c.clone(), None),
                })
                .collect();
        }
        let fstype = if h.controllers.is_empty() {
            "cgroup2"
        } else {
            "cgroup"
        };
        mounts::new_fs(fstype, "cgroup", &fresh)?
    } else {
        mounts::bind_tree(&h.host_dir, false)?
    };
    mounts::attach(mnt.as_fd(), target, &opts)
}
