//! What `events` reports: runc's stats JSON (its types/events.go shape, field for field, so that
//! containerd and monitoring tools read berth's as they read runc's), filled from v1 or v2 files.
//! A file that cannot be read leaves its fields at zero, as a controller that is not there.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: serde_json::Map<String, serde_json::Value>,
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    /// Nanoseconds.
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

fn text(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// A number file; "max" reads as u64::MAX (unlimited), as runc reports it.
fn num(dir: &Path, file: &str) -> u64 {
    let t = text(dir, file);
    let t = t.trim();
    if t == "max" {
        u64::MAX
    } else {
        t.parse().unwrap_or(0)
    }
}

/// "key value" lines (memory.stat, cpu.stat, memory.events).
pub fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// "0-3,6" → [0, 1, 2, 3, 6].
fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

pub fn v1_cpuacct(d: &Path, s: &mut Stats) {
    let u = &mut s.cpu.usage;
    u.total = num(d, "cpuacct.usage");
    u.percpu = numbers(&text(d, "cpuacct.usage_percpu"));
    u.percpu_user = numbers(&text(d, "cpuacct.usage_percpu_user"));
    u.percpu_kernel = numbers(&text(d, "cpuacct.usage_percpu_sys"));
    // cpuacct.stat is in USER_HZ ticks (100 a second on Linux).
    let st = keyed(&text(d, "cpuacct.stat"));
    u.user = st.get("user").copied().unwrap_or(0) * 10_000_000;
    u.kernel = st.get("system").copied().unwrap_or(0) * 10_000_000;
}

pub fn v1_cpu_throttling(d: &Path, s: &mut Stats) {
    let st = keyed(&text(d, "cpu.stat"));
    let t = &mut s.cpu.throttling;
    t.periods = st.get("nr_periods").copied().unwrap_or(0);
    t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
    t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
}

pub fn v2_cpu(d: &Path, s: &mut Stats) {
    let st = keyed(&text(d, "cpu.stat"));
    let get = |k: &str| st.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get("usage_usec") * 1000;
    s.cpu.usage.user = get("user_usec") * 1000;
    s.cpu.usage.kernel = get("system_usec") * 1000;
    s.cpu.throttling.periods = get("nr_periods");
    s.cpu.throttling.throttled_periods = get("nr_throttled");
    s.cpu.throttling.throttled_time = get("throttled_usec") * 1000;
}

/// `suffix` is "" on v1 and ".effective" on v2 (what the cgroup really has).
pub fn cpuset(d: &Path, suffix: &str, s: &mut Stats) {
    let c = &mut s.cpuset;
    c.cpus = cpu_list(&text(d, &format!("cpuset.cpus{suffix}")));
    c.mems = cpu_list(&text(d, &format!("cpuset.mems{suffix}")));
    if suffix.is_empty() {
        c.cpu_exclusive = num(d, "cpuset.cpu_exclusive");
        c.mem_hardwall = num(d, "cpuset.mem_hardwall");
        c.mem_exclusive = num(d, "cpuset.mem_exclusive");
        c.memory_migrate = num(d, "cpuset.memory_migrate");
        c.memory_spread_page = num(d, "cpuset.memory_spread_page");
        c.memory_spread_slab = num(d, "cpuset.memory_spread_slab");
        c.memory_pressure = num(d, "cpuset.memory_pressure");
        c.sched_load_balance = num(d, "cpuset.sched_load_balance");
        c.sched_relax_domain_level = text(d, "cpuset.sched_relax_domain_level")
            .trim()
            .parse()
            .unwrap_or(0);
    }
}

fn v1_entry(d: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(d, &format!("{prefix}.limit_in_bytes")),
        usage: num(d, &format!("{prefix}.usage_in_bytes")),
        max: num(d, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(d, &format!("{prefix}.failcnt")),
    }
}

pub fn v1_memory(d: &Path, s: &mut Stats) {
    let m = &mut s.memory;
    m.raw = keyed(&text(d, "memory.stat"));
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = v1_entry(d, "memory");
    m.swap = v1_entry(d, "memory.memsw");
    m.kernel = v1_entry(d, "memory.kmem");
    m.kernel_tcp = v1_entry(d, "memory.kmem.tcp");
}

pub fn v2_memory(d: &Path, s: &mut Stats) {
    let m = &mut s.memory;
    m.raw = keyed(&text(d, "memory.stat"));
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = keyed(&text(d, "memory.events"));
    m.usage = MemoryEntry {
        limit: num(d, "memory.max"),
        usage: num(d, "memory.current"),
        max: num(d, "memory.peak"),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // v1 reported swap as memory+swap; runc keeps that meaning on v2.
    let swap_limit = num(d, "memory.swap.max");
    m.swap = MemoryEntry {
        limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX {
            u64::MAX
        } else {
            swap_limit + m.usage.limit
        },
        usage: num(d, "memory.swap.current") + m.usage.usage,
        max: 0,
        failcnt: 0,
    };
}

pub fn pids(d: &Path, s: &mut Stats) {
    s.pids.current = num(d, "pids.current");
    let max = num(d, "pids.max");
    // Unlimited reads as 0, as runc reports it.
    s.pids.limit = if max == u64::MAX { 0 } else { max };
}

/// blkio.throttle.io_service_bytes_recursive lines: "8:0 Read 4096" (and a "Total N").
fn v1_blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else {
                return None;
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

pub fn v1_blkio(d: &Path, s: &mut Stats) {
    s.blkio.io_service_bytes_recursive =
        v1_blkio_entries(&text(d, "blkio.throttle.io_service_bytes_recursive"));
    s.blkio.io_serviced_recursive =
        v1_blkio_entries(&text(d, "blkio.throttle.io_serviced_recursive"));
}

/// io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
pub fn v2_io(d: &Path, s: &mut Stats) {
    for line in text(d, "io.stat").lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
}

/// Per page size ("2MB"): usage, peak (v1) and how often the limit was hit.
pub fn hugetlb(d: &Path, v2: bool, s: &mut Stats) {
    let sizes: Vec<String> = fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = name.strip_prefix("hugetlb.")?;
            let size = if v2 {
                size.strip_suffix(".current")?
            } else {
                size.strip_suffix(".usage_in_bytes")?
            };
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    for size in sizes {
        let h = if v2 {
            Hugetlb {
                usage: num(d, &format!("hugetlb.{size}.current")),
                max: 0,
                failcnt: keyed(&text(d, &format!("hugetlb.{size}.events")))
                    .get("max")
                    .copied()
                    .unwrap_or(0),
            }
        } else {
            Hugetlb {
                usage: num(d, &format!("hugetlb.{size}.usage_in_bytes")),
                max: num(d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: num(d, &format!("hugetlb.{size}.failcnt")),
            }
        };
        s.hugetlb.insert(size, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        assert_eq!(keyed("oom 1\noom_kill 2\n")["oom_kill"], 2);
        assert_eq!(
            v1_blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"),
            vec![
                BlkioEntry {
                    major: 8,
                    minor: 0,
                    op: "Read".into(),
                    value: 4096
                },
                BlkioEntry {
                    major: 8,
                    minor: 0,
                    op: "Write".into(),
                    value: 0
                }
            ]
        );
    }

    /// The JSON keys runc's types/events.go gives, zero values left out where runc omits them.
    #[test]
    fn json_shape_is_runcs() {
        let v = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(
            v["cpu"],
            serde_json::json!({"usage": {"kernel": 0, "user": 0}, "throttling": {}})
        );
        assert_eq!(
            v["memory"]["kernelTCP"],
            serde_json::json!({"limit": 0, "failcnt": 0})
        );
        assert!(v["cpuset"].get("sched_relax_domain_level").is_some());
        assert_eq!(v["pids"], serde_json::json!({}));
        assert_eq!(v["hugetlb"], serde_json::json!({}));
        assert!(v["network_interfaces"].is_null());
    }
}
