//! A container's root filesystem: one overlay mount of the image's shared layer directories
//! with the container's own upper dir, plus what dock reads and makes inside it (the user
//! database, the command's executable, the working directory), always resolved with
//! `openat2(RESOLVE_IN_ROOT)` so an image's symlinks cannot reach the host.

use crate::dock::error::IoContext;
use crate::dock::{Error, Result};
use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{
    self as mnt, FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags,
};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Mounts the overlay at `target`: `lowers` top-most first.
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    match mount_new_api(lowers, upper, work, target) {
        Ok(()) => Ok(()),
        // Kernels before 6.8 have no "lowerdir+": one option string (limited to a page).
        Err(Errno::INVAL) | Err(Errno::NOSYS) => mount_legacy(lowers, upper, work, target),
        Err(e) => Err(Error::io("mounting the overlay at", target, e)),
    }
}

fn mount_new_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let fs = mnt::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in lowers {
        mnt::fsconfig_set_string(&fs, "lowerdir+", l)?;
    }
    mnt::fsconfig_set_string(&fs, "upperdir", upper)?;
    mnt::fsconfig_set_string(&fs, "workdir", work)?;
    mnt::fsconfig_create(&fs)?;
    let m = mnt::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
    mnt::move_mount(
        m.as_fd(),
        "",
        rfs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

fn mount_legacy(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let data =
        std::ffi::CString::new(data).map_err(|_| Error::new("a layer path holds a NUL byte"))?;
    mnt::mount(
        "overlay",
        target,
        "overlay",
        mnt::MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(|e| Error::io("mounting the overlay at", target, e))
}

/// Unmounts the container's rootfs if it is mounted.
pub fn unmount(target: &Path) -> Result<()> {
    // A plain unmount: a lazy one makes the rmdir of the mount point that follows wait
    // (hundreds of ms here) for the detached mount to go. Lazy only if it is still busy.
    let r = match mnt::unmount(target, UnmountFlags::NOFOLLOW) {
        Err(Errno::BUSY) => mnt::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW),
        r => r,
    };
    match r {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("unmounting", target, e)),
    }
}

/// Is anything mounted exactly at `path`?
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

fn open_in_root(root: &impl AsFd, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    rfs::openat2(
        root,
        path.trim_start_matches('/'),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Reads a small file of the container (`/etc/passwd`); missing → empty.
pub fn read_in_root(rootfs: &Path, path: &str) -> Result<String> {
    let root = File::open(rootfs).ctx("opening", rootfs)?;
    match open_in_root(&root, path, OFlags::RDONLY) {
        Ok(fd) => {
            let mut s = String::new();
            File::from(fd)
                .take(1 << 20)
                .read_to_string(&mut s)
                .ctx("reading", Path::new(path))?;
            Ok(s)
        }
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => Ok(String::new()),
        Err(e) => Err(Error::io("opening the container's", Path::new(path), e)),
    }
}

/// Makes the working directory (and its parents) inside the container, as docker does.
pub fn make_dirs_in_root(rootfs: &Path, path: &str) -> Result<()> {
    let root = File::open(rootfs).ctx("opening", rootfs)?;
    let mut prefix = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent = if prefix.is_empty() {
            ".".to_string()
        } else {
            prefix.clone()
        };
        prefix = if prefix.is_empty() {
            comp.to_string()
        } else {
            format!("{prefix}/{comp}")
        };
        match open_in_root(&root, &prefix, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(_) => continue,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io("the working directory", Path::new(path), e)),
        }
        let dir = open_in_root(&root, &parent, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| Error::io("the working directory", Path::new(path), e))?;
        match rfs::mkdirat(&dir, comp, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(Error::io(
                    "making the working directory",
                    Path::new(path),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// docker's copy-up: an empty volume mounted over a directory of the image starts with a
/// copy of that directory (owners, modes, links and xattrs kept, by `cp -a`).
pub fn copy_up(rootfs: &Path, dest: &str, volume_data: &Path) -> Result<()> {
    let empty = std::fs::read_dir(volume_data).is_ok_and(|mut d| d.next().is_none());
    if !empty {
        return Ok(());
    }
    let root = File::open(rootfs).ctx("opening", rootfs)?;
    let dir = match open_in_root(&root, dest, OFlags::PATH | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err(Error::io("the volume's mount point", Path::new(dest), e)),
    };
    // Where it really is, its symlinks resolved inside the rootfs.
    let real = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .ctx("resolving", Path::new(dest))?;
    if !real.starts_with(rootfs) {
        return Err(Error::new(format!(
            "{dest}: resolves outside the container's rootfs"
        )));
    }
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg("--")
        .arg(real.join("."))
        .arg(volume_data)
        .output()
        .map_err(|e| Error::new(format!("copying {dest} into its volume: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(format!(
            "copying {dest} into its volume: {}",
            msg.trim()
        )));
    }
    Ok(())
}

/// Whether the command can be run: found and executable in the container.
#[derive(Debug, PartialEq, Eq)]
pub enum Exec {
    Ok,
    /// Under a bind mount dock cannot see from here: left to the runtime.
    Unknown,
    NotFound,
    NotExecutable(&'static str),
}

/// Looks `cmd` up as the runtime will: a path as is, a name along the container's PATH.
pub fn check_executable(
    rootfs: &Path,
    cmd: &str,
    env: &[String],
    cwd: &str,
    binds: &[String],
) -> Exec {
    let Ok(root) = File::open(rootfs) else {
        return Exec::Unknown;
    };
    let under_bind = |p: &str| {
        binds
            .iter()
            .any(|b| p == b || p.starts_with(&format!("{}/", b.trim_end_matches('/'))))
    };
    let probe = |p: &str| -> Exec {
        if under_bind(p) {
            return Exec::Unknown;
        }
        match open_in_root(&root, p, OFlags::PATH) {
            Ok(fd) => match rfs::fstat(&fd) {
                Ok(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory => {
                    Exec::NotExecutable("is a directory")
                }
                Ok(st) if st.st_mode & 0o111 == 0 => Exec::NotExecutable("permission denied"),
                Ok(_) => Exec::Ok,
                Err(_) => Exec::Unknown,
            },
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => Exec::NotFound,
            Err(_) => Exec::Unknown,
        }
    };
    if cmd.contains('/') {
        let full = if cmd.starts_with('/') {
            cmd.to_string()
        } else {
            format!("{}/{cmd}", cwd.trim_end_matches('/'))
        };
        return probe(&full);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut seen_other = None;
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        match probe(&format!("{}/{cmd}", dir.trim_end_matches('/'))) {
            Exec::Ok => return Exec::Ok,
            Exec::NotFound => {}
            other => {
                seen_other.get_or_insert(other);
            }
        }
    }
    match seen_other {
        Some(Exec::Unknown) => Exec::Unknown,
        // A name found only as a non-executable file is "not found" along PATH, as runc says.
        _ => Exec::NotFound,
    }
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `-u user[:group]` against the container's /etc/passwd and /etc/group: (uid, gid, extra gids).
pub fn resolve_user(
    spec: &str,
    passwd: &str,
    group: &str,
) -> std::result::Result<(u32, u32, Vec<u32>), String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || grp == Some("") || grp.is_some_and(|g| g.contains(':')) {
        return Err(format!(
            "invalid user {spec:?}: expected USER[:GROUP] (names or numeric IDs)"
        ));
    }
    let entries = |text: &'_ str| -> Vec<Vec<String>> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(':').map(str::to_string).collect())
            .filter(|f: &Vec<String>| f.len() >= 3)
            .collect()
    };
    let users = entries(passwd);
    let groups = entries(group);
    let (uid, name, mut gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let e = users.iter().find(|e| e[2].parse() == Ok(uid));
            (
                uid,
                e.map(|e| e[0].clone()),
                e.and_then(|e| e.get(3)?.parse().ok()).unwrap_or(0),
            )
        }
        Err(_) => {
            let e = users.iter().find(|e| e[0] == user).ok_or_else(|| {
                format!("unable to find user {user}: no matching entries in passwd file")
            })?;
            let uid = e[2]
                .parse()
                .map_err(|_| format!("user {user}: bad uid in /etc/passwd"))?;
            (
                uid,
                Some(user.to_string()),
                e.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
            )
        }
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|e| e[0] == g)
                .and_then(|e| e[2].parse().ok())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut extra: Vec<u32> = match &name {
        Some(n) => groups
            .iter()
            .filter(|e| e.get(3).is_some_and(|m| m.split(',').any(|x| x == n)))
            .filter_map(|e| e[2].parse().ok())
            .collect(),
        None => Vec::new(),
    };
    extra.retain(|g| *g != gid);
    extra.sort_unstable();
    extra.dedup();
    Ok((uid, gid, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app,root\nstaff:x:50:app\napp:x:1000:\n";

    #[test]
    fn users_resolve_like_docker() {
        assert_eq!(
            resolve_user("root", PASSWD, GROUP).unwrap(),
            (0, 0, vec![10])
        );
        assert_eq!(
            resolve_user("app", PASSWD, GROUP).unwrap(),
            (1000, 1000, vec![10, 50])
        );
        assert_eq!(
            resolve_user("1000:50", PASSWD, GROUP).unwrap(),
            (1000, 50, vec![10])
        );
        assert_eq!(
            resolve_user("4242", PASSWD, GROUP).unwrap(),
            (4242, 0, vec![])
        );
        assert_eq!(
            resolve_user("nobody:wheel", PASSWD, GROUP).unwrap(),
            (65534, 10, vec![])
        );
        assert_eq!(resolve_user("7:8", "", "").unwrap(), (7, 8, vec![]));
    }

    #[test]
    fn bad_users_are_refused() {
        for bad in ["", ":", "a:", ":b", "a:b:c", "nosuch", "root:nosuch"] {
            assert!(resolve_user(bad, PASSWD, GROUP).is_err(), "{bad:?}");
        }
    }
}
