//! Paths inside the container's rootfs, resolved as the container will see them: with openat2
//! RESOLVE_IN_ROOT, so a symlink in the rootfs (absolute or full of `..`) can never lead a mount or
//! a device node out onto the host (CVE-2021-30465 class). Missing directories are created one
//! level at a time under fds that were themselves resolved in the root.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `/a/./b/../c` → `a/c`: relative to the root, with `..` unable to climb above it.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Opens `path` inside `root` as an O_PATH fd.
pub fn open(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    let rel = clean(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    Ok(rfs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )?)
}

/// Opens directory `path` inside `root`, creating it and its missing parents (mode 0755).
/// A dangling symlink on the way is followed inside the root, and its target created there.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    mkdir_all_depth(root, &clean(path), 0)
}

fn mkdir_all_depth(root: BorrowedFd<'_>, rel: &Path, depth: u32) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open(root, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        r => return r,
    }
    let (parent, name) = split(rel)?;
    let parent_fd = mkdir_all_depth(root, parent, depth + 1)?;
    match rfs::mkdirat(parent_fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
        Ok(()) => open_child(parent_fd.as_fd(), name, OFlags::DIRECTORY),
        Err(Errno::EXIST) => {
            // A dangling symlink: create what it points to, as seen from inside the root.
            let target = rfs::readlinkat(parent_fd.as_fd(), name, Vec::new())?;
            let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
            let next = if target.is_absolute() {
                clean(target)
            } else {
                clean(&Path::new("/").join(parent).join(target))
            };
            mkdir_all_depth(root, &next, depth + 1)
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens file `path` inside `root`, creating an empty file (and missing parents) if needed: the
/// target of a file bind mount.
pub fn mkfile(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    let rel = clean(path);
    match open(root, &rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        r => return r,
    }
    let (parent, name) = split(&rel)?;
    let parent_fd = mkdir_all(root, parent)?;
    let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rfs::openat(
        parent_fd.as_fd(),
        name,
        flags,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    open_child(parent_fd.as_fd(), name, OFlags::empty())
}

/// The parent directory of `path` inside `root` (created if missing) and the last component.
pub fn parent(root: BorrowedFd<'_>, path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let rel = clean(path);
    let (parent, name) = split(&rel)?;
    Ok((mkdir_all(root, parent)?, PathBuf::from(name)))
}

/// A child we just created: it must not have been swapped for a symlink meanwhile.
fn open_child(dir: BorrowedFd<'_>, name: &std::ffi::OsStr, extra: OFlags) -> io::Result<OwnedFd> {
    Ok(rfs::openat2(
        dir,
        name,
        OFlags::PATH | OFlags::CLOEXEC | extra,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH,
    )?)
}

fn split(rel: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// The symlink (and its target) through which `dest` would climb above the rootfs with `..`,
/// read on the host before clone to refuse such a config with a clear error. No real image
/// needs that; absolute links (`/var/run -> /run`) are the image's own view and stay allowed.
/// The init's RESOLVE_IN_ROOT resolution remains the boundary that holds under races.
pub fn escaping_symlink(rootfs: &Path, dest: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut todo: Vec<(std::ffi::OsString, Option<(PathBuf, PathBuf)>)> = clean(dest)
        .components()
        .rev()
        .map(|c| (c.as_os_str().to_owned(), None))
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some((comp, via)) = todo.pop() {
        if comp == ".." {
            if !cur.pop() && via.is_some() {
                return via;
            }
            continue;
        }
        if comp == "." {
            continue;
        }
        cur.push(&comp);
        let Ok(target) = std::fs::read_link(rootfs.join(&cur)) else {
            continue;
        };
        links += 1;
        if links > 40 {
            return None;
        }
        let link = Path::new("/").join(&cur);
        cur.pop();
        if target.is_absolute() {
            cur = PathBuf::new();
        }
        let by = Some((link, target.clone()));
        for c in target.components().rev() {
            if let Component::Normal(_) | Component::ParentDir = c {
                todo.push((c.as_os_str().to_owned(), by.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_cannot_climb() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(clean(Path::new("/")), PathBuf::new());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(host.path(), root.path().join("abs")).unwrap();
        symlink("../../../../..", root.path().join("up")).unwrap();
        let rootfd =
            rfs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        mkdir_all(rootfd.as_fd(), Path::new("/abs/made")).unwrap();
        mkdir_all(rootfd.as_fd(), Path::new("/up/tmp/x")).unwrap();
        mkfile(rootfd.as_fd(), Path::new("/up/f")).unwrap();
        // Nothing landed on the "host" side; everything is inside the root.
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
        let inside = root
            .path()
            .join(host.path().strip_prefix("/").unwrap())
            .join("made");
        assert!(inside.is_dir());
        assert!(root.path().join("tmp/x").is_dir());
        assert!(root.path().join("f").is_file());
    }

    #[test]
    fn dotdot_escapes_are_found_absolute_links_are_not() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        symlink("../../../../etc", r.join("a/b/up")).unwrap();
        symlink("/run", r.join("varrun")).unwrap();
        symlink("../a", r.join("a/b/side")).unwrap();
        let (link, target) = escaping_symlink(r, Path::new("/a/b/up/x")).unwrap();
        assert_eq!(link, PathBuf::from("/a/b/up"));
        assert_eq!(target, PathBuf::from("../../../../etc"));
        assert_eq!(escaping_symlink(r, Path::new("/varrun/x")), None);
        assert_eq!(escaping_symlink(r, Path::new("/a/b/side/b")), None);
        assert_eq!(escaping_symlink(r, Path::new("/missing/dir")), None);
    }
}
