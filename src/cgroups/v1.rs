//! cgroup v1: one directory per mounted hierarchy (each controller may be mounted on its own, as
//! cpu and cpuacct are on this kind of host). `plan` says which v1 file takes each field of
//! `linux.resources`; the `Manager` writes them, freezes and reads stats.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxBlockIo, LinuxResources};

use super::resources::{
    controller_of, cpuset, kernel_memory, max_or, rdma, throttles, unified, Plan, BLKIO, CPU, MEM,
};
use super::resources::{Action, Write};

use super::stats::{self, Stats};
use super::{io_err, read, wait_for, write_limit, CgroupError, Dir, Manager};

pub struct V1<'a> {
    pub dirs: Vec<&'a Dir>,
}

impl V1<'_> {
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.holds(controller))
            .map(|d| d.path.as_path())
    }
}

impl Manager for V1<'_> {
    fn has(&self, controller: &str) -> bool {
        self.dir(controller).is_some()
    }

    /// Writes in order. Some v1 pairs must be written in the order that keeps them consistent
    /// at every moment (memory.limit_in_bytes ≤ memory.memsw.limit_in_bytes, a CFS quota
    /// against its period), which depends on the values in force: a write the kernel refuses
    /// with EINVAL is tried again after the others.
    fn apply(&self, writes: &[&Write]) -> Result<(), CgroupError> {
        let mut retry = Vec::new();
        for w in writes {
            let Some(dir) = self.dir(&w.controller) else {
                continue;
            };
            match write_limit(dir, w) {
                Err(CgroupError::Limit { source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL) =>
                {
                    retry.push((dir, *w))
                }
                r => r?,
            }
        }
        for (dir, w) in retry {
            write_limit(dir, w)?;
        }
        // The kernel clamps cpu.shares to 2..262144 without an error.
        for w in writes.iter().filter(|w| w.controller == "cpu") {
            if let (Action::Set { file, value, .. }, Some(dir)) = (&w.action, self.dir("cpu")) {
                if file == "cpu.shares" {
                    let got = read(&dir.join(file)).unwrap_or_default();
                    if got != *value {
                        return Err(CgroupError::Unsupported {
                            field: w.field.clone(),
                            why: format!(
                                "the kernel set {} to {got} instead of {value} (it takes 2 to 262144)",
                                dir.join(file).display()
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// freezer.state: FREEZING until every task has stopped. A task forking meanwhile can keep
    /// it there, so FROZEN is written again until the kernel reports it.
    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let Some(dir) = self.dir("freezer") else {
            return Err(CgroupError::Unsupported {
                field: "freezer".into(),
                why: "no v1 freezer controller is mounted".into(),
            });
        };
        let file = dir.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let mut err = None;
        let done = wait_for(Duration::from_secs(10), || {
            if let Err(e) = fs::write(&file, want) {
                err = Some(e);
                return true;
            }
            read(&file).as_deref() == Some(want)
        });
        if let Some(e) = err {
            return Err(io_err("writing", &file)(e));
        }
        if !done {
            if frozen {
                let _ = fs::write(&file, "THAWED");
            }
            return Err(CgroupError::Unsupported {
                field: file.display().to_string(),
                why: format!("the kernel did not reach {want} within 10 s"),
            });
        }
        Ok(())
    }

    fn frozen(&self) -> bool {
        self.dir("freezer")
            .and_then(|d| read(&d.join("freezer.state")))
            .is_some_and(|s| s == "FROZEN")
    }

    fn stats(&self, s: &mut Stats) {
        if let Some(d) = self.dir("cpuacct") {
            stats::v1_cpuacct(d, s);
        }
        if let Some(d) = self.dir("cpu") {
            stats::v1_cpu_throttling(d, s);
        }
        if let Some(d) = self.dir("cpuset") {
            stats::cpuset(d, "", s);
        }
        if let Some(d) = self.dir("memory") {
            stats::v1_memory(d, s);
        }
        if let Some(d) = self.dir("pids") {
            stats::pids(d, s);
        }
        if let Some(d) = self.dir("blkio") {
            stats::v1_blkio(d, s);
        }
        if let Some(d) = self.dir("hugetlb") {
            stats::hugetlb(d, false, s);
        }
    }
}

/// The writes for a cgroup v1 host, in the order they are applied.
pub fn plan(r: &LinuxResources) -> Vec<Write> {
    let mut p = Plan { out: Vec::new() };
    if let Some(m) = r.memory() {
        if let Some(v) = m.limit() {
            p.set(format!("{MEM}.limit"), "memory", "memory.limit_in_bytes", v);
        }
        if let Some(v) = m.reservation() {
            p.set(
                format!("{MEM}.reservation"),
                "memory",
                "memory.soft_limit_in_bytes",
                v,
            );
        }
        if let Some(v) = m.swap() {
            p.set(
                format!("{MEM}.swap"),
                "memory",
                "memory.memsw.limit_in_bytes",
                v,
            );
        }
        kernel_memory(&mut p, m.kernel());
        if let Some(v) = m.kernel_tcp() {
            p.set(
                format!("{MEM}.kernelTCP"),
                "memory",
                "memory.kmem.tcp.limit_in_bytes",
                v,
            );
        }
        if let Some(v) = m.swappiness() {
            if v > 100 {
                p.refuse(
                    format!("{MEM}.swappiness"),
                    "memory",
                    format!("{v} is not between 0 and 100"),
                );
            } else {
                p.set(
                    format!("{MEM}.swappiness"),
                    "memory",
                    "memory.swappiness",
                    v,
                );
            }
        }
        if m.disable_oom_killer() == Some(true) {
            p.set(
                format!("{MEM}.disableOOMKiller"),
                "memory",
                "memory.oom_control",
                1,
            );
        }
        if let Some(v) = m.use_hierarchy() {
            p.set(
                format!("{MEM}.useHierarchy"),
                "memory",
                "memory.use_hierarchy",
                u8::from(v),
            );
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|&v| v != 0) {
            p.set(format!("{CPU}.shares"), "cpu", "cpu.shares", v);
        }
        // The period first: a quota is checked against the period in force.
        if let Some(v) = c.period().filter(|&v| v != 0) {
            p.set(format!("{CPU}.period"), "cpu", "cpu.cfs_period_us", v);
        }
        if let Some(v) = c.quota().filter(|&v| v != 0) {
            p.set(format!("{CPU}.quota"), "cpu", "cpu.cfs_quota_us", v);
        }
        if let Some(v) = c.burst() {
            p.set(format!("{CPU}.burst"), "cpu", "cpu.cfs_burst_us", v);
        }
        if let Some(v) = c.realtime_period().filter(|&v| v != 0) {
            p.set(
                format!("{CPU}.realtimePeriod"),
                "cpu",
                "cpu.rt_period_us",
                v,
            );
        }
        if let Some(v) = c.realtime_runtime().filter(|&v| v != 0) {
            p.set(
                format!("{CPU}.realtimeRuntime"),
                "cpu",
                "cpu.rt_runtime_us",
                v,
            );
        }
        if let Some(v) = c.idle() {
            p.set(format!("{CPU}.idle"), "cpu", "cpu.idle", v);
        }
        cpuset(&mut p, c.cpus().as_deref(), c.mems().as_deref());
    }
    if let Some(v) = r.pids().map(|p| p.limit()).filter(|&v| v != 0) {
        p.set("linux.resources.pids.limit", "pids", "pids.max", max_or(v));
    }
    if let Some(b) = r.block_io() {
        blkio_v1(&mut p, b);
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
        p.set(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            file,
            h.limit(),
        );
    }
    if let Some(n) = r.network() {
        if let Some(v) = n.class_id() {
            p.set(
                "linux.resources.network.classID",
                "net_cls",
                "net_cls.classid",
                v,
            );
        }
        for (i, pr) in n.priorities().iter().flatten().enumerate() {
            let value = format!("{} {}", pr.name(), pr.priority());
            p.set(
                format!("linux.resources.network.priorities[{i}]"),
                "net_prio",
                "net_prio.ifpriomap",
                value,
            );
        }
    }
    rdma(&mut p, r);
    for (key, _) in unified(r) {
        p.refuse(
            format!("linux.resources.unified[{key:?}]"),
            controller_of(key),
            format!(
                "linux.resources.unified applies to cgroup v2 only, and {} is not on cgroup v2 on this host",
                controller_of(key)
            ),
        );
    }
    p.out
}

fn blkio_v1(p: &mut Plan, b: &LinuxBlockIo) {
    // Without CFQ (gone since Linux 5.0) the weights are BFQ's.
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        p.set_or(
            format!("{BLKIO}.weight"),
            "blkio",
            ("blkio.weight", w.to_string()),
            ("blkio.bfq.weight", w.to_string()),
        );
    }
    if let Some(w) = b.leaf_weight() {
        p.set(
            format!("{BLKIO}.leafWeight"),
            "blkio",
            "blkio.leaf_weight",
            w,
        );
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let v = format!("{dev} {w}");
            p.set_or(
                format!("{BLKIO}.weightDevice[{i}].weight"),
                "blkio",
                ("blkio.weight_device", v.clone()),
                ("blkio.bfq.weight_device", v),
            );
        }
        if let Some(w) = d.leaf_weight() {
            p.set(
                format!("{BLKIO}.weightDevice[{i}].leafWeight"),
                "blkio",
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
            );
        }
    }
    for (name, list, file, _) in throttles(b) {
        for (i, t) in list.iter().flatten().enumerate() {
            p.set(
                format!("{BLKIO}.{name}[{i}]"),
                "blkio",
                file,
                format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            );
        }
    }
}

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`, and no task can join
/// it until they are set: copy them down from the parent, top to bottom, for every level from
/// the hierarchy's mount point to `leaf` that is still empty. Levels made by a concurrent create
/// are included: they may not be filled yet. Levels this create made (`created`) are known to be
/// empty, and a level's value, once read or written, is the next level's parent value.
pub fn init_cpuset(mountpoint: &Path, leaf: &Path, created: &[PathBuf]) -> Result<(), CgroupError> {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut dir = mountpoint.to_path_buf();
    let mut above: [Option<String>; 2] = [None, None];
    for part in rel.components() {
        let parent = dir.clone();
        dir.push(part);
        let fresh = created.contains(&dir);
        for (file, known) in ["cpuset.cpus", "cpuset.mems"].into_iter().zip(&mut above) {
            let mine = dir.join(file);
            if !fresh {
                if let Some(v) = fs::read_to_string(&mine)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                {
                    *known = Some(v.trim().to_string());
                    continue;
                }
            }
            let value = match known.take() {
                Some(v) => v,
                None => {
                    let from = parent.join(file);
                    let v = fs::read_to_string(&from).map_err(io_err("reading", &from))?;
                    v.trim().to_string()
                }
            };
            fs::write(&mine, &value).map_err(io_err("writing", &mine))?;
            *known = Some(value);
        }
    }
    Ok(())
}
