//! `mounts[]`: each entry parsed into a plan in the parent (options checked there), then mounted
//! by the init with the fd-based mount API: the source is opened (open_tree) or created (fsopen/
//! fsmount), its flags set while still detached, and attached with move_mount onto a target fd
//! resolved inside the rootfs. No path is looked up twice, so nothing can be swapped in between.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    open_tree, FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags,
};

use super::resolve;
use crate::init::{Context, StepError};
use crate::sys::{self, attr};

/// How one mount option acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    /// Sets (true) or clears a MOUNT_ATTR_* flag; `rec` for every mount below too (runc's
    /// `rro`, `rnosuid`, ...).
    Flag {
        flag: u64,
        on: bool,
        rec: bool,
    },
    /// An access-time mode (one field in the kernel: setting one replaces the others).
    Atime {
        mode: u64,
        rec: bool,
    },
    /// A superblock flag passed to the filesystem (fsconfig flag name).
    Super(&'static str),
    Propagation(u64, bool),
    Bind(bool),
    /// Accepted and without effect here (`defaults`, `silent`, ...).
    Ignore,
}

fn lookup(o: &str) -> Option<Opt> {
    use Opt::*;
    match o {
        "bind" => return Some(Bind(false)),
        "rbind" => return Some(Bind(true)),
        "sync" => return Some(Super("sync")),
        "dirsync" => return Some(Super("dirsync")),
        "mand" => return Some(Super("mand")),
        "lazytime" => return Some(Super("lazytime")),
        "async" | "nomand" | "nolazytime" | "defaults" | "silent" | "loud" | "iversion"
        | "noiversion" | "remount" => return Some(Ignore),
        _ => {}
    }
    // `ro`, `rw` and `relatime` begin with an r of their own; other r-prefixed names are the
    // recursive forms.
    let (rec, name) = match o {
        "ro" | "rw" | "relatime" => (false, o),
        _ => match o.strip_prefix('r') {
            Some(n) => (true, n),
            None => (false, o),
        },
    };
    let flag = |flag, on| Some(Flag { flag, on, rec });
    match name {
        "ro" => flag(attr::RDONLY, true),
        "rw" => flag(attr::RDONLY, false),
        "nosuid" => flag(attr::NOSUID, true),
        "suid" => flag(attr::NOSUID, false),
        "nodev" => flag(attr::NODEV, true),
        "dev" => flag(attr::NODEV, false),
        "noexec" => flag(attr::NOEXEC, true),
        "exec" => flag(attr::NOEXEC, false),
        "nodiratime" => flag(attr::NODIRATIME, true),
        "diratime" => flag(attr::NODIRATIME, false),
        "nosymfollow" => flag(attr::NOSYMFOLLOW, true),
        "symfollow" => flag(attr::NOSYMFOLLOW, false),
        "noatime" => Some(Atime {
            mode: attr::NOATIME,
            rec,
        }),
        "strictatime" => Some(Atime {
            mode: attr::STRICTATIME,
            rec,
        }),
        "relatime" | "atime" | "norelatime" | "nostrictatime" => Some(Atime {
            mode: attr::RELATIME,
            rec,
        }),
        "private" => Some(Propagation(libc::MS_PRIVATE, rec)),
        "shared" => Some(Propagation(libc::MS_SHARED, rec)),
        "slave" => Some(Propagation(libc::MS_SLAVE, rec)),
        "unbindable" => Some(Propagation(libc::MS_UNBINDABLE, rec)),
        _ => None,
    }
}

/// One mount's options, sorted by how they are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub set: u64,
    pub clear: u64,
    pub rec_set: u64,
    pub rec_clear: u64,
    pub propagation: Vec<(u64, bool)>,
    pub bind: Option<bool>,
    pub super_flags: Vec<&'static str>,
    /// Filesystem-specific `key[=value]` options (`mode=755`, `size=64k`, `newinstance`).
    pub data: Vec<(String, Option<String>)>,
}

impl Options {
    fn sets(&mut self, rec: bool) -> (&mut u64, &mut u64) {
        if rec {
            (&mut self.rec_set, &mut self.rec_clear)
        } else {
            (&mut self.set, &mut self.clear)
        }
    }
}

/// Splits options the way runc reads them; later options override earlier ones.
pub fn parse_options(opts: &[String]) -> Options {
    let mut o = Options::default();
    for raw in opts {
        match lookup(raw) {
            Some(Opt::Flag { flag, on, rec }) => {
                let (set, clear) = o.sets(rec);
                if on {
                    *set |= flag;
                    *clear &= !flag;
                } else {
                    *set &= !flag;
                    *clear |= flag;
                }
            }
            Some(Opt::Atime { mode, rec }) => {
                let (set, clear) = o.sets(rec);
                *set = (*set & !attr::ATIME_MASK) | mode;
                *clear |= attr::ATIME_MASK;
            }
            Some(Opt::Super(f)) => o.super_flags.push(f),
            Some(Opt::Propagation(p, rec)) => o.propagation.push((p, rec)),
            Some(Opt::Bind(rec)) => o.bind = Some(rec || o.bind == Some(true)),
            Some(Opt::Ignore) => {}
            None => {
                let (k, v) = match raw.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (raw.clone(), None),
                };
                o.data.push((k, v));
            }
        }
    }
    o
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A bind mount of a host path (recursive for `rbind`).
    Bind { source: PathBuf, recursive: bool },
    /// A new filesystem instance of this type.
    Fs { fstype: String, source: String },
    /// `type: cgroup`: the container's view of its cgroups (see cgroupfs.rs).
    Cgroup,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub destination: PathBuf,
    pub kind: Kind,
    pub options: Options,
    /// For an idmapped bind: the fd of its source, detached and idmapped by the parent (see
    /// idmap), which the init inherits and attaches.
    pub idmapped: Option<i32>,
}

impl Mount {
    /// Plans a config mount. `bundle` anchors relative bind sources, as runc does.
    pub fn plan(m: &oci_spec::runtime::Mount, bundle: &Path) -> Result<Mount, String> {
        let options = parse_options(m.options().as_deref().unwrap_or_default());
        let fstype = m.typ().clone().unwrap_or_default();
        let source = m.source().clone().unwrap_or_default();
        let kind = if options.bind.is_some() || fstype == "bind" {
            if source.as_os_str().is_empty() {
                return Err("source: a bind mount needs a source".into());
            }
            Kind::Bind {
                source: bundle.join(&source),
                recursive: options.bind == Some(true),
            }
        } else if fstype == "cgroup" {
            Kind::Cgroup
        } else if fstype.is_empty() || fstype == "none" {
            return Err("type: needed unless options hold bind or rbind".into());
        } else {
            Kind::Fs {
                source: if source.as_os_str().is_empty() {
                    fstype.clone()
                } else {
                    source.to_string_lossy().into_owned()
                },
                fstype,
            }
        };
        Ok(Mount {
            destination: m.destination().clone(),
            kind,
            options,
            idmapped: None,
        })
    }
}

/// Mounts `m` inside the rootfs `root`.
pub fn apply(
    root: BorrowedFd<'_>,
    m: &Mount,
    cgroups: &super::cgroupfs::Sources,
) -> Result<(), StepError> {
    let dest = m.destination.display();
    match &m.kind {
        Kind::Bind { source, recursive } => {
            // SAFETY: the parent opened this fd for this mount before clone and keeps it
            // open until then; this process inherited it and closes none of its fds before.
            let premade = m.idmapped.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
            let is_dir = match premade {
                Some(fd) => rustix::fs::fstat(fd)
                    .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir())
                    .map_err(io::Error::from),
                None => std::fs::metadata(source)
                    .map(|md| md.is_dir())
                    .map_err(|e| crate::userns::explain_access(e, source)),
            }
            .step(|| format!("bind mount source {}", source.display()))?;
            let target = if is_dir {
                resolve::mkdir_all(root, &m.destination)
            } else {
                resolve::mkfile(root, &m.destination)
            }
            .step(|| format!("creating mount point {dest}"))?;
            let owned;
            let tree = match premade {
                Some(fd) => fd,
                None => {
                    owned = bind_tree(source, *recursive)
                        .step(|| format!("bind mount {} on {dest}", source.display()))?;
                    owned.as_fd()
                }
            };
            attach(tree, target.as_fd(), &m.options)
                .map_err(|e| crate::userns::explain_locked(e, source, &m.options))
                .step(|| format!("bind mount {} on {dest}", source.display()))
        }
        Kind::Fs { fstype, source } => {
            let target = resolve::mkdir_all(root, &m.destination)
                .step(|| format!("creating mount point {dest}"))?;
            let mut options = std::borrow::Cow::Borrowed(&m.options);
            let mnt = match new_fs(fstype, source, &m.options) {
                // In a user namespace that does not own the matching namespace (see userns).
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    crate::userns::host_instance(fstype, e).and_then(|host| {
                        // The host's mounts below come along, and get the flags too.
                        let o = options.to_mut();
                        o.rec_set |= o.set;
                        bind_tree(host, true)
                    })
                }
                r => r,
            }
            .step(|| format!("mount {fstype} on {dest}"))?;
            attach(mnt.as_fd(), target.as_fd(), &options)
                .step(|| format!("mount {fstype} on {dest}"))
        }
        Kind::Cgroup => super::cgroupfs::mount(root, m, cgroups),
    }
}

/// A detached copy of the mount tree at `source`.
pub fn bind_tree(source: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(open_tree(rustix::fs::CWD, source, flags)?)
}

/// A detached copy of the mount at `fd` (an O_PATH fd of a file or directory), without looking
/// its path up again.
pub fn bind_fd(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    Ok(open_tree(fd, "", flags)?)
}

/// A new, detached filesystem instance. The kernel's own message (from the fs context) is added
/// to the error when it has one.
pub fn new_fs(fstype: &str, source: &str, o: &Options) -> io::Result<OwnedFd> {
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    let configured = (|| -> rustix::io::Result<()> {
        fsconfig_set_string(fs.as_fd(), "source", source)?;
        for f in &o.super_flags {
            fsconfig_set_flag(fs.as_fd(), *f)?;
        }
        if o.set & attr::RDONLY != 0 {
            fsconfig_set_flag(fs.as_fd(), "ro")?;
        }
        for (k, v) in &o.data {
            match v {
                Some(v) => fsconfig_set_string(fs.as_fd(), k.as_str(), v.as_str())?,
                None => fsconfig_set_flag(fs.as_fd(), k.as_str())?,
            }
        }
        fsconfig_create(fs.as_fd())
    })();
    if let Err(e) = configured {
        return Err(with_fs_log(fs.as_fd(), e.into()));
    }
    let attrs = MountAttrFlags::from_bits_retain((o.set | o.rec_set) as u32);
    Ok(fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

fn with_fs_log(fs: BorrowedFd<'_>, e: io::Error) -> io::Error {
    let mut buf = [0u8; 512];
    match rustix::io::read(fs, &mut buf) {
        Ok(n) if n > 2 => {
            let msg = String::from_utf8_lossy(&buf[2..n]).trim().to_string();
            io::Error::new(e.kind(), format!("{e} ({msg})"))
        }
        _ => e,
    }
}

/// Sets the mount flags of the detached tree `mnt`, attaches it on `target`, then applies
/// propagation (which needs the mount attached).
pub fn attach(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>, o: &Options) -> io::Result<()> {
    if o.rec_set | o.rec_clear != 0 {
        sys::mount_setattr(mnt, true, o.rec_set, o.rec_clear, 0)?;
    }
    if o.set | o.clear != 0 {
        sys::mount_setattr(mnt, false, o.set, o.clear, 0)?;
    }
    move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    for &(p, rec) in &o.propagation {
        sys::mount_setattr(mnt, rec, 0, 0, p)?;
    }
    Ok(())
}

/// Opens directory `path` as an O_PATH fd (a root for the resolve functions, or an fchdir target).
pub fn reopen_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// A directory fd for the root of the mount `mnt` (an fsmount or open_tree fd).
pub fn reopen_dir_at(mnt: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        mnt,
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> Options {
        parse_options(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = p(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "newinstance",
            "rprivate",
            "ro",
        ]);
        assert_eq!(o.set, attr::NOSUID | attr::NOEXEC | attr::RDONLY);
        assert_eq!(o.propagation, vec![(libc::MS_PRIVATE, true)]);
        assert_eq!(
            o.data,
            vec![
                ("mode".into(), Some("755".into())),
                ("size".into(), Some("65536k".into())),
                ("newinstance".into(), None)
            ]
        );
        assert_eq!(o.bind, None);
    }

    #[test]
    fn later_option_wins_and_rw_clears() {
        let o = p(&["ro", "rw"]);
        assert_eq!(o.set & attr::RDONLY, 0);
        assert_ne!(o.clear & attr::RDONLY, 0);
        let o = p(&["rw", "ro"]);
        assert_ne!(o.set & attr::RDONLY, 0);
        assert_eq!(o.clear & attr::RDONLY, 0);
    }

    #[test]
    fn bind_rbind_and_recursive_flags() {
        assert_eq!(p(&["bind"]).bind, Some(false));
        assert_eq!(p(&["rbind"]).bind, Some(true));
        assert_eq!(p(&["bind", "rbind"]).bind, Some(true));
        let o = p(&["rro", "rnosuid"]);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOSUID);
        assert_eq!(o.set, 0);
    }

    #[test]
    fn atime_modes_replace_each_other() {
        let o = p(&["noatime", "strictatime"]);
        assert_eq!(o.set & attr::ATIME_MASK, attr::STRICTATIME);
        assert_ne!(o.clear & attr::ATIME_MASK, 0);
        let o = p(&["relatime"]);
        assert_eq!(o.set & attr::ATIME_MASK, attr::RELATIME);
    }

    #[test]
    fn superblock_flags() {
        assert_eq!(p(&["sync", "dirsync"]).super_flags, vec!["sync", "dirsync"]);
        assert!(p(&["defaults", "silent"]).data.is_empty());
    }
}
