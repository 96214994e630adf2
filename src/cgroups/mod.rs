//! The container's cgroup: planned before the init is cloned, its cgroup2 directory made then
//! (the init is cloned straight into it) and the v1 ones while the init makes its network
//! namespace; joined by the init itself (`join_self`), limited from `linux.resources`, frozen by
//! `pause`, read by `events` and `ps`, reached by `kill --all` and `delete`, and removed with the
//! container.
//!
//! berth writes the cgroup filesystem itself (see ../shared/crates.md: no crate covers v1, v2 and
//! hybrid hosts and the v2 device filter without an async D-Bus stack). The host's layout is
//! detected (hierarchy.rs), never assumed. One `Manager` interface has a v1 implementation (one
//! directory per mounted v1 hierarchy) and a v2 one; on a hybrid host both exist, and each
//! controller goes to v1 where it is mounted there, else to the v2 tree (hugetlb on this kind of
//! host, and v2's core files).
//!
//! Where each field lands: `v1::plan` and `v2::plan` turn `linux.resources` into each version's
//! files (resources.rs holds the shared parts and the conversions), devices.rs and ebpf.rs apply
//! `linux.resources.devices`, stats.rs reads what `events` prints, oom.rs watches for OOM kills.

pub mod devices;
pub mod ebpf;
pub mod hierarchy;
pub mod oom;
pub mod resources;
pub mod stats;
mod v1;
mod v2;

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use hierarchy::{Hierarchy, Mode};
use resources::{Action, Write};

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
    /// A limit the kernel refused: the field, the file, the value and the kernel's reason.
    #[error("{field}: writing {value:?} to {}: {source}{}", .file.display(), hint(.file, .source))]
    Limit {
        field: String,
        file: PathBuf,
        value: String,
        source: io::Error,
    },
    /// A field this host cannot apply.
    #[error("{field}: {why}")]
    Unsupported { field: String, why: String },
}

/// What the kernel's errno means for a cgroup file, where it is not obvious.
fn hint(file: &Path, e: &io::Error) -> &'static str {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match (e.raw_os_error(), name) {
        (Some(libc::ENOENT), _) => " (this kernel has no such cgroup file)",
        (Some(libc::EBUSY), _) => " (the cgroup's processes already use more)",
        (Some(libc::EINVAL), "memory.limit_in_bytes") => {
            " (it may not exceed memory+swap: raise linux.resources.memory.swap too)"
        }
        (Some(libc::EINVAL), "memory.memsw.limit_in_bytes") => {
            " (memory+swap may not be below the memory limit)"
        }
        _ => "",
    }
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
    /// Where the hierarchy is mounted (v2 enables controllers from there down).
    #[serde(default)]
    pub mountpoint: PathBuf,
}

impl Dir {
    /// The cgroup2 tree's directory (the whole cgroup on a cgroup2-only host).
    pub fn is_v2(&self) -> bool {
        self.hierarchy == "unified"
    }

    /// Whether this v1 hierarchy holds `controller` ("cpu" in "cpu,cpuacct").
    fn holds(&self, controller: &str) -> bool {
        !self.is_v2() && self.hierarchy.split(',').any(|c| c == controller)
    }
}

/// What berth does with the container's cgroup, once per cgroup version.
pub trait Manager {
    /// Whether this manager applies `controller` (v1's names: memory, cpu, cpuset, pids, blkio,
    /// hugetlb, net_cls, net_prio, rdma; plus freezer, devices, cpuacct, and v2's core `cgroup`).
    fn has(&self, controller: &str) -> bool;
    /// Writes limits (only ones whose controller this manager has), in order.
    fn apply(&self, writes: &[&Write]) -> Result<(), CgroupError>;
    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError>;
    fn frozen(&self) -> bool;
    /// Adds what this manager's controllers know to `s`.
    fn stats(&self, s: &mut stats::Stats);
}

/// The container's cgroup across every hierarchy of the host (saved in state.json).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    pub dirs: Vec<Dir>,
}

impl Cgroup {
    /// Where the container's cgroup is in every hierarchy, by runc's cgroupfs rules for
    /// `linux.cgroupsPath`; nothing is created yet (see `make`).
    pub fn plan(
        hierarchies: &[Hierarchy],
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<Cgroup, CgroupError> {
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        let own = crate::procfs::read("/proc/self/cgroup").unwrap_or_default();
        let dirs = hierarchies
            .iter()
            .map(|h| {
                let cgroup = hierarchy::container_path(h, cgroups_path, id, &own);
                Dir {
                    hierarchy: h.name(),
                    path: h.dir(&cgroup),
                    cgroup,
                    created: Vec::new(),
                    mountpoint: h.mountpoint.clone(),
                }
            })
            .collect();
        Ok(Cgroup { dirs })
    }

    /// Creates the directories (and missing parents) of the hierarchies `which` selects, with
    /// cpuset values copied down; on a cgroup2-only host every available controller is
    /// delegated down to the new directory, as runc does. What was created is recorded in
    /// `created` even on failure: the caller removes it (`remove`) once nothing runs in it.
    pub fn make(
        &mut self,
        hierarchies: &[Hierarchy],
        which: impl Fn(&Dir) -> bool,
    ) -> Result<(), CgroupError> {
        let unified = self.mode() == Mode::Unified;
        for d in self.dirs.iter_mut().filter(|d| which(d)) {
            mkdir_all(&d.path, &mut d.created)?;
            let cpuset = hierarchies.iter().find(|h| {
                h.mountpoint == d.mountpoint && h.controllers.iter().any(|c| c == "cpuset")
            });
            if let Some(h) = cpuset {
                v1::init_cpuset(&h.mountpoint, &d.path, &d.created)?;
            }
            if unified && d.is_v2() {
                v2::V2 {
                    dir: d,
                    hybrid: false,
                }
                .delegate_all();
            }
        }
        Ok(())
    }

    /// The host's layout, as this cgroup spans it.
    pub fn mode(&self) -> Mode {
        match (
            self.dirs.iter().any(|d| !d.is_v2()),
            self.dirs.iter().any(Dir::is_v2),
        ) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::Legacy,
            _ => Mode::Unified,
        }
    }

    fn v1(&self) -> Option<v1::V1<'_>> {
        let dirs: Vec<&Dir> = self.dirs.iter().filter(|d| !d.is_v2()).collect();
        (!dirs.is_empty()).then_some(v1::V1 { dirs })
    }

    fn v2(&self) -> Option<v2::V2<'_>> {
        let hybrid = self.mode() == Mode::Hybrid;
        self.dirs
            .iter()
            .find(|d| d.is_v2())
            .map(|dir| v2::V2 { dir, hybrid })
    }

    /// The managers, v1 first: a controller mounted on v1 is applied there.
    fn managers(&self) -> Vec<Box<dyn Manager + '_>> {
        let mut m: Vec<Box<dyn Manager + '_>> = Vec::new();
        if let Some(v1) = self.v1() {
            m.push(Box::new(v1));
        }
        if let Some(v2) = self.v2() {
            m.push(Box::new(v2));
        }
        m
    }

    /// Applies `linux.resources` (all but devices). Each controller goes to the first manager
    /// that has it, with that version's files; a field no manager can take fails by name,
    /// before anything is written.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let v1 = self.v1();
        let v2 = self.v2();
        let on_v1 = |c: &str| v1.as_ref().is_some_and(|m| m.has(c));
        let on_v2 = |c: &str| !on_v1(c) && v2.as_ref().is_some_and(|m| m.has(c));
        let (v1_plan, v2_plan) = (v1::plan(r), v2::plan(r));
        let both = || v1_plan.iter().chain(&v2_plan);
        if let Some(w) = both().find(|w| !on_v1(&w.controller) && !on_v2(&w.controller)) {
            // A version's own reason (cgroup v2 has no net_cls) says more than a missing name.
            let why = both()
                .filter(|o| o.field == w.field)
                .find_map(|o| match &o.action {
                    Action::Refuse(why) if self.v1().is_none() || self.v2().is_none() => {
                        Some(why.clone())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| format!("this host has no {} controller", w.controller));
            return Err(CgroupError::Unsupported {
                field: w.field.clone(),
                why,
            });
        }
        let chosen: [Vec<&Write>; 2] = [
            v1_plan.iter().filter(|w| on_v1(&w.controller)).collect(),
            v2_plan.iter().filter(|w| on_v2(&w.controller)).collect(),
        ];
        for w in chosen.iter().flatten() {
            match &w.action {
                Action::Refuse(why) => {
                    return Err(CgroupError::Unsupported {
                        field: w.field.clone(),
                        why: why.clone(),
                    })
                }
                Action::Ignore(why) => crate::logging::warn(&format!("{}: {why}", w.field)),
                Action::Set { .. } => {}
            }
        }
        if let (Some(m), false) = (&v1, chosen[0].is_empty()) {
            m.apply(&chosen[0])?;
        }
        if let (Some(m), false) = (&v2, chosen[1].is_empty()) {
            m.apply(&chosen[1])?;
        }
        Ok(())
    }

    /// Applies a config's `linux.resources` at create, all but the device rules (`apply_devices`,
    /// with `devices::rules`). `create` does this while the init builds its rootfs, as runc does
    /// (it applies them when its init reports ready): nothing of the container runs before
    /// `start`.
    pub fn apply_resources(&self, c: &crate::spec::Config) -> Result<(), CgroupError> {
        match c.spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            Some(r) => self.apply(r),
            None => Ok(()),
        }
    }

    /// Applies device rules: to the v1 devices controller where there is one, else as the
    /// cgroup v2 device program (replacing the one attached). `old` is what was applied before
    /// (update): v1 then writes only the difference.
    pub fn apply_devices(
        &self,
        rules: &[devices::Rule],
        old: Option<&[devices::Rule]>,
    ) -> Result<(), CgroupError> {
        if self.apply_device_rules_v1(rules, old)? {
            return Ok(());
        }
        match self.v2() {
            Some(v2) => ebpf::install(&v2.dir.path, &devices::Emulated::new(rules)),
            None => Err(CgroupError::Unsupported {
                field: "linux.resources.devices".into(),
                why: "this host has neither a v1 devices controller nor cgroup v2".into(),
            }),
        }
    }

    /// An fd of the container's cgroup2 directory for clone3's CLONE_INTO_CGROUP, wherever there
    /// is one (the whole cgroup on a cgroup2-only host, the v2 tree of a hybrid one): the
    /// process starts in it and never takes the kernel's threadgroup lock to move there (see
    /// `join_self`). `create` and `exec` pass it.
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        let v2 = self.v2()?;
        rustix::fs::open(
            &v2.dir.path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    /// The files through which a single-threaded process moves itself into the container's
    /// cgroup, by writing "0": each v1 hierarchy's `tasks`, and the cgroup2 directory's
    /// `cgroup.procs` unless the process was cloned into it (`in_v2`, see `clone_into_fd`).
    ///
    /// Why `tasks`: writing a pid to `cgroup.procs` (or "0" to a cgroup2 `cgroup.procs`) moves
    /// a whole thread group and takes the kernel's global threadgroup lock, whose first writer
    /// waits for an RCU grace period: 0.1 ms per hierarchy, and 10-25 ms now and then on a
    /// loaded host. "0" written to `tasks` moves only the calling thread, without that lock;
    /// for a process of one thread it is the same move.
    pub fn self_join_files(&self, in_v2: bool) -> impl Iterator<Item = PathBuf> + '_ {
        self.dirs
            .iter()
            .filter_map(move |d| match (d.is_v2(), in_v2) {
                (false, _) => Some(d.path.join("tasks")),
                (true, false) => Some(d.path.join("cgroup.procs")),
                (true, true) => None,
            })
    }

    /// Moves the calling process, which must be single-threaded (the init), into the container's
    /// cgroup from inside (see `self_join_files`). The init does it before it becomes root of a
    /// user namespace: as the container's root it could no longer write the host's cgroup files.
    pub fn join_self(&self, in_v2: bool) -> Result<(), CgroupError> {
        for file in self.self_join_files(in_v2) {
            fs::write(&file, "0").map_err(io_err("joining", &file))?;
        }
        Ok(())
    }

    /// Each hierarchy's cgroup.procs, open for writing: a process writes "0" to each to join the
    /// cgroup itself (`exec`'s child, before it enters the container's namespaces, where these
    /// paths may not exist).
    pub fn procs_files(&self) -> Result<Vec<(PathBuf, OwnedFd)>, CgroupError> {
        self.dirs
            .iter()
            .map(|d| {
                let procs = d.path.join("cgroup.procs");
                let fd = rustix::fs::open(
                    &procs,
                    rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| io_err("opening", &procs)(e.into()))?;
                Ok((procs, fd))
            })
            .collect()
    }

    /// Every process in the container's cgroup, and in cgroups the container made below it.
    pub fn pids(&self) -> Vec<i32> {
        // The unified dir on a cgroup2-only host, else a v1 one (the v2 tree of a hybrid host
        // may not hold processes the container moved within its v1 hierarchies).
        let dir = match self.mode() {
            Mode::Unified => self.dirs.iter().find(|d| d.is_v2()),
            _ => self
                .dirs
                .iter()
                .find(|d| d.holds("pids"))
                .or_else(|| self.dirs.iter().find(|d| !d.is_v2())),
        };
        let mut pids = Vec::new();
        if let Some(d) = dir {
            for sub in subtree(&d.path) {
                let procs = fs::read_to_string(sub.join("cgroup.procs")).unwrap_or_default();
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids
    }

    /// Sends `signal` to every process in the container's cgroup. SIGKILL on cgroup v2 is one
    /// write to cgroup.kill (no process can fork away from it); elsewhere the freezer holds
    /// the cgroup still while each process is signalled, as runc does.
    pub fn signal_all(&self, signal: i32) {
        if signal == libc::SIGKILL && self.mode() == Mode::Unified {
            if let Some(v2) = self.v2() {
                if v2.kill().is_ok() {
                    return;
                }
            }
        }
        // Frozen, nothing forks between listing and killing; thawed after, so that killed
        // processes (of a paused container too) can die.
        let kill = signal == libc::SIGKILL && self.freezer().is_some();
        if kill && !self.frozen() {
            let _ = self.set_frozen(true);
        }
        for pid in self.pids() {
            // SAFETY: kill(2) with a pid from the container's cgroup; no memory is involved.
            unsafe { libc::kill(pid, signal) };
        }
        if kill {
            let _ = self.set_frozen(false);
        }
    }

    fn freezer(&self) -> Option<Box<dyn Manager + '_>> {
        self.managers().into_iter().find(|m| m.has("freezer"))
    }

    /// Freezes (`pause`) or thaws (`resume`) every process of the container, and waits until
    /// the kernel says it is done.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(m) => m.set_frozen(frozen),
            None => Err(CgroupError::Unsupported {
                field: if frozen { "pause" } else { "resume" }.into(),
                why: "this host has no cgroup freezer".into(),
            }),
        }
    }

    /// Whether the freezer holds the container frozen (`paused`).
    pub fn frozen(&self) -> bool {
        self.freezer().is_some_and(|m| m.frozen())
    }

    /// runc's stats (`events`), from whichever manager holds each controller.
    pub fn stats(&self) -> stats::Stats {
        let mut s = stats::Stats::default();
        // v2 first, so that what v1 holds on a hybrid host wins.
        for m in self.managers().iter().rev() {
            m.stats(&mut s);
        }
        s
    }

    /// The directory that holds the memory controller, and whether it is cgroup v2.
    pub(crate) fn memory_dir(&self) -> Option<(&Path, bool)> {
        if let Some(d) = self.dirs.iter().find(|d| d.holds("memory")) {
            return Some((&d.path, false));
        }
        self.v2()
            .filter(|v2| v2.has("memory"))
            .map(|v2| (v2.dir.path.as_path(), true))
    }

    /// Removes the container's cgroup (with any cgroups the container made inside it), and the
    /// parents berth created for it if they are empty. A cgroup whose last process just died
    /// can stay busy for a moment, so removal is retried.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in &self.dirs {
            // Usually an empty leaf, removed at once; else first the container's own
            // sub-cgroups, deepest first.
            let gone = fs::remove_dir(&d.path).is_ok();
            if !gone {
                for sub in subtree(&d.path).into_iter().rev().filter(|s| *s != d.path) {
                    let _ = rmdir_retry(&sub, true);
                }
            }
            let mut dirs: Vec<&PathBuf> = d.created.iter().collect();
            if !d.created.contains(&d.path) {
                dirs.insert(0, &d.path);
            }
            for (i, dir) in dirs.iter().rev().enumerate() {
                let leaf = i == 0;
                if leaf && gone {
                    continue;
                }
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

/// `dir` and every cgroup below it, parents before children.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let entries = fs::read_dir(&out[i]).into_iter().flatten().flatten();
        let subs: Vec<PathBuf> = entries
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        out.extend(subs);
        i += 1;
    }
    out
}

/// Reads a cgroup file as one trimmed line.
pub(crate) fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Writes one limit: `file` (or the alternative file when the kernel has no `file`).
pub(crate) fn write_limit(dir: &Path, w: &Write) -> Result<(), CgroupError> {
    let Action::Set { file, value, alt } = &w.action else {
        return Ok(());
    };
    let mut path = dir.join(file);
    let mut value = value;
    if let Some((alt_file, alt_value)) = alt {
        if !path.exists() && dir.join(alt_file).exists() {
            path = dir.join(alt_file);
            value = alt_value;
        }
    }
    // cgroupfs answers a write to a file it lacks with EACCES: say what it is.
    let written = if path.exists() {
        fs::write(&path, value)
    } else {
        Err(io::Error::from_raw_os_error(libc::ENOENT))
    };
    written.map_err(|source| CgroupError::Limit {
        field: w.field.clone(),
        file: path,
        value: value.clone(),
        source,
    })
}

/// Polls `done` every few milliseconds for up to `timeout`.
pub(crate) fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let mut step = Duration::from_millis(1);
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(step);
        step = (step * 2).min(Duration::from_millis(50));
    }
}

/// `mkdir -p`, recording each directory it created (parents first). A parent that another
/// container's delete removes meanwhile (it removes the empty parents it made) is made again.
/// The leaf is tried first: its parents usually exist.
fn mkdir_all(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    for attempt in 0..3 {
        match fs::create_dir(path) {
            Ok(()) => {
                created.push(path.to_path_buf());
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && attempt < 2 => {
                if let Some(parent) = path.parent() {
                    mkdir_all(parent, created)?;
                }
            }
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
