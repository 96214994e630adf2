//! cgroup v2: the container's directory in the unified tree. On a hybrid host the same tree holds
//! only what v1 does not (hugetlb on this kind of host) and the core files. `plan` says which v2
//! file takes each field of `linux.resources` (converted where v2's scale differs); the
//! `Manager` delegates controllers down to the container, writes, freezes and reads stats.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxBlockIo, LinuxResources};

use super::resources::Write;
use super::resources::{
    blkio_weight_to_io, controller_of, cpuset, kernel_memory, max_or, rdma, shares_to_weight,
    swap_v2, throttles, unified, Plan, BLKIO, CPU, MEM,
};

use super::stats::{self, Stats};
use super::{io_err, read, wait_for, write_limit, CgroupError, Dir, Manager};

pub struct V2<'a> {
    pub dir: &'a Dir,
    /// v1 hierarchies exist too: delegate controllers only when a limit needs them.
    pub hybrid: bool,
}

/// v2's name for a controller named as v1 names it.
fn v2_name(controller: &str) -> &str {
    match controller {
        "blkio" => "io",
        c => c,
    }
}

impl V2<'_> {
    /// The hierarchy's mount point (its root as this mount namespace sees it).
    fn root(&self) -> PathBuf {
        if !self.dir.mountpoint.as_os_str().is_empty() {
            return self.dir.mountpoint.clone();
        }
        // State saved before the mount point was recorded: strip the cgroup path.
        let depth = self.dir.cgroup.components().count().saturating_sub(1);
        self.dir
            .path
            .ancestors()
            .nth(depth)
            .unwrap_or(Path::new("/sys/fs/cgroup"))
            .to_path_buf()
    }

    fn available(&self) -> BTreeSet<String> {
        let text = read(&self.root().join("cgroup.controllers")).unwrap_or_default();
        text.split_whitespace().map(String::from).collect()
    }

    /// The cgroups from the mount point down to the container's parent: each must delegate a
    /// controller (cgroup.subtree_control) for the container to have it.
    fn ancestors(&self) -> Vec<PathBuf> {
        let root = self.root();
        let mut levels: Vec<PathBuf> = self
            .dir
            .path
            .ancestors()
            .skip(1)
            .take_while(|p| p.starts_with(&root))
            .map(Path::to_path_buf)
            .collect();
        levels.reverse();
        levels
    }

    /// Delegates `controllers` from the mount point down to the container, writing only what a
    /// level lacks (on a host whose root already delegates them, nothing at the root).
    fn delegate(&self, controllers: &BTreeSet<String>) -> Result<(), CgroupError> {
        for level in self.ancestors() {
            let file = level.join("cgroup.subtree_control");
            let has: BTreeSet<String> = read(&file)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            let missing: Vec<String> = controllers
                .difference(&has)
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty() {
                fs::write(&file, missing.join(" ")).map_err(io_err(
                    "delegating controllers (a cgroup holding processes cannot) in",
                    &file,
                ))?;
            }
        }
        Ok(())
    }

    /// On a cgroup2-only host every available controller is delegated to the container, as runc
    /// does, so that stats and later updates find them. Best effort: limits that need a
    /// controller delegate it again, and fail then by name.
    pub fn delegate_all(&self) {
        if let Err(e) = self.delegate(&self.available()) {
            crate::logging::debug(&format!("cgroups: {e}"));
        }
    }

    /// cgroup.kill (Linux 5.14): SIGKILL to every process in the cgroup and below, at once.
    pub fn kill(&self) -> std::io::Result<()> {
        fs::write(self.dir.path.join("cgroup.kill"), "1")
    }
}

impl Manager for V2<'_> {
    fn has(&self, controller: &str) -> bool {
        match controller {
            // Core files of every v2 cgroup; the device filter is a BPF program.
            "cgroup" | "freezer" | "devices" => true,
            "cpuacct" => true,
            c => self.available().contains(v2_name(c)),
        }
    }

    fn apply(&self, writes: &[&Write]) -> Result<(), CgroupError> {
        let needed: BTreeSet<String> = writes
            .iter()
            .map(|w| v2_name(&w.controller).to_string())
            .filter(|c| c != "cgroup")
            .collect();
        let enabled = read(&self.dir.path.join("cgroup.controllers")).unwrap_or_default();
        if needed
            .iter()
            .any(|c| !enabled.split_whitespace().any(|e| e == c))
        {
            self.delegate(&needed)?;
        }
        for w in writes {
            write_limit(&self.dir.path, w)?;
        }
        Ok(())
    }

    /// cgroup.freeze, then cgroup.events says `frozen 1` once every task has stopped.
    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let file = self.dir.path.join("cgroup.freeze");
        fs::write(&file, if frozen { "1" } else { "0" }).map_err(io_err("writing", &file))?;
        let events = self.dir.path.join("cgroup.events");
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let done = wait_for(Duration::from_secs(10), || {
            fs::read_to_string(&events).is_ok_and(|e| e.lines().any(|l| l == want))
        });
        if !done {
            if frozen {
                let _ = fs::write(&file, "0");
            }
            return Err(CgroupError::Unsupported {
                field: events.display().to_string(),
                why: format!("the kernel did not report {want:?} within 10 s"),
            });
        }
        Ok(())
    }

    fn frozen(&self) -> bool {
        read(&self.dir.path.join("cgroup.freeze")).as_deref() == Some("1")
    }

    fn stats(&self, s: &mut Stats) {
        let d = &self.dir.path;
        let on = |c: &str| self.has(c) && !self.hybrid || self.hybrid && c == "hugetlb";
        if on("cpu") {
            stats::v2_cpu(d, s);
        }
        if on("cpuset") {
            stats::cpuset(d, ".effective", s);
        }
        if on("memory") {
            stats::v2_memory(d, s);
        }
        if on("pids") {
            stats::pids(d, s);
        }
        if on("io") {
            stats::v2_io(d, s);
        }
        if on("hugetlb") && self.has("hugetlb") {
            stats::hugetlb(d, true, s);
        }
    }
}

/// The writes for cgroup v2, in the order they are applied (`unified` last: it overrides).
pub fn plan(r: &LinuxResources) -> Vec<Write> {
    let mut p = Plan { out: Vec::new() };
    if let Some(m) = r.memory() {
        if let Some(v) = m.limit() {
            p.set(format!("{MEM}.limit"), "memory", "memory.max", max_or(v));
        }
        if let Some(v) = m.reservation() {
            p.set(
                format!("{MEM}.reservation"),
                "memory",
                "memory.low",
                max_or(v),
            );
        }
        match swap_v2(m.swap(), m.limit()) {
            Ok(Some(v)) => p.set(format!("{MEM}.swap"), "memory", "memory.swap.max", v),
            Ok(None) => {}
            Err(why) => p.refuse(format!("{MEM}.swap"), "memory", why),
        }
        kernel_memory(&mut p, m.kernel());
        if m.kernel_tcp().is_some_and(|v| v != 0) {
            p.refuse(
                format!("{MEM}.kernelTCP"),
                "memory",
                "cgroup v2 has no separate TCP memory limit (TCP buffers count in memory.max)",
            );
        }
        if m.swappiness().is_some() {
            p.refuse(
                format!("{MEM}.swappiness"),
                "memory",
                "cgroup v2 has no per-cgroup swappiness",
            );
        }
        if m.disable_oom_killer() == Some(true) {
            p.refuse(format!("{MEM}.disableOOMKiller"), "memory", "cgroup v2 cannot disable the OOM killer (memory.oom.group and memory.high are the v2 tools)");
        }
        if m.use_hierarchy() == Some(false) {
            p.refuse(
                format!("{MEM}.useHierarchy"),
                "memory",
                "cgroup v2 is always hierarchical",
            );
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.shares().filter(|&v| v != 0) {
            p.set(
                format!("{CPU}.shares"),
                "cpu",
                "cpu.weight",
                shares_to_weight(v),
            );
        }
        let (quota, period) = (
            c.quota().filter(|&v| v != 0),
            c.period().filter(|&v| v != 0),
        );
        if quota.is_some() || period.is_some() {
            // Only the quota: the period in force stays (cpu.max takes "QUOTA [PERIOD]").
            let mut v = quota
                .filter(|&q| q > 0)
                .map_or("max".to_string(), |q| q.to_string());
            if let Some(period) = period {
                v = format!("{v} {period}");
            }
            let field = if quota.is_some() { "quota" } else { "period" };
            p.set(format!("{CPU}.{field}"), "cpu", "cpu.max", v);
        }
        if let Some(v) = c.burst() {
            p.set(format!("{CPU}.burst"), "cpu", "cpu.max.burst", v);
        }
        for (name, set) in [
            (
                "realtimeRuntime",
                c.realtime_runtime().is_some_and(|v| v != 0),
            ),
            (
                "realtimePeriod",
                c.realtime_period().is_some_and(|v| v != 0),
            ),
        ] {
            if set {
                p.refuse(
                    format!("{CPU}.{name}"),
                    "cpu",
                    "cgroup v2 has no realtime CPU controller (cpu.rt_runtime_us exists only on cgroup v1 kernels with CONFIG_RT_GROUP_SCHED)",
                );
            }
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
        blkio_v2(&mut p, b);
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let file = format!("hugetlb.{}.max", h.page_size());
        p.set(
            format!("linux.resources.hugepageLimits[{i}]"),
            "hugetlb",
            file,
            max_or(h.limit()),
        );
    }
    if let Some(n) = r.network() {
        let why = "cgroup v2 has no net_cls or net_prio controller (classify traffic with a BPF program on the container's cgroup instead)";
        if n.class_id().is_some() {
            p.refuse("linux.resources.network.classID", "net_cls", why);
        }
        if n.priorities().as_ref().is_some_and(|v| !v.is_empty()) {
            p.refuse("linux.resources.network.priorities", "net_prio", why);
        }
    }
    rdma(&mut p, r);
    for (key, value) in unified(r) {
        let field = format!("linux.resources.unified[{key:?}]");
        let ctl = controller_of(key);
        if key.contains('/') || !key.contains('.') || key.starts_with('.') {
            p.refuse(
                field,
                ctl,
                format!("{key:?} is not a cgroup v2 interface file name"),
            );
        } else {
            p.set(field, ctl, key.as_str(), value.as_str());
        }
    }
    p.out
}

fn blkio_v2(p: &mut Plan, b: &LinuxBlockIo) {
    // io.weight belongs to the iocost policy, io.bfq.weight to the BFQ scheduler (which keeps
    // v1's 1..1000 scale): whichever the kernel has.
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        p.set_or(
            format!("{BLKIO}.weight"),
            "blkio",
            ("io.weight", format!("default {}", blkio_weight_to_io(w))),
            ("io.bfq.weight", format!("default {w}")),
        );
    }
    let no_leaf = "cgroup v2 has no leaf weights";
    if b.leaf_weight().is_some() {
        p.refuse(format!("{BLKIO}.leafWeight"), "blkio", no_leaf);
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            p.set_or(
                format!("{BLKIO}.weightDevice[{i}].weight"),
                "blkio",
                ("io.weight", format!("{dev} {}", blkio_weight_to_io(w))),
                ("io.bfq.weight", format!("{dev} {w}")),
            );
        }
        if d.leaf_weight().is_some() {
            p.refuse(
                format!("{BLKIO}.weightDevice[{i}].leafWeight"),
                "blkio",
                no_leaf,
            );
        }
    }
    for (name, list, _, key) in throttles(b) {
        for (i, t) in list.iter().flatten().enumerate() {
            // 0 lifts v1's limit; v2 says "max".
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            p.set(
                format!("{BLKIO}.{name}[{i}]"),
                "blkio",
                "io.max",
                format!("{}:{} {key}={rate}", t.major(), t.minor()),
            );
        }
    }
}
