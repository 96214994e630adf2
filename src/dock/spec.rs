//! The bundle's config.json, built as dockerd builds it: docker's default capabilities,
//! mounts, masked and read-only paths, device rules and seccomp profile (seccomp.rs, for the
//! container's capabilities), then the image's config and the `run` flags on top.

use serde_json::{json, Value};

/// Docker's default capabilities (moby's oci/caps/defaults.go).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, in number order (`--privileged`, `--cap-add ALL`): berth's
/// own table, the one thing dock takes from the runtime's library.
pub use berth::process::capabilities::NAMES as ALL_CAPS;

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A mount the user asked for (`-v`) or dock adds (/etc/hosts...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
}

/// What `run` decided, ready to become config.json.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub tty: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// Capability names, normalised (`CAP_X`), or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub binds: Vec<Bind>,
    pub network_host: bool,
    pub cgroups_path: String,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
}

/// Every capability dock itself may hand on (its bounding set): what `--privileged` and
/// `--cap-add ALL` mean for a daemonless engine, which can give no more than it holds.
pub fn all_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capability set after `--cap-add`/`--cap-drop` (docker's order: drop ALL first, then
/// add, then drop the rest).
pub fn capabilities(s: &Settings) -> Vec<String> {
    if s.privileged {
        return all_caps();
    }
    let mut caps: Vec<String> = if s.cap_drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    if s.cap_add.iter().any(|c| c == "ALL") {
        caps = all_caps();
    } else {
        for c in &s.cap_add {
            if !caps.contains(c) {
                caps.push(c.clone());
            }
        }
    }
    caps.retain(|c| !s.cap_drop.contains(c) || s.cap_add.contains(c));
    caps
}

fn devices(privileged: bool) -> Value {
    if privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let dev = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = json!({"allow": true, "type": t, "access": access});
        if let Some(m) = major {
            d["major"] = json!(m);
        }
        if let Some(m) = minor {
            d["minor"] = json!(m);
        }
        d
    };
    json!([
        {"allow": false, "access": "rwm"},
        dev("c", None, None, "m"),
        dev("b", None, None, "m"),
        dev("c", Some(1), Some(3), "rwm"),
        dev("c", Some(1), Some(5), "rwm"),
        dev("c", Some(1), Some(7), "rwm"),
        dev("c", Some(1), Some(8), "rwm"),
        dev("c", Some(1), Some(9), "rwm"),
        dev("c", Some(5), Some(0), "rwm"),
        dev("c", Some(5), Some(1), "rwm"),
        dev("c", Some(5), Some(2), "rwm"),
        dev("c", Some(136), None, "rwm"),
        dev("c", Some(10), Some(200), "rwm"),
    ])
}

/// config.json for the bundle; `rootfs` is the overlay mount point, `etc` the container's
/// generated hosts, hostname and resolv.conf files.
pub fn generate(s: &Settings, rootfs: &str, etc: &[Bind]) -> Value {
    let caps = capabilities(s);
    let ro = if s.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    let mut binds = s.binds.clone();
    binds.sort_by(|a, b| a.destination.cmp(&b.destination));
    for b in binds.iter().chain(etc) {
        let mut opts = vec!["rbind", "rprivate"];
        if b.readonly {
            opts.push("ro");
        }
        mounts.push(json!({"destination": b.destination, "type": "bind", "source": b.source, "options": opts}));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if !s.network_host {
        namespaces.push(json!({"type": "network"}));
    }
    let mut resources = json!({"devices": devices(s.privileged)});
    if let Some(m) = s.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(c) = s.cpus {
        resources["cpu"] = json!({"quota": (c * 100_000.0).round() as i64, "period": 100_000});
    }
    if let Some(p) = s.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "cgroupsPath": s.cgroups_path,
        "namespaces": namespaces,
        "resources": resources,
    });
    if !s.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        if let Some(p) = crate::dock::seccomp::profile(&caps) {
            linux["seccomp"] = p;
        }
    }
    let mut user = json!({"uid": s.uid, "gid": s.gid});
    if !s.additional_gids.is_empty() {
        user["additionalGids"] = json!(s.additional_gids);
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": s.tty,
            "user": user,
            "args": s.args,
            "env": s.env,
            "cwd": s.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": s.read_only},
        "hostname": s.hostname,
        "mounts": mounts,
        "linux": linux,
    })
}

/// The `process` of an exec'd command: the container's, with exec's own overrides.
pub fn exec_process(
    base: &Value,
    args: &[String],
    env: &[String],
    cwd: Option<&str>,
    user: Option<(u32, u32, Vec<u32>)>,
    tty: bool,
) -> Value {
    let mut p = base["process"].clone();
    p["args"] = json!(args);
    p["terminal"] = json!(tty);
    let mut all: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    merge_env(&mut all, env);
    p["env"] = json!(all);
    if let Some(c) = cwd {
        p["cwd"] = json!(c);
    }
    if let Some((uid, gid, extra)) = user {
        p["user"] = json!({"uid": uid, "gid": gid});
        if !extra.is_empty() {
            p["user"]["additionalGids"] = json!(extra);
        }
    }
    p
}

/// Adds `K=V` entries, replacing earlier ones of the same name.
pub fn merge_env(env: &mut Vec<String>, add: &[String]) {
    for kv in add {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            args: vec!["sh".into()],
            cwd: "/".into(),
            hostname: "abc".into(),
            cgroups_path: "/dock/abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_dockers() {
        let s = settings();
        let v = generate(&s, "/r", &[]);
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(v["linux"]["cgroupsPath"], "/dock/abc");
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(v["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(ns.contains(&"network") && ns.contains(&"pid"));
        assert_eq!(v["root"]["readonly"], false);
    }

    #[test]
    fn privileged_drops_confinement() {
        let mut s = settings();
        s.privileged = true;
        let v = generate(&s, "/r", &[]);
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            all_caps().len()
        );
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], true);
    }

    #[test]
    fn cap_add_and_drop_follow_docker() {
        let mut s = settings();
        s.cap_add = vec!["CAP_SYS_ADMIN".into()];
        s.cap_drop = vec!["CAP_CHOWN".into()];
        let c = capabilities(&s);
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()));
        s.cap_drop = vec!["ALL".into()];
        assert_eq!(capabilities(&s), vec!["CAP_SYS_ADMIN".to_string()]);
    }

    #[test]
    fn limits_and_binds_land_in_the_spec() {
        let mut s = settings();
        s.memory = Some(100 << 20);
        s.cpus = Some(0.5);
        s.pids_limit = Some(10);
        s.binds = vec![Bind {
            source: "/h".into(),
            destination: "/c".into(),
            readonly: true,
        }];
        s.network_host = true;
        let v = generate(&s, "/r", &[]);
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 100 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 10);
        let m = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/c")
            .unwrap();
        assert_eq!(m["options"], json!(["rbind", "rprivate", "ro"]));
        assert!(!v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
    }

    #[test]
    fn env_merges_by_name() {
        let mut e = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        merge_env(&mut e, &["A=2".into(), "B=3".into()]);
        assert_eq!(e, vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
