//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root, on paths resolved in
//! the container's root.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{fstat, FileType};

use super::{mounts, resolve};
use crate::init::{Context, StepError};
use crate::sys::attr;

/// Hides `path`: a directory under an empty read-only tmpfs, a file under the container's
/// /dev/null (checked to be the real 1:3 character device first).
pub fn mask(root: BorrowedFd<'_>, path: &Path, label: Option<&str>) -> Result<(), StepError> {
    let what = || format!("masking {}", path.display());
    let target = match resolve::open(root, path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        r => r.step(what)?,
    };
    let st = fstat(target.as_fd()).step(what)?;
    // Flags as runc sets them, so the container sees the same mount table.
    let ro = mounts::Options {
        set: attr::RDONLY,
        data: label
            .and_then(|l| crate::lsm::mount_label_option("tmpfs", l))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let mnt = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        mounts::new_fs("tmpfs", "tmpfs", &ro).step(what)?
    } else {
        let null = resolve::open(root, Path::new("/dev/null")).step(what)?;
        let st = fstat(null.as_fd()).step(what)?;
        let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
            && rustix::fs::major(st.st_rdev) == 1
            && rustix::fs::minor(st.st_rdev) == 3;
        if !is_null {
            return Err(StepError::msg(format!(
                "masking {}: /dev/null in the container is not the null device",
                path.display()
            )));
        }
        // The device just checked, by its fd: the path could be swapped meanwhile.
        mounts::bind_fd(null.as_fd()).step(what)?
    };
    let bind_ro = mounts::Options::default();
    mounts::attach(mnt.as_fd(), target.as_fd(), &bind_ro).step(what)
}

/// Makes `path` (and every mount below it) read-only.
pub fn readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), StepError> {
    let what = || format!("making {} read-only", path.display());
    let target = match resolve::open(root, path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        r => r.step(what)?,
    };
    let tree = rustix::mount::open_tree(
        target.as_fd(),
        "",
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
            | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC
            | rustix::mount::OpenTreeFlags::AT_RECURSIVE
            | rustix::mount::OpenTreeFlags::AT_EMPTY_PATH,
    )
    .step(what)?;
    let ro = mounts::Options {
        rec_set: attr::RDONLY,
        ..Default::default()
    };
    mounts::attach(tree.as_fd(), target.as_fd(), &ro).step(what)
}
