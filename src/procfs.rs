//! Writes to procfs files (sysctls, `oom_score_adj`, LSM attributes) that a container cannot
//! redirect (CVE-2025-52881 class). A container's config or image can mount anything over a
//! path under its /proc (a file of its own, or another procfs file such as a host's
//! /proc/<pid>/...), so checking that the opened file is on procfs is not enough. Every write
//! goes through a `ProcFs` handle:
//!
//! - in the init, a private procfs instance (fsopen/fsmount) that is attached nowhere, so nothing
//!   can be mounted over any of its files;
//! - in `create`, the host's /proc (the caller's mount namespace, which no container reaches);
//!
//! and each file is opened beneath it with openat2 without crossing a mount, following a
//! symlink or a magic link, then checked to be on procfs.
//!
//! Also `read`: the host's own /proc files (mountinfo, cgroup, stat) in few syscalls.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstatfs, Mode, OFlags, ResolveFlags};
use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags};

pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The root of a procfs instance.
pub struct ProcFs(OwnedFd);

impl ProcFs {
    /// `/proc` of the calling process's mount namespace (berth's own, on the host).
    pub fn mounted() -> io::Result<ProcFs> {
        let fd = rustix::fs::open(
            "/proc",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        check(&fd, Path::new("/proc"))?;
        Ok(ProcFs(fd))
    }

    /// A new procfs instance for the caller's pid namespace, mounted nowhere. Needs
    /// CAP_SYS_ADMIN (the init has it until it drops to the container's capabilities).
    pub fn private() -> io::Result<ProcFs> {
        let fs = fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC)?;
        fsconfig_create(fs.as_fd())?;
        let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC;
        let mnt = fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
        check(&mnt, Path::new("proc"))?;
        Ok(ProcFs(mnt))
    }

    /// Opens `rel` (e.g. `sys/net/ipv4/ip_forward`) beneath this procfs, without crossing a mount
    /// or following any link, and checks the result is a procfs file.
    pub fn open(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let fd = rustix::fs::openat2(
            &self.0,
            rel,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_XDEV
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS,
        )?;
        check(&fd, rel)?;
        Ok(fd)
    }

    /// Writes `value` to `rel` in one write(2), as procfs files expect.
    pub fn write(&self, rel: &Path, value: &[u8]) -> io::Result<()> {
        let fd = self.open(rel, OFlags::WRONLY)?;
        let n = rustix::io::write(&fd, value)?;
        if n != value.len() {
            return Err(io::Error::other(format!(
                "short write to /proc/{}",
                rel.display()
            )));
        }
        Ok(())
    }
}

/// Reads a whole /proc file. procfs files report size 0, so std's read_to_string starts with a
/// 32-byte buffer and doubles it: eight reads for a 2 KiB mountinfo. This starts at 4 KiB.
pub fn read(path: impl AsRef<Path>) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    f.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn check(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    if fstatfs(fd)?.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(io::Error::other(format!(
            "{} is not on procfs",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_proc_refuses_links_and_other_filesystems() {
        let proc = ProcFs::mounted().unwrap();
        // `self` is a symlink: refused. A plain procfs file opens.
        assert!(proc.open(Path::new("self/stat"), OFlags::RDONLY).is_err());
        let me = std::process::id();
        proc.open(Path::new(&format!("{me}/stat")), OFlags::RDONLY)
            .unwrap();
        // Out of it, through a magic link, or up with `..`: refused.
        for bad in ["../etc/passwd", "/etc/passwd", "thread-self/stat"] {
            assert!(proc.open(Path::new(bad), OFlags::RDONLY).is_err(), "{bad}");
        }
        assert!(proc
            .open(Path::new(&format!("{me}/root/etc/passwd")), OFlags::RDONLY)
            .is_err());
    }

    #[test]
    fn private_instance_when_privileged() {
        let Ok(proc) = ProcFs::private() else {
            // Not root (or no CAP_SYS_ADMIN): nothing to test.
            return;
        };
        let me = std::process::id();
        let comm = proc
            .open(Path::new(&format!("{me}/comm")), OFlags::RDONLY)
            .unwrap();
        let mut buf = [0u8; 64];
        let n = rustix::io::read(&comm, &mut buf).unwrap();
        assert!(n > 0);
        proc.open(Path::new("sys/kernel/ostype"), OFlags::RDONLY)
            .unwrap();
    }
}
