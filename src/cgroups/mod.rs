//! The container's cgroup: created before the init is cloned (on a cgroup2-only host the init is
//! cloned straight into it), limited from `linux.resources`, frozen by `pause`, read by `events`
//! and `ps`, reached by `kill --all` and `delete`, and removed with the container.
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
    fn is_v2(&self) -> bool {
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
    /// Creates the container's cgroup in every hierarchy (from `hierarchy::detect`), following
    /// runc's cgroupfs rules for `linux.cgroupsPath`. On a cgroup2-only host every available
    /// controller is delegated down to it, as runc does. On failure, whatever was created is
    /// removed again.
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
                mountpoint: h.mountpoint.clone(),
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
        if let Some(v2) = cg.v2().filter(|_| cg.mode() == Mode::Unified) {
            v2.delegate_all();
        }
        Ok(cg)
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

    /// Applies a config's `linux.resources` at create: the limits, then the device rules
    /// (from `devices::rules`, which always hold runc's defaults).
    pub fn apply_config(
        &self,
        c: &crate::spec::Config,
        rules: &[devices::Rule],
    ) -> Result<(), CgroupError> {
        let linux = c.spec.linux().as_ref();
        if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
            self.apply(r)?;
        }
        self.apply_devices(rules, None)
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

    /// An fd of the container's cgroup for clone3's CLONE_INTO_CGROUP, on a cgroup2-only host
    /// (elsewhere the v1 hierarchies must be joined anyway: use `join`, or `procs_files`). `exec`
    /// passes it too, so an exec'd process never runs outside the container's cgroup.
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        let v2 = self.v2().filter(|_| self.mode() == Mode::Unified)?;
        rustix::fs::open(
            &v2.dir.path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    /// Moves `pid` into the container's cgroup in every hierarchy (the init when it was not
    /// cloned into it, and processes that `exec` starts).
    pub fn join(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for d in &self.dirs {
            let procs = d.path.join("cgroup.procs");
            fs::write(&procs, &pid).map_err(io_err("adding the init to", &procs))?;
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
            // The container's own sub-cgroups, deepest first.
            for sub in subtree(&d.path).into_iter().rev().filter(|s| *s != d.path) {
                let _ = rmdir_retry(&sub, true);
            }
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
