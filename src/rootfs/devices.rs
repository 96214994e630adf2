//! `/dev`: the default devices every container gets (null zero full random urandom tty, the
//! /dev/fd and std* links, ptmx) and `linux.devices`, created as nodes inside the rootfs (in a
//! user namespace, bind-mounted from the host: see `bind_from_host`).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxDeviceType;
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::resolve;
use crate::init::{Context, StepError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Device {
    pub fn plan(d: &oci_spec::runtime::LinuxDevice) -> Result<Device, String> {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => return Err("type: \"a\" is only valid in cgroup rules".into()),
        };
        if !d.path().is_absolute() {
            return Err("path: must be absolute".into());
        }
        let num =
            |v: i64, what: &str| u32::try_from(v).map_err(|_| format!("{what}: out of range"));
        Ok(Device {
            path: d.path().clone(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }
}

/// The devices runc gives every container whose /dev is not bound from the host.
pub fn defaults() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Device {
        path: Path::new("/dev").join(name),
        kind: FileType::CharacterDevice,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Creates `d` inside the rootfs, replacing whatever the image had at that path.
pub fn create(root: BorrowedFd<'_>, d: &Device) -> Result<(), StepError> {
    if d.kind != FileType::Fifo && crate::userns::active() {
        return bind_from_host(root, d);
    }
    let what = || format!("creating device {}", d.path.display());
    let (dir, name) = resolve::parent(root, &d.path).step(what)?;
    let dev = rfs::makedev(d.major, d.minor);
    let mode = Mode::from_bits_truncate(d.mode);
    let mut made = rfs::mknodat(dir.as_fd(), &name, d.kind, mode, dev);
    if made == Err(Errno::EXIST) {
        rfs::unlinkat(dir.as_fd(), &name, AtFlags::empty()).step(what)?;
        made = rfs::mknodat(dir.as_fd(), &name, d.kind, mode, dev);
    }
    made.step(what)?;
    let flags = AtFlags::SYMLINK_NOFOLLOW;
    rfs::chownat(
        dir.as_fd(),
        &name,
        Some(Uid::from_raw(d.uid)),
        Some(Gid::from_raw(d.gid)),
        flags,
    )
    .step(what)
    // No chmod: the init runs with umask 0, so mknod's mode is already exact, and a chmod by
    // path would follow a symlink swapped in meanwhile.
}

/// In a user namespace the kernel refuses mknod of a device: the host's node at the same path is
/// bind-mounted onto an empty file instead, as runc does. It keeps the host's owner and mode
/// (chowning it would change the host's node); it is checked to be the device asked for.
fn bind_from_host(root: BorrowedFd<'_>, d: &Device) -> Result<(), StepError> {
    use rustix::mount::{open_tree, OpenTreeFlags};
    let what = || {
        format!(
            "creating device {} (bound from the host's, in a user namespace)",
            d.path.display()
        )
    };
    // Still the host's /dev: this runs before pivot_root.
    let source = open_tree(
        rfs::CWD,
        &d.path,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_SYMLINK_NOFOLLOW,
    )
    .step(what)?;
    let st = rfs::fstat(source.as_fd()).step(what)?;
    if FileType::from_raw_mode(st.st_mode) != d.kind
        || (rfs::major(st.st_rdev), rfs::minor(st.st_rdev)) != (d.major, d.minor)
    {
        return Err(StepError::msg(format!(
            "{}: the host's {} is not the device {}:{} asked for",
            what(),
            d.path.display(),
            d.major,
            d.minor
        )));
    }
    let (dir, name) = resolve::parent(root, &d.path).step(what)?;
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut made = rfs::openat(dir.as_fd(), &name, flags, Mode::empty());
    if matches!(made, Err(Errno::EXIST)) {
        rfs::unlinkat(dir.as_fd(), &name, AtFlags::empty()).step(what)?;
        made = rfs::openat(dir.as_fd(), &name, flags, Mode::empty());
    }
    drop(made.step(what)?);
    let target = rfs::openat2(
        dir.as_fd(),
        &name,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        rfs::ResolveFlags::NO_SYMLINKS | rfs::ResolveFlags::BENEATH,
    )
    .step(what)?;
    super::mounts::attach(source.as_fd(), target.as_fd(), &Default::default()).step(what)
}

/// The links a program expects in /dev.
pub fn create_links(root: BorrowedFd<'_>) -> Result<(), StepError> {
    let dev = resolve::mkdir_all(root, Path::new("/dev")).step(|| "opening /dev".into())?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        // As runc: a link to kcore only where the kernel has one.
        if name == "core" && !Path::new("/proc/kcore").exists() {
            continue;
        }
        let what = || format!("creating /dev/{name}");
        match rfs::symlinkat(target, dev.as_fd(), name) {
            Err(Errno::EXIST) => {
                // ptmx must lead to this container's devpts instance, whatever the image had.
                if name == "ptmx" {
                    rfs::unlinkat(dev.as_fd(), name, AtFlags::empty()).step(what)?;
                    rfs::symlinkat(target, dev.as_fd(), name).step(what)?;
                }
            }
            r => r.step(what)?,
        }
    }
    Ok(())
}
