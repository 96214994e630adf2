//! The commands that work on a container's cgroup: `update` (runc's flags, or `--resources`
//! FILE or `-` for LinuxResources JSON on stdin, as dockerd sends it), `events` and `ps`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::container::{self, Error};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// A file of LinuxResources JSON, or `-` for stdin (the other flags are then ignored, as
    /// by runc).
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Per cgroup block IO weight, 10 to 1000.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1: none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight; converted to cpu.weight on cgroup v2).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// Realtime period in microseconds (cgroup v1 only).
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds (cgroup v1 only).
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "kernel-memory", hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or 512k, 256m, 1g; -1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation (soft limit).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1: none).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    pub id: String,
    /// How often to print stats (Go duration: 500ms, 5s, 1m).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print the stats once and exit.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// table (the host's ps output) or json (the pids).
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// Arguments for ps (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Docker's RAM sizes (go-units RAMInBytes): a number with an optional k/m/g/t/p suffix, binary
/// multiples, an optional trailing b or ib.
pub fn parse_ram(s: &str) -> Option<i64> {
    if s == "-1" {
        return Some(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        'p' => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok().filter(|n: &f64| *n >= 0.0)?;
    let v = n * mult as f64;
    (v <= i64::MAX as f64).then_some(v as i64)
}

/// The LinuxResources JSON the flags stand for (only what was given).
fn flags_to_json(a: &UpdateArgs) -> Result<Value, Error> {
    let mut memory = Map::new();
    for (flag, key, v) in [
        ("--memory", "limit", &a.memory),
        ("--memory-reservation", "reservation", &a.memory_reservation),
        ("--memory-swap", "swap", &a.memory_swap),
        ("--kernel-memory", "kernel", &a.kernel_memory),
        ("--kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = v {
            let bytes = parse_ram(v).ok_or_else(|| {
                Error::Usage(format!(
                    "{flag}: invalid size {v:?} (bytes, or a number with k, m, g, t or p)"
                ))
            })?;
            memory.insert(key.into(), bytes.into());
        }
    }
    let mut cpu = Map::new();
    let nums = [
        ("shares", a.cpu_share.map(Value::from)),
        ("quota", a.cpu_quota.map(Value::from)),
        ("period", a.cpu_period.map(Value::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(Value::from)),
        ("realtimePeriod", a.cpu_rt_period.map(Value::from)),
        ("cpus", a.cpuset_cpus.clone().map(Value::from)),
        ("mems", a.cpuset_mems.clone().map(Value::from)),
    ];
    for (key, v) in nums {
        if let Some(v) = v {
            cpu.insert(key.into(), v);
        }
    }
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), memory.into());
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), cpu.into());
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    if let Some(l) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": l }));
    }
    Ok(r.into())
}

pub fn update(root: &Path, a: &UpdateArgs) -> Result<(), Error> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(Error::Usage(
            "--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by berth".into(),
        ));
    }
    let patch = match a.resources.as_deref() {
        Some(src) => {
            let mut text = String::new();
            let read = if src == "-" {
                std::io::stdin().read_to_string(&mut text)
            } else {
                std::fs::File::open(src).and_then(|mut f| f.read_to_string(&mut text))
            };
            read.map_err(|e| Error::Usage(format!("--resources {src}: {e}")))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Usage(format!("--resources {src}: {e}")))?;
            if !v.is_object() {
                return Err(Error::Usage(format!(
                    "--resources {src}: not a JSON object"
                )));
            }
            // Checked here so the error names the input, with the JSON path.
            serde_path_to_error::deserialize::<_, oci_spec::runtime::LinuxResources>(v.clone())
                .map_err(|e| {
                    Error::Usage(format!("--resources {src}: {}: {}", e.path(), e.inner()))
                })?;
            v
        }
        None => flags_to_json(a)?,
    };
    container::update::update(root, &a.id, &patch)
}

/// A Go duration: "1h2m3.5s", "500ms", "10us".
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    Some(Duration::from_secs_f64(total))
}

pub fn events(root: &Path, a: &EventsArgs) -> Result<(), Error> {
    let interval = parse_duration(&a.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::Usage(format!(
                "--interval {:?}: not a duration above zero (5s, 500ms)",
                a.interval
            ))
        })?;
    container::events::events(root, &a.id, interval, a.stats)
}

pub fn ps(root: &Path, a: &PsArgs) -> Result<(), Error> {
    match a.format.as_str() {
        "json" => {
            let pids = container::ps::pids(root, &a.id)?;
            println!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| Error::Usage(e.to_string()))?
            );
        }
        "table" => print!("{}", container::ps::table(root, &a.id, &a.ps_args)?),
        other => {
            return Err(Error::Usage(format!(
                "--format {other:?}: use table or json"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_ram("1024"), Some(1024));
        assert_eq!(parse_ram("512m"), Some(512 << 20));
        assert_eq!(parse_ram("1G"), Some(1 << 30));
        assert_eq!(parse_ram("1.5k"), Some(1536));
        assert_eq!(parse_ram("64MiB"), Some(64 << 20));
        assert_eq!(parse_ram("-1"), Some(-1));
        assert_eq!(parse_ram("lots"), None);
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
    }
}
