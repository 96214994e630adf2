//! A rootfs built in a mount namespace the container does not own: the runtime's own (no `mount`
//! entry in linux.namespaces) or one joined by path. The container must then be in that very
//! namespace, so its mounts land there and outlive its processes. berth builds them all inside
//! one private bind of the rootfs onto itself, enters it with chroot (pivot_root would move the
//! root of every process in that namespace), leaves the namespace's own mounts and propagation
//! alone, and detaches that one bind, with everything under it, when the container is deleted
//! or its create fails.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, StatxFlags};
use rustix::mount::{unmount, UnmountFlags};
use serde::{Deserialize, Serialize};

/// What `delete` needs to find and detach the rootfs bind again (kept in state.json).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SharedRoot {
    /// The mount namespace: st_dev and st_ino of its nsfs file.
    pub ns: (u64, u64),
    /// The linux.namespaces path it was joined through; `None` for the runtime's own.
    pub ns_path: Option<PathBuf>,
    /// The rootfs bind: its path in that namespace and its mount id.
    pub rootfs: PathBuf,
    pub mount_id: u64,
}

/// The mount id of the rootfs bind, once the init attached it (0: not attached).
static ATTACHED: AtomicU64 = AtomicU64::new(0);
/// Whether the init has chrooted into it.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// The id of the mount `fd` (a directory of it) is on.
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let st = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)?;
    Ok(st.stx_mnt_id)
}

/// In the init: the rootfs bind is attached (`root` is a directory fd of it).
pub fn attached(root: BorrowedFd<'_>) -> io::Result<()> {
    ATTACHED.store(mount_id(root)?, Ordering::Relaxed);
    Ok(())
}

/// In the init: it now runs chrooted into the rootfs bind.
pub fn entered() {
    ENTERED.store(true, Ordering::Relaxed);
}

/// In the init, when its setup failed: detaches the rootfs bind it attached, if any.
pub fn abandon(rootfs: &Path) {
    let id = ATTACHED.load(Ordering::Relaxed);
    if id == 0 {
        return;
    }
    let path = if ENTERED.load(Ordering::Relaxed) {
        Path::new("/")
    } else {
        rootfs
    };
    let _ = detach(path, id, true);
}

/// Detaches the mount at `path` if it is mount `id` (it may be gone already, or be someone
/// else's by now). The path is opened once and unmounted through that fd, so a path swapped in
/// between cannot redirect the unmount: through /proc/self/fd, or, where this process's /proc
/// may not be procfs (the init, a child in another namespace), by entering the fd and
/// unmounting "." (this process's cwd changes then).
fn detach(path: &Path, id: u64, through_cwd: bool) -> io::Result<bool> {
    use rustix::fs::{Mode, OFlags};
    let fd = match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if mount_id(fd.as_fd())? != id {
        return Ok(false);
    }
    if through_cwd {
        rustix::process::fchdir(fd.as_fd())?;
        unmount(".", UnmountFlags::DETACH)?;
    } else {
        // The magic link resolves to the root of that very mount.
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        unmount(via.as_str(), UnmountFlags::DETACH)?;
    }
    Ok(true)
}

/// st_dev and st_ino of a namespace file.
fn ns_id(path: &Path) -> io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

impl SharedRoot {
    /// In the parent, once the init reported ready: which namespace it is in and which mount
    /// is its root (the rootfs bind).
    pub fn probe(pid: i32, rootfs: &Path, ns_path: Option<&Path>) -> io::Result<SharedRoot> {
        let root = File::open(format!("/proc/{pid}/root"))?;
        Ok(SharedRoot {
            ns: ns_id(Path::new(&format!("/proc/{pid}/ns/mnt")))?,
            ns_path: ns_path.map(Path::to_path_buf),
            rootfs: rootfs.to_path_buf(),
            mount_id: mount_id(root.as_fd())?,
        })
    }

    /// Detaches the rootfs bind (and every mount under it) in its namespace: this process's
    /// own, or the one at `ns_path`, entered by a short-lived child. A namespace that no longer
    /// exists took the mounts with it.
    pub fn release(&self) -> io::Result<()> {
        if ns_id(Path::new("/proc/self/ns/mnt"))? == self.ns {
            return detach(&self.rootfs, self.mount_id, false).map(drop);
        }
        let Some(path) = &self.ns_path else {
            return Err(io::Error::other(format!(
                "the rootfs bind {} is in another mount namespace than this berth's; unmount it there",
                self.rootfs.display()
            )));
        };
        let ns = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let m = ns.metadata()?;
        if (m.dev(), m.ino()) != self.ns {
            return Ok(()); // The namespace the container was in is gone; another is there now.
        }
        in_namespace(ns.as_fd(), || {
            detach(&self.rootfs, self.mount_id, true).map(drop)
        })
    }
}

/// Runs `f` in a child that joined the mount namespace `ns`; this process stays where it is.
fn in_namespace(ns: BorrowedFd<'_>, f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    // SAFETY: berth is single-threaded here; the child only makes syscalls and _exits.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            let ok = rustix::thread::move_into_link_name_space(
                ns,
                Some(rustix::thread::LinkNameSpaceType::Mount),
            )
            .map_err(io::Error::from)
            .and_then(|()| f())
            .is_ok();
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            match nix::sys::wait::waitpid(child, None).map_err(io::Error::from)? {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                _ => Err(io::Error::other(
                    "could not detach the rootfs bind in the container's mount namespace",
                )),
            }
        }
    }
}
