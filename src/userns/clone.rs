//! Cloning the init when a user namespace is involved and namespaces are joined by path.
//!
//! clone3 makes every new namespace owned by the user namespace the new process is in. With a
//! user namespace joined by path, the init's other new namespaces must be made after it joined
//! that one (or the container's root could not mount in its own mount namespace); with a new
//! user namespace, the namespaces joined by path must be joined before it exists (afterwards the
//! init has no privilege over namespaces the host owns). Either way the joins happen in a
//! short-lived helper: it joins the user namespace first, as the runtime-spec's order requires,
//! then the others, and clones the init with CLONE_PARENT, so the init is `berth create`'s own
//! child, exactly as without the helper. Without joins, the init is cloned directly.
//!
//! Pid and time namespaces given by path apply to children: they are joined by whoever clones
//! the init (the helper, after the user namespace, so that the init's pid it reports is the one
//! berth sees; or berth itself, which then returns to its own so that the hooks it runs later
//! start in the runtime's namespaces).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::pipe::{pipe_with, PipeFlags};

use super::maps::IdMap;
use crate::namespaces;
use crate::sys::{self, Forked};

/// Whether the init must be cloned through the helper.
fn needs_helper(ns: &namespaces::Plan) -> bool {
    ns.join_user.is_some() || (ns.new_user && !ns.join_in_init.is_empty())
}

/// Clones the container's init with `ns.clone_flags`. Returns `Forked::Child` in the init (whose
/// `ns` then lists nothing more to join, if the helper joined it all) and the init's pid and
/// pidfd in the caller. Errors are one line for the user.
/// With `cgroup` (a cgroup2 directory), the init is cloned straight into it where it can be;
/// the second value says whether it was (otherwise the caller joins it).
pub fn clone_init(
    ns: &mut namespaces::Plan,
    cgroup: Option<BorrowedFd<'_>>,
) -> Result<(Forked, bool), String> {
    if !needs_helper(ns) {
        let own = namespaces::join_for_children(&ns.join_before_clone)?;
        let flags = ns.clone_flags;
        let cloned = match sys::clone3_into_cgroup(flags, true, cgroup) {
            Ok(f) => Ok((f, cgroup.is_some())),
            // A kernel without CLONE_INTO_CGROUP (before 5.7): the caller joins it.
            Err(_) if cgroup.is_some() => sys::clone3(flags, true).map(|f| (f, false)),
            Err(e) => Err(e),
        }
        .map_err(|e| format!("clone3 of the container's init: {e}"));
        if !matches!(cloned, Ok((Forked::Child, _))) {
            own.restore()?;
        }
        return cloned;
    }
    let (rd, wr) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let helper = match sys::clone3(0, false).map_err(|e| format!("fork: {e}"))? {
        Forked::Child => {
            drop(rd);
            match join_and_clone(ns) {
                Ok(Forked::Child) => {
                    // The init: everything is joined already.
                    drop(wr);
                    ns.join_user = None;
                    ns.join_in_init.clear();
                    return Ok((Forked::Child, false));
                }
                Ok(Forked::Parent { pid, .. }) => {
                    let _ = rustix::io::write(&wr, pid.to_string().as_bytes());
                    exit(0)
                }
                Err(msg) => {
                    let _ = rustix::io::write(&wr, format!("!{msg}").as_bytes());
                    exit(1)
                }
            }
        }
        Forked::Parent { pid, .. } => pid,
    };
    drop(wr);
    let reply = read_all(rd.as_fd());
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
    let reply = reply.map_err(|e| format!("reading from the namespace helper: {e}"))?;
    if let Some(msg) = reply.strip_prefix('!') {
        return Err(msg.to_string());
    }
    let pid: i32 = reply
        .parse()
        .map_err(|_| "the namespace helper exited before cloning the init".to_string())?;
    // The init is our child (CLONE_PARENT) and nobody else reaps it: its pid cannot be reused
    // before we wait for it, so opening a pidfd by number is safe even if it died already.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).ok_or("bad pid from the namespace helper")?,
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| format!("pidfd_open of the container's init: {e}"))?;
    Ok((
        Forked::Parent {
            pid,
            pidfd: Some(pidfd),
        },
        false,
    ))
}

/// In the helper: the user namespace first, then the others, then the init.
fn join_and_clone(ns: &namespaces::Plan) -> Result<Forked, String> {
    let others = || {
        namespaces::join(&ns.join_before_clone)?;
        namespaces::join(&ns.join_in_init)
    };
    if let Some(user) = &ns.join_user {
        namespaces::join(std::slice::from_ref(user))?;
        others().map_err(|e| {
            format!(
                "{e} (in the user namespace {}, only namespaces that belong to it can be joined)",
                user.path.display()
            )
        })?;
    } else {
        others()?;
    }
    sys::clone3_sibling(ns.clone_flags).map_err(|e| format!("clone3 of the container's init: {e}"))
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends this copy of the process without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

fn read_all(fd: BorrowedFd<'_>) -> io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The uid and gid maps of the user namespace `ns` (an nsfs fd), as its parent namespace sees
/// them: read by a child that joins it (a namespace file says nothing of its maps).
pub fn namespace_maps(ns: BorrowedFd<'_>) -> io::Result<(IdMap, IdMap)> {
    let (rd, wr) = pipe_with(PipeFlags::CLOEXEC)?;
    // SAFETY: berth is single-threaded here (before any clone of the init); the child only
    // makes syscalls, reads two small files and _exits.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let read = || -> io::Result<String> {
                rustix::thread::move_into_link_name_space(
                    ns,
                    Some(rustix::thread::LinkNameSpaceType::User),
                )?;
                let uid = std::fs::read_to_string("/proc/self/uid_map")?;
                let gid = std::fs::read_to_string("/proc/self/gid_map")?;
                Ok(format!("{uid}-\n{gid}"))
            };
            let (text, code) = match read() {
                Ok(t) => (t, 0),
                Err(e) => (format!("!{e}"), 1),
            };
            let _ = rustix::io::write(&wr, text.as_bytes());
            exit(code)
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let text = read_all(rd.as_fd());
            let _ = nix::sys::wait::waitpid(child, None);
            let text = text?;
            if let Some(msg) = text.strip_prefix('!') {
                return Err(io::Error::other(msg.to_string()));
            }
            let (uid, gid) = text
                .split_once("-\n")
                .ok_or_else(|| io::Error::other("the reading child exited early"))?;
            Ok((IdMap::parse(uid), IdMap::parse(gid)))
        }
    }
}
