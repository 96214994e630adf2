//! The container's cgroup: created before the init is cloned, joined by the init, used by `kill
//! --all` and `delete` to reach every process, and removed with the container.
//!
//! berth writes the cgroup filesystem itself (see ../shared/crates.md: no crate covers v1, v2 and
//! hybrid hosts without an async D-Bus stack). Resource limits are applied by a later layer.

pub mod devices;
pub mod hierarchy;
mod v1;

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use hierarchy::{Hierarchy, Mode};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups: reading the host's cgroup mounts: {0}")]
    Detect(io::Error),
    #[error("cgroups: no cgroup hierarchy is mounted on this host")]
    NoHierarchy,
    #[error("cgroups: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The container's directory in one hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dir {
    /// "memory", "cpu,cpuacct", "name=systemd" or "unified".
    pub hierarchy: String,
    /// The host path of the container's cgroup in this hierarchy.
    pub path: PathBuf,
    /// The cgroup path as the hierarchy's root sees it (what /proc/<pid>/cgroup shows).
    pub cgroup: PathBuf,
    /// Directories berth created for it, deepest last; removed again with the container.
    pub created: Vec<PathBuf>,
}

/// The container's cgroup across every hierarchy of the host.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    pub dirs: Vec<Dir>,
}

impl Cgroup {
    /// Creates the container's cgroup in every hierarchy (from `hierarchy::detect`), following
    /// runc's cgroupfs rules
    /// for `linux.cgroupsPath`. On failure, whatever was created is removed again.
    pub fn create(
        hierarchies: &[Hierarchy],
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<Cgroup, CgroupError> {
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut cg = Cgroup::default();
        for h in hierarchies {
            let cgroup = hierarchy::container_path(h, cgroups_path, id, &own);
            let path = h.dir(&cgroup);
            let mut dir = Dir {
                hierarchy: h.name(),
                path,
                cgroup,
                created: Vec::new(),
            };
            let made = mkdir_all(&dir.path, &mut dir.created);
            let cpuset_ok = if h.controllers.iter().any(|c| c == "cpuset") {
                v1::init_cpuset(&h.mountpoint, &dir.path)
            } else {
                Ok(())
            };
            cg.dirs.push(dir);
            if let Err(e) = made.and(cpuset_ok) {
                let _ = cg.remove();
                return Err(e);
            }
        }
        Ok(cg)
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn join(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for d in &self.dirs {
            let procs = d.path.join("cgroup.procs");
            fs::write(&procs, &pid).map_err(io_err("adding the init to", &procs))?;
        }
        Ok(())
    }

    /// Every process in the container's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(d) = self.dirs.first() else {
            return Vec::new();
        };
        fs::read_to_string(d.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether the freezer holds the container frozen (`paused`).
    pub fn frozen(&self) -> bool {
        self.dirs.iter().any(|d| {
            let v1 = d.hierarchy == "freezer"
                && fs::read_to_string(d.path.join("freezer.state"))
                    .is_ok_and(|s| s.trim() == "FROZEN");
            let v2 = d.hierarchy == "unified"
                && fs::read_to_string(d.path.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
            v1 || v2
        })
    }

    /// Removes the container's cgroup, and the parents berth created for it if they are empty.
    /// A cgroup whose last process just died can stay busy for a moment, so removal is retried.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in &self.dirs {
            let mut dirs: Vec<&PathBuf> = d.created.iter().collect();
            if !d.created.contains(&d.path) {
                dirs.insert(0, &d.path);
            }
            for (i, dir) in dirs.iter().rev().enumerate() {
                let leaf = i == 0;
                if let Err(e) = rmdir_retry(dir, leaf) {
                    if leaf && first_err.is_none() {
                        first_err = Some(io_err("removing", dir)(e));
                    }
                    break;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// `mkdir -p`, recording each directory it created (parents first). A parent that another
/// container's delete removes meanwhile (it removes the empty parents it made) is made again.
fn mkdir_all(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    for attempt in 0..3 {
        if path.is_dir() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            mkdir_all(parent, created)?;
        }
        match fs::create_dir(path) {
            Ok(()) => {
                created.push(path.to_path_buf());
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && attempt < 2 => continue,
            Err(e) => return Err(io_err("creating", path)(e)),
        }
    }
    Ok(())
}

fn rmdir_retry(dir: &Path, leaf: bool) -> io::Result<()> {
    // Only the container's own cgroup is worth waiting for; a shared parent that is busy belongs
    // to someone else now.
    let tries = if leaf { 100 } else { 1 };
    for i in 0..tries {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i + 1 < tries => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
