//! `linux.resources` (all but `devices`) as cgroup files: a `Write` per field, tagged with the
//! config field it comes from and the controller that holds the file. v1.rs and v2.rs say which
//! files and values each version takes (`plan`), with the conversions here; pure: what the host
//! has (which controller lives where, which files exist) is decided when the writes are applied
//! (mod.rs routes each controller to v1 or v2).

use oci_spec::runtime::{LinuxBlockIo, LinuxResources, LinuxThrottleDevice};

/// One limit to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The config field: `linux.resources.memory.limit`.
    pub field: String,
    /// The controller, named as v1 names it (`blkio` for v2's `io` too): which hierarchy takes it.
    /// `cgroup` for v2's core files (`unified` keys such as cgroup.max.depth).
    pub controller: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write `value` to `file` in the container's cgroup; if `file` does not exist, `alt`
    /// (another file and value for the same setting, such as io.bfq.weight for io.weight).
    Set {
        file: String,
        value: String,
        alt: Option<(String, String)>,
    },
    /// This cgroup version cannot apply the field: why.
    Refuse(String),
    /// Accepted without effect (deprecated fields): said as a warning.
    Ignore(String),
}

pub(super) struct Plan {
    pub(super) out: Vec<Write>,
}

impl Plan {
    pub(super) fn set(
        &mut self,
        field: impl Into<String>,
        ctl: &str,
        file: impl Into<String>,
        value: impl ToString,
    ) {
        self.out.push(Write {
            field: field.into(),
            controller: ctl.into(),
            action: Action::Set {
                file: file.into(),
                value: value.to_string(),
                alt: None,
            },
        });
    }

    pub(super) fn set_or(
        &mut self,
        field: impl Into<String>,
        ctl: &str,
        (file, value): (&str, String),
        (alt, alt_value): (&str, String),
    ) {
        self.out.push(Write {
            field: field.into(),
            controller: ctl.into(),
            action: Action::Set {
                file: file.into(),
                value,
                alt: Some((alt.into(), alt_value)),
            },
        });
    }

    pub(super) fn refuse(&mut self, field: impl Into<String>, ctl: &str, why: impl Into<String>) {
        self.out.push(Write {
            field: field.into(),
            controller: ctl.into(),
            action: Action::Refuse(why.into()),
        });
    }

    pub(super) fn ignore(&mut self, field: impl Into<String>, ctl: &str, why: impl Into<String>) {
        self.out.push(Write {
            field: field.into(),
            controller: ctl.into(),
            action: Action::Ignore(why.into()),
        });
    }
}

pub(super) const MEM: &str = "linux.resources.memory";
pub(super) const CPU: &str = "linux.resources.cpu";
pub(super) const BLKIO: &str = "linux.resources.blockIO";

/// cpu.shares (v1, 2..262144, default 1024) to cpu.weight (v2, 1..10000, default 100).
///
/// The current runc (>= 1.3.2, opencontainers/cgroups) and crun (>= 1.23) conversion: a
/// quadratic in log2(shares) that maps 2 → 1, 1024 → 100 and 262144 → 10000, so the default
/// share is the default weight. runc 1.1 (Debian's 1.1.5 here) used the linear
/// `1 + (shares - 2) * 9999 / 262142`, which gave the default 1024 shares a weight of only 39.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// blkio weight (v1, 10..1000) to io.weight (v2, 1..10000), as runc and crun convert it.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// The OCI swap limit is memory+swap (v1's memsw); v2's memory.swap.max is swap alone. The same
/// rules as runc: -1 is unlimited; unlimited memory with no swap given means unlimited swap.
pub fn swap_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>, String> {
    let limit = limit.unwrap_or(0);
    match swap {
        None | Some(0) if limit == -1 => Ok(Some("max".into())),
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some("max".into())),
        Some(_) if limit == -1 => Ok(swap.map(|s| s.to_string())),
        Some(_) if limit == 0 => {
            Err("a swap limit needs memory.limit (cgroup v2 limits swap apart from memory)".into())
        }
        Some(s) if s < limit => Err(format!(
            "{s} is below memory.limit {limit} (swap is memory+swap, as on cgroup v1)"
        )),
        Some(s) => Ok(Some((s - limit).to_string())),
    }
}

pub(super) fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// The controller of a v2 interface file: `memory.high` → memory; `cgroup.*` → the core.
pub(super) fn controller_of(key: &str) -> &str {
    match key.split_once('.') {
        Some(("io", _)) => "blkio",
        Some((c, _)) => c,
        None => key,
    }
}

pub(super) fn unified(r: &LinuxResources) -> Vec<(&String, &String)> {
    let mut v: Vec<_> = r.unified().iter().flatten().collect();
    v.sort();
    v
}

pub(super) fn kernel_memory(p: &mut Plan, kernel: Option<i64>) {
    if kernel.is_some_and(|v| v != 0) {
        p.ignore(
            format!("{MEM}.kernel"),
            "memory",
            "kernel memory limits are deprecated and not applied (as runc); kernel memory counts in the memory limit",
        );
    }
}

pub(super) fn cpuset(p: &mut Plan, cpus: Option<&str>, mems: Option<&str>) {
    if let Some(v) = cpus.filter(|v| !v.is_empty()) {
        p.set(format!("{CPU}.cpus"), "cpuset", "cpuset.cpus", v);
    }
    if let Some(v) = mems.filter(|v| !v.is_empty()) {
        p.set(format!("{CPU}.mems"), "cpuset", "cpuset.mems", v);
    }
}

pub(super) fn rdma(p: &mut Plan, r: &LinuxResources) {
    let mut devices: Vec<_> = r.rdma().iter().flatten().collect();
    devices.sort_by_key(|(name, _)| name.as_str());
    for (name, l) in devices {
        let mut v = name.clone();
        if let Some(h) = l.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        if v != *name {
            p.set(
                format!("linux.resources.rdma.{name}"),
                "rdma",
                "rdma.max",
                v,
            );
        }
    }
}

pub(super) type Throttles<'a> = [(
    &'static str,
    &'a Option<Vec<LinuxThrottleDevice>>,
    &'static str,
    &'static str,
); 4];

pub(super) fn throttles(b: &LinuxBlockIo) -> Throttles<'_> {
    [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "wiops",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    fn sets(w: &[Write]) -> Vec<(String, String)> {
        w.iter()
            .filter_map(|w| match &w.action {
                Action::Set { file, value, .. } => Some((file.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn shares_to_weight_is_the_current_quadratic() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
        let mut last = 1;
        for s in (2..262_144).step_by(97) {
            let w = shares_to_weight(s);
            assert!((1..=10_000).contains(&w) && w >= last, "{s} -> {w}");
            last = w;
        }
    }

    #[test]
    fn swap_is_converted_for_v2() {
        assert_eq!(swap_v2(Some(200), Some(100)), Ok(Some("100".into())));
        assert_eq!(swap_v2(Some(100), Some(100)), Ok(Some("0".into())));
        assert_eq!(swap_v2(Some(-1), Some(100)), Ok(Some("max".into())));
        assert_eq!(swap_v2(None, Some(-1)), Ok(Some("max".into())));
        assert_eq!(swap_v2(None, Some(100)), Ok(None));
        assert!(swap_v2(Some(50), Some(100)).is_err());
        assert!(swap_v2(Some(50), None).is_err());
    }

    #[test]
    fn blkio_weight_scale() {
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
        assert_eq!(blkio_weight_to_io(500), 4950);
    }

    #[test]
    fn v1_and_v2_files() {
        let r = res(serde_json::json!({
            "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 32},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "unified": {"memory.high": "99999999"}
        }));
        let v1 = super::super::v1::plan(&r);
        assert_eq!(
            sets(&v1),
            [
                ("memory.limit_in_bytes", "104857600"),
                ("memory.soft_limit_in_bytes", "52428800"),
                ("memory.memsw.limit_in_bytes", "209715200"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("pids.max", "32"),
                ("blkio.weight", "500"),
                ("blkio.throttle.read_bps_device", "7:0 1048576"),
                ("hugetlb.2MB.limit_in_bytes", "2097152"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(matches!(v1.last().unwrap().action, Action::Refuse(_)));
        assert_eq!(
            sets(&super::super::v2::plan(&r)),
            [
                ("memory.max", "104857600"),
                ("memory.low", "52428800"),
                ("memory.swap.max", "104857600"),
                ("cpu.weight", "59"),
                ("cpu.max", "50000 100000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("pids.max", "32"),
                ("io.weight", "default 4950"),
                ("io.max", "7:0 rbps=1048576"),
                ("hugetlb.2MB.max", "2097152"),
                ("memory.high", "99999999"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn v2_refuses_what_it_cannot_apply() {
        let r = res(serde_json::json!({
            "cpu": {"realtimeRuntime": 950000, "quota": -1},
            "network": {"classID": 1},
            "unified": {"../escape": "1"}
        }));
        let w = super::super::v2::plan(&r);
        let refused: Vec<&str> = w
            .iter()
            .filter(|w| matches!(w.action, Action::Refuse(_)))
            .map(|w| w.field.as_str())
            .collect();
        assert_eq!(
            refused,
            [
                "linux.resources.cpu.realtimeRuntime",
                "linux.resources.network.classID",
                "linux.resources.unified[\"../escape\"]"
            ]
        );
        assert_eq!(sets(&w), [("cpu.max".to_string(), "max".to_string())]);
    }

    #[test]
    fn zero_means_unset_as_in_runc_update() {
        let r = res(serde_json::json!({
            "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": ""},
            "pids": {"limit": 0}
        }));
        assert!(super::super::v1::plan(&r).is_empty());
        assert!(super::super::v2::plan(&r).is_empty());
    }
}
