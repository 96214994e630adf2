//! /dev/console: the init's pty slave is bind-mounted there, so programs that write to the
//! console reach the container's terminal.
//!
//! CVE-2025-52565 class: the mount must land on /dev/console itself. The target is opened with
//! no symlink followed (a `/dev/console -> /proc/sys/...` link in a hostile image is refused,
//! not followed), checked to be a plain file or character device not on procfs or sysfs, and the
//! mount is attached to that very fd (move_mount), so nothing can be swapped in between.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{fstat, fstatfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{open_tree, OpenTreeFlags};

use crate::init::{Context, StepError};
use crate::procfs::PROC_SUPER_MAGIC;
use crate::rootfs::{mounts, resolve};

const SYSFS_MAGIC: i64 = 0x6265_6572;

/// Bind-mounts `slave` on the container's /dev/console. Runs in the init after pivot_root.
pub fn mount(slave: BorrowedFd<'_>) -> Result<(), StepError> {
    let what = || "mounting the terminal on /dev/console".to_string();
    let root = mounts::reopen_dir(Path::new("/")).step(what)?;
    let dev = resolve::mkdir_all(root.as_fd(), Path::new("/dev")).step(what)?;
    // An empty file to mount on, unless the image has something there already.
    match rustix::fs::openat(
        &dev,
        "console",
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e).step(what),
    }
    let target = match rustix::fs::openat2(
        &dev,
        "console",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH,
    ) {
        Err(Errno::LOOP) => return Err(refused("it is a symlink")),
        r => r.step(what)?,
    };
    let st = fstat(&target).step(what)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile | FileType::CharacterDevice => {}
        FileType::Symlink => return Err(refused("it is a symlink")),
        other => return Err(refused(&format!("it is a {other:?}, not a file or device"))),
    }
    let fs = fstatfs(&target).step(what)?.f_type as i64;
    if fs == PROC_SUPER_MAGIC || fs == SYSFS_MAGIC {
        return Err(refused("it is a file of procfs or sysfs"));
    }
    let tree = open_tree(
        slave,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .step(what)?;
    mounts::attach(tree.as_fd(), target.as_fd(), &mounts::Options::default()).step(what)
}

fn refused(why: &str) -> StepError {
    StepError::msg(format!(
        "refusing to mount the terminal on /dev/console: {why}"
    ))
}
