//! Idmapped mounts: a bind mount's `uidMappings`/`gidMappings` (runtime-spec 1.1), or its
//! `idmap`/`ridmap` option (1.2: with no mappings given, the container's user namespace's).
//!
//! The kernel lets only a process privileged over the source's filesystem (the host's root)
//! idmap a mount, so the parent does it before clone: it makes a user namespace holding the
//! mapping, opens a detached copy of the source (open_tree), sets MOUNT_ATTR_IDMAP on it with
//! that namespace, and the init, which inherits the fd, attaches it (rootfs::mounts) as it
//! would its own bind. As under runc, the flags of such a mount are not locked by the kernel.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::mount::{open_tree, OpenTreeFlags};

use super::mounts::{Kind, Mount};
use crate::spec::{Config, SpecError};
use crate::sys::{self, Forked};
use crate::userns::maps::{self, IdMap, Range};

/// Where a mount's idmapping comes from.
enum Mapping {
    Maps(IdMap, IdMap),
    /// A user namespace joined by path: its own mappings, through its file.
    Namespace(std::path::PathBuf),
}

/// One idmapped mount, planned from the config.
struct Planned {
    index: usize,
    mapping: Mapping,
    recursive: bool,
}

/// Checks the config's idmapped mounts and, in the parent before clone, makes each one's
/// detached, idmapped source; its fd goes in the planned mount (`Mount::idmapped`). The
/// returned fds must stay open until the init is cloned.
pub fn prepare(
    c: &Config,
    planned: &mut [Mount],
    userns: Option<&crate::userns::Plan>,
) -> Result<Vec<OwnedFd>, SpecError> {
    let mut todo = Vec::new();
    for (i, m) in c.spec.mounts().iter().flatten().enumerate() {
        let opts = m.options().as_deref().unwrap_or_default();
        let option = opts.iter().find(|o| *o == "idmap" || *o == "ridmap");
        let (uids, gids) = (
            Range::from_spec(m.uid_mappings()),
            Range::from_spec(m.gid_mappings()),
        );
        if option.is_none() && uids.is_empty() && gids.is_empty() {
            continue;
        }
        let field = format!("mounts[{i}]");
        if !matches!(planned[i].kind, Kind::Bind { .. }) {
            return Err(c.invalid(field, "only bind mounts can be idmapped"));
        }
        let mapping = if uids.is_empty() && gids.is_empty() {
            container_mapping(c, &field, userns)?
        } else {
            if uids.is_empty() || gids.is_empty() {
                return Err(c.invalid(
                    field,
                    "an idmapped mount needs both uidMappings and gidMappings",
                ));
            }
            let page = rustix::param::page_size();
            let all = IdMap::identity();
            let mut checked = Vec::new();
            for (name, what, given) in
                [("uidMappings", "uid", &uids), ("gidMappings", "gid", &gids)]
            {
                checked.push(maps::check(what, given, &all, page).map_err(|r| {
                    let at = r.index.map(|j| format!("[{j}]")).unwrap_or_default();
                    c.invalid(format!("{field}.{name}{at}"), r.msg)
                })?);
            }
            let gid = checked.pop().unwrap_or_default();
            Mapping::Maps(checked.pop().unwrap_or_default(), gid)
        };
        todo.push(Planned {
            index: i,
            mapping,
            recursive: option.is_some_and(|o| o == "ridmap"),
        });
    }
    let mut fds = Vec::new();
    for p in todo {
        let m = &mut planned[p.index];
        let Kind::Bind { source, recursive } = &m.kind else {
            continue;
        };
        let fd = idmapped_tree(source, *recursive, &p.mapping, p.recursive).map_err(|e| {
            c.invalid(
                format!("mounts[{}]", p.index),
                format!("idmapping {}: {e}", source.display()),
            )
        })?;
        m.idmapped = Some(fd.as_raw_fd());
        m.options
            .data
            .retain(|(k, _)| k != "idmap" && k != "ridmap");
        fds.push(fd);
    }
    Ok(fds)
}

/// `idmap`/`ridmap` without mappings: the container's user namespace's.
fn container_mapping(
    c: &Config,
    field: &str,
    userns: Option<&crate::userns::Plan>,
) -> Result<Mapping, SpecError> {
    let Some(u) = userns else {
        return Err(c.invalid(
            field,
            "idmap without uidMappings and gidMappings takes the container's user namespace's, and there is none",
        ));
    };
    if u.new {
        return Ok(Mapping::Maps(u.uid_map.clone(), u.gid_map.clone()));
    }
    let path = c
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        .and_then(|n| n.path().clone())
        .unwrap_or_default();
    Ok(Mapping::Namespace(path))
}

/// A detached copy of `source` with MOUNT_ATTR_IDMAP set (on every mount of the tree with
/// `ridmap`).
fn idmapped_tree(
    source: &Path,
    rbind: bool,
    mapping: &Mapping,
    recursive: bool,
) -> io::Result<OwnedFd> {
    let userns = match mapping {
        Mapping::Maps(uid, gid) => mapping_namespace(uid, gid)?,
        Mapping::Namespace(path) => std::fs::File::open(path)?.into(),
    };
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if rbind {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(rustix::fs::CWD, source, flags)?;
    sys::mount_setattr_idmap(tree.as_fd(), recursive && rbind, userns.as_fd()).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            io::Error::other(format!(
                "{e} (its filesystem may not support idmapped mounts on this kernel)"
            ))
        } else {
            e
        }
    })?;
    Ok(tree)
}

/// A user namespace with these maps, held by its fd: made by a child that waits while the
/// maps are written, then exits.
fn mapping_namespace(uid: &IdMap, gid: &IdMap) -> io::Result<OwnedFd> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let pid = match sys::clone3(libc::CLONE_NEWUSER as u64, false)? {
        Forked::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            // Returns at end-of-file: the parent is done with us.
            let _ = rustix::io::read(&rd, &mut b);
            // SAFETY: _exit ends this copy of the process without running destructors.
            unsafe { libc::_exit(0) }
        }
        Forked::Parent { pid, .. } => pid,
    };
    drop(rd);
    let made = (|| {
        // The host's /proc: nothing of a container's can redirect these writes.
        let procfs = crate::procfs::ProcFs::mounted()?;
        let rel = |f: &str| format!("{pid}/{f}");
        procfs.write(Path::new(&rel("uid_map")), uid.text().as_bytes())?;
        procfs.write(Path::new(&rel("gid_map")), gid.text().as_bytes())?;
        Ok(std::fs::File::open(format!("/proc/{pid}/ns/user"))?.into())
    })();
    drop(wr);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    made
}
