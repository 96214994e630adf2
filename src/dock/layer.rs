//! The layer extractor: a layer tarball becomes a directory that overlayfs can stack.
//!
//! Written here rather than using tar-rs's `unpack_in`, which is not a safe layer extractor
//! (tar-rs #129, #123): every entry's parent is opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` from the layer's directory fd, the final component is never
//! followed, and an entry that would land outside (`..`, an absolute path, a symlink or a
//! hardlink leading out) refuses the whole layer. OCI whiteouts become overlay whiteouts
//! (`.wh.NAME` → a 0:0 character device, `.wh..wh..opq` → `trusted.overlay.opaque=y`);
//! owners, modes, mtimes, xattrs, hardlinks, device nodes and fifos are kept.

use crate::dock::{Error, Result};
use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Wraps a layer stream in the decompressor its first bytes call for (gzip, zstd, or none).
pub fn decompress<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let head = buf
        .fill_buf()
        .map_err(|e| Error::new(format!("reading the layer: {e}")))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buf))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = zstd::stream::read::Decoder::with_buffer(buf)
            .map_err(|e| Error::new(format!("reading a zstd layer: {e}")))?;
        Box::new(z)
    } else {
        Box::new(buf)
    })
}

/// An entry's path, cleaned: no empty or `.` components; `..` and absolute paths refused.
pub fn clean_path(raw: &[u8]) -> std::result::Result<Vec<&OsStr>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("an absolute path");
    }
    let mut parts = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("a '..' component"),
            c => parts.push(OsStr::from_bytes(c)),
        }
    }
    Ok(parts)
}

/// Unpacks the tar stream `reader` into the empty directory `dest`.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<()> {
    let root = File::open(dest).map_err(|e| Error::io("opening", dest, e))?;
    let mut ar = tar::Archive::new(reader);
    let mut x = Extractor {
        root: root.into(),
        dirs: Vec::new(),
        cached: None,
    };
    let entries = ar.entries().map_err(bad_tar)?;
    for entry in entries {
        let mut entry = entry.map_err(bad_tar)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        x.entry(&mut entry, &raw)
            .map_err(|e| Error::new(format!("layer entry {shown:?}: {e}")))?;
    }
    // Directory mtimes last: creating their children changed them. A later entry may have
    // replaced a parent with a symlink: resolve beneath the root without following any.
    for (path, mtime) in x.dirs.iter().rev() {
        if let Ok(d) = rfs::openat2(
            &x.root,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        ) {
            let _ = rfs::futimens(&d, &timestamps(*mtime));
        }
    }
    Ok(())
}

fn bad_tar(e: io::Error) -> Error {
    Error::new(format!("not a valid layer tarball: {e}"))
}

struct Extractor {
    root: OwnedFd,
    /// Directories made (path relative to the root, mtime), to stamp at the end.
    dirs: Vec<(OsString, u64)>,
    /// The last parent opened: entries come grouped by directory.
    cached: Option<(OsString, OwnedFd)>,
}

/// What the PAX headers of an entry add: xattrs and owners too large for ustar.
#[derive(Default)]
struct Pax {
    xattrs: Vec<(String, Vec<u8>)>,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn pax_of<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<Pax> {
    let mut pax = Pax::default();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                pax.xattrs
                    .push((name.to_string(), ext.value_bytes().to_vec()));
            } else if key == "uid" {
                pax.uid = ext.value().ok().and_then(|v| v.parse().ok());
            } else if key == "gid" {
                pax.gid = ext.value().ok().and_then(|v| v.parse().ok());
            }
        }
    }
    Ok(pax)
}

type StepResult = std::result::Result<(), String>;

fn errno(what: &str) -> impl Fn(Errno) -> String + '_ {
    move |e| match e {
        Errno::XDEV => "resolves outside the layer (through a symlink)".to_string(),
        Errno::LOOP => "resolves through too many or disallowed symlinks".to_string(),
        Errno::NOTDIR => "a parent is not a directory".to_string(),
        e => format!("{what}: {e}"),
    }
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, raw: &[u8]) -> StepResult {
        let parts = clean_path(raw).map_err(|why| format!("refused: {why}"))?;
        let Some((name, parent)) = parts.split_last() else {
            return Ok(()); // the layer's root itself
        };
        let parent = join(parent);
        let name_bytes = name.as_bytes();
        if let Some(target) = name_bytes.strip_prefix(WHITEOUT.as_bytes()) {
            let dir = self.parent(&parent)?;
            if name_bytes == OPAQUE.as_bytes() {
                let d = open_dir_fd(&dir, ".")?;
                return rfs::fsetxattr(
                    &d,
                    "trusted.overlay.opaque",
                    b"y",
                    rfs::XattrFlags::empty(),
                )
                .map_err(errno("marking the directory opaque"));
            }
            if target.starts_with(WHITEOUT.as_bytes()) {
                return Ok(()); // AUFS bookkeeping (.wh..wh.plnk and the like)
            }
            let target = OsStr::from_bytes(target);
            if target.is_empty() || target == "." || target == ".." {
                return Err("refused: a whiteout without a name".into());
            }
            remove_existing(&dir, target)?;
            rfs::mknodat(&dir, target, FileType::CharacterDevice, Mode::empty(), 0)
                .map_err(errno("making the whiteout"))?;
            return Ok(());
        }
        let header = entry.header().clone();
        let pax = pax_of(entry).map_err(|e| format!("reading PAX headers: {e}"))?;
        let uid = pax
            .uid
            .or_else(|| header.uid().ok().and_then(|u| u32::try_from(u).ok()));
        let gid = pax
            .gid
            .or_else(|| header.gid().ok().and_then(|g| u32::try_from(g).ok()));
        let (uid, gid) = (uid.unwrap_or(0), gid.unwrap_or(0));
        let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
        let mtime = header.mtime().unwrap_or(0);
        let dir = self.parent(&parent)?;
        let kind = header.entry_type();
        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(&dir, name)?;
                let fd = rfs::openat(
                    &dir,
                    *name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(errno("creating the file"))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| format!("writing the file: {e}"))?;
                finish_fd(&file, uid, gid, mode, &pax.xattrs)?;
                rfs::futimens(&file, &timestamps(mtime)).map_err(errno("setting mtime"))?;
            }
            T::Directory => {
                match rfs::statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        remove_existing(&dir, name)?;
                        mkdir(&dir, name)?;
                    }
                    Err(Errno::NOENT) => mkdir(&dir, name)?,
                    Err(e) => return Err(errno("inspecting")(e)),
                }
                let d = open_dir_fd(&dir, *name)?;
                finish_fd(&d, uid, gid, mode, &pax.xattrs)?;
                self.dirs.push((join(&parts), mtime));
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or("a symlink without a target")?
                    .into_owned();
                remove_existing(&dir, name)?;
                rfs::symlinkat(OsStr::from_bytes(&target), &dir, *name)
                    .map_err(errno("making the symlink"))?;
                chown_at(&dir, name, uid, gid)?;
                finish_at(&dir, name, &pax.xattrs, mtime)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or("a hardlink without a target")?
                    .into_owned();
                let tparts = clean_path(&target)
                    .map_err(|why| format!("refused: the hardlink target is {why}"))?;
                let Some((tname, tparent)) = tparts.split_last() else {
                    return Err("refused: a hardlink to the layer's root".into());
                };
                let tdir = self.open_existing(&join(tparent))?;
                remove_existing(&dir, name)?;
                rfs::linkat(&tdir, *tname, &dir, *name, AtFlags::empty()).map_err(errno(
                    "making the hardlink (its target must come earlier in the layer)",
                ))?;
            }
            T::Char | T::Block | T::Fifo => {
                let ft = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                remove_existing(&dir, name)?;
                rfs::mknodat(&dir, *name, ft, mode, rfs::makedev(major, minor))
                    .map_err(errno("making the device node"))?;
                chown_at(&dir, name, uid, gid)?;
                // mknod applied the umask; chmod through an O_PATH fd of the node we made.
                let fd = rfs::openat(
                    &dir,
                    *name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno("opening the node"))?;
                let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
                rfs::chmod(proc.as_str(), mode).map_err(errno("chmod"))?;
                finish_at(&dir, name, &pax.xattrs, mtime)?;
            }
            // PAX/GNU long-name headers are consumed by the tar reader; nothing else has
            // a meaning in a layer.
            _ => {}
        }
        Ok(())
    }

    /// The parent directory of an entry, made (0755, root) where missing.
    fn parent(&mut self, rel: &OsStr) -> std::result::Result<OwnedFd, String> {
        if let Some((p, fd)) = &self.cached {
            if p == rel {
                return fd.try_clone().map_err(|e| e.to_string());
            }
        }
        let mut cur = self.root.try_clone().map_err(|e| e.to_string())?;
        for comp in Path::new(rel).iter() {
            let next = match open_beneath(&cur, comp) {
                Err(Errno::NOENT) => {
                    mkdir(&cur, comp)?;
                    open_beneath(&cur, comp)
                }
                r => r,
            };
            cur = next.map_err(errno("opening a parent directory"))?;
        }
        self.cached = Some((
            rel.to_os_string(),
            cur.try_clone().map_err(|e| e.to_string())?,
        ));
        Ok(cur)
    }

    /// A directory that must already exist (a hardlink target's parent).
    fn open_existing(&self, rel: &OsStr) -> std::result::Result<OwnedFd, String> {
        if rel.is_empty() {
            return self.root.try_clone().map_err(|e| e.to_string());
        }
        open_beneath(&self.root, rel).map_err(errno("opening the hardlink target's directory"))
    }
}

fn open_beneath(dir: &impl AsFd, rel: &OsStr) -> rustix::io::Result<OwnedFd> {
    rfs::openat2(
        dir,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
}

fn open_dir_fd(
    dir: &impl AsFd,
    name: impl rustix::path::Arg,
) -> std::result::Result<OwnedFd, String> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno("opening the directory"))
}

fn mkdir(dir: &impl AsFd, name: &OsStr) -> std::result::Result<(), String> {
    match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(errno("making the directory")(e)),
    }
}

/// Makes room for a new entry: an earlier entry of the same name (file or tree) goes.
fn remove_existing(dir: &OwnedFd, name: &OsStr) -> std::result::Result<(), String> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {
            // The real path of a directory fd beneath our (private, single-writer) root;
            // remove_dir_all never follows symlinks inside the tree.
            let real = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
                .map_err(|e| e.to_string())?;
            std::fs::remove_dir_all(real.join(name))
                .map_err(|e| format!("replacing a directory: {e}"))
        }
        Err(e) => Err(errno("replacing")(e)),
    }
}

fn uid_of(u: u32) -> rfs::Uid {
    rfs::Uid::from_raw(u)
}

fn gid_of(g: u32) -> rfs::Gid {
    rfs::Gid::from_raw(g)
}

/// Owner, mode (after chown, which clears set-id bits) and xattrs of an open file or dir.
fn finish_fd(
    fd: &impl AsFd,
    uid: u32,
    gid: u32,
    mode: Mode,
    xattrs: &[(String, Vec<u8>)],
) -> StepResult {
    rfs::fchown(fd, Some(uid_of(uid)), Some(gid_of(gid))).map_err(errno("chown"))?;
    rfs::fchmod(fd, mode).map_err(errno("chmod"))?;
    for (k, v) in xattrs.iter().filter(|(k, _)| allowed_xattr(k)) {
        match rfs::fsetxattr(fd, k.as_str(), v, rfs::XattrFlags::empty()) {
            Ok(()) | Err(Errno::NOTSUP) => {}
            Err(e) => return Err(errno(&format!("setting xattr {k}"))(e)),
        }
    }
    Ok(())
}

/// Owner of an entry that cannot be opened for writing (a symlink, a device node).
fn chown_at(dir: &OwnedFd, name: &OsStr, uid: u32, gid: u32) -> StepResult {
    rfs::chownat(
        dir,
        name,
        Some(uid_of(uid)),
        Some(gid_of(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno("chown"))
}

/// xattrs and mtime of such an entry, set by name without following it.
fn finish_at(dir: &OwnedFd, name: &OsStr, xattrs: &[(String, Vec<u8>)], mtime: u64) -> StepResult {
    set_xattrs_at(dir, name, xattrs)?;
    let _ = rfs::utimensat(dir, name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW);
    Ok(())
}

fn set_xattrs_at(dir: &OwnedFd, name: &OsStr, xattrs: &[(String, Vec<u8>)]) -> StepResult {
    let path = Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    for (k, v) in xattrs.iter().filter(|(k, _)| allowed_xattr(k)) {
        match rfs::lsetxattr(&path, k.as_str(), v, rfs::XattrFlags::empty()) {
            Ok(()) | Err(Errno::NOTSUP) | Err(Errno::PERM) => {}
            Err(e) => return Err(errno(&format!("setting xattr {k}"))(e)),
        }
    }
    Ok(())
}

/// overlayfs's own xattrs (redirect, metacopy, opaque...) would let a layer steer the overlay
/// to other layers' files: only the whiteout mapping above may set them.
fn allowed_xattr(key: &str) -> bool {
    !key.starts_with("trusted.overlay.") && !key.starts_with("user.overlay.")
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn join(parts: &[&OsStr]) -> OsString {
    let mut s = OsString::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(p);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_escapes_refused() {
        let c = |p: &str| clean_path(p.as_bytes()).map(|v| join(&v).into_string().unwrap());
        assert_eq!(c("./a/b/").unwrap(), "a/b");
        assert_eq!(c("a//./b").unwrap(), "a/b");
        assert_eq!(c(".").unwrap(), "");
        assert!(c("../x").is_err());
        assert!(c("a/../../x").is_err());
        assert!(c("a/..").is_err());
        assert!(c("/etc/passwd").is_err());
    }

    #[test]
    fn overlay_xattrs_from_a_layer_are_dropped() {
        assert!(!allowed_xattr("trusted.overlay.redirect"));
        assert!(!allowed_xattr("trusted.overlay.opaque"));
        assert!(allowed_xattr("security.capability"));
        assert!(allowed_xattr("user.mime_type"));
    }
}
