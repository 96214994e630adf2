//! `linux.namespaces`: which namespaces the init gets new (clone flags) and which it joins by
//! path (setns). Paths are opened and checked to be namespaces of the right type in the parent,
//! before anything is created.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::LinuxNamespaceType;
use rustix::thread::{self, LinkNameSpaceType, UnshareFlags};

use crate::spec::{Config, SpecError};

const NSFS_MAGIC: i64 = 0x6e73_6673;
/// ioctl(NS_GET_NSTYPE) from linux/nsfs.h: _IO(0xb7, 0x3).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// A namespace to join: an open nsfs file and its type.
pub struct Join {
    pub fd: OwnedFd,
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
}

pub struct Plan {
    /// CLONE_NEW* flags for namespaces the init gets new (cgroup and network excluded: see
    /// `new_cgroup` and `new_net`).
    pub clone_flags: u64,
    /// Joined just before the init is cloned, by whoever clones it: a pid or time namespace
    /// applies to children only (see `join_for_children`).
    pub join_before_clone: Vec<Join>,
    /// Joined by the init right after it starts.
    pub join_in_init: Vec<Join>,
    /// A user namespace joined by path: entered before any other namespace is joined or made,
    /// so that those are owned by it (see `userns::clone_init`).
    pub join_user: Option<Join>,
    /// A new user namespace (CLONE_NEWUSER is in `clone_flags`).
    pub new_user: bool,
    /// A new cgroup namespace is unshared by the init after it joined its cgroup, so that the
    /// namespace's root is the container's cgroup rather than the caller's.
    pub new_cgroup: bool,
    pub new_pid: bool,
    pub new_uts: bool,
    /// A new network namespace is unshared by the init first thing rather than made by clone3:
    /// it is the slowest namespace to create (~0.4 ms), and this way the parent makes the v1
    /// cgroup directories meanwhile. Owned by the same user namespace either way: the init's.
    pub new_net: bool,
}

fn clone_flag(t: LinuxNamespaceType) -> u64 {
    (match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }) as u64
}

impl Plan {
    pub fn from_config(c: &Config) -> Result<Plan, SpecError> {
        let mut plan = Plan {
            clone_flags: 0,
            join_before_clone: Vec::new(),
            join_in_init: Vec::new(),
            join_user: None,
            new_user: false,
            new_cgroup: false,
            new_pid: false,
            new_uts: false,
            new_net: false,
        };
        let namespaces = c
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref());
        for (i, ns) in namespaces.into_iter().flatten().enumerate() {
            let typ = ns.typ();
            match ns.path() {
                None => match typ {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Network => plan.new_net = true,
                    t => {
                        plan.clone_flags |= clone_flag(t);
                        plan.new_pid |= t == LinuxNamespaceType::Pid;
                        plan.new_uts |= t == LinuxNamespaceType::Uts;
                        plan.new_user |= t == LinuxNamespaceType::User;
                    }
                },
                Some(path) => {
                    let fd = open_namespace(path, typ)
                        .map_err(|msg| c.invalid(format!("linux.namespaces[{i}].path"), msg))?;
                    let join = Join {
                        fd,
                        typ,
                        path: path.clone(),
                    };
                    if typ == LinuxNamespaceType::User {
                        plan.join_user = Some(join);
                    } else if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                        plan.join_before_clone.push(join);
                    } else {
                        plan.join_in_init.push(join);
                    }
                }
            }
        }
        Ok(plan)
    }
}

/// Opens `path` and checks that it is a namespace of type `typ`.
fn open_namespace(path: &PathBuf, typ: LinuxNamespaceType) -> Result<OwnedFd, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fs = rustix::fs::fstatfs(f.as_fd()).map_err(|e| format!("{}: {e}", path.display()))?;
    if fs.f_type as i64 != NSFS_MAGIC {
        return Err(format!("{} is not a namespace file", path.display()));
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns the namespace's CLONE_NEW* type.
    let found = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if found >= 0 && found as u64 != clone_flag(typ) {
        return Err(format!("{} is not a {typ} namespace", path.display()));
    }
    Ok(f.into())
}

/// A new network namespace starts with its loopback down; runc brings it up (its spec
/// conversion gives every new network namespace a loopback interface), and programs expect
/// 127.0.0.1 to answer.
pub fn loopback_up() -> Result<(), String> {
    crate::sys::link_up(c"lo").map_err(|e| format!("bringing up the loopback interface: {e}"))
}

/// setns into each namespace of `joins`.
pub fn join(joins: &[Join]) -> Result<(), String> {
    for j in joins {
        thread::move_into_link_name_space(j.fd.as_fd(), None::<LinkNameSpaceType>)
            .map_err(|e| format!("joining {} namespace {}: {e}", j.typ, j.path.display()))?;
    }
    Ok(())
}

/// Gives the calling process a new network namespace.
pub fn unshare_net() -> Result<(), String> {
    // SAFETY: unshare of the network namespace changes no memory or fd state of this process.
    unsafe { thread::unshare_unsafe(UnshareFlags::NEWNET) }
        .map_err(|e| format!("creating a network namespace: {e}"))
}

/// berth's own pid and time namespaces, to return to once the init is cloned.
pub struct OwnForChildren(Vec<OwnedFd>);

/// setns into each namespace of `joins` (pid and time ones: they apply to the children made from
/// here on, not to the caller). The caller returns to its own with `OwnForChildren::restore`
/// after the clone, so that its later children (the prestart and createRuntime hooks) start in
/// the runtime's namespaces, as the runtime-spec says.
pub fn join_for_children(joins: &[Join]) -> Result<OwnForChildren, String> {
    let mut own = Vec::new();
    for j in joins {
        let name = match j.typ {
            LinuxNamespaceType::Time => "time",
            _ => "pid",
        };
        let path = format!("/proc/self/ns/{name}");
        let fd = File::open(&path).map_err(|e| format!("opening {path}: {e}"))?;
        own.push(fd.into());
    }
    join(joins)?;
    Ok(OwnForChildren(own))
}

impl OwnForChildren {
    /// Back to berth's own pid and time namespaces for children (never in the init: it belongs
    /// in the joined ones).
    pub fn restore(self) -> Result<(), String> {
        for fd in &self.0 {
            thread::move_into_link_name_space(fd.as_fd(), None::<LinkNameSpaceType>)
                .map_err(|e| format!("returning to berth's own namespace after the clone: {e}"))?;
        }
        Ok(())
    }
}

/// Gives the calling process a new cgroup namespace rooted at its current cgroup.
pub fn unshare_cgroup() -> Result<(), String> {
    // SAFETY: unshare of the cgroup namespace changes no memory or fd state of this process.
    unsafe { thread::unshare_unsafe(UnshareFlags::NEWCGROUP) }
        .map_err(|e| format!("creating a cgroup namespace: {e}"))
}
