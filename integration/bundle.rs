//! Bundles: a copy of the shared busybox rootfs plus a config.json built from `runc spec`'s.

use crate::host::{self, HostDir};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The busybox rootfs every bundle copies; built once per test run by hack/mkrootfs.sh.
pub fn rootfs_template() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-rootfs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/mkrootfs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run mkrootfs.sh");
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// `runc spec` output with process.terminal=false (linux.cgroupsPath is added per bundle).
pub fn base_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let no_exec_dev = json!(["nosuid", "noexec", "nodev"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": no_exec_dev},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A bundle directory: `rootfs/` (a copy of the busybox rootfs) and the config to write.
pub struct Bundle {
    dir: HostDir,
    /// The default container id, unique like the cgroup parent it lives under.
    pub id: String,
    /// `linux.cgroupsPath`: `/berth-it-<pid>-<n>/<id>`, absolute.
    pub cgroup_path: String,
    /// `/berth-it-<pid>-<n>`: removed with everything below it when the bundle is dropped.
    cgroup_parent: String,
    pub config: Value,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = HostDir::new();
        let status = Command::new("cp")
            .arg("-a")
            .arg(rootfs_template())
            .arg(dir.path().join("rootfs"))
            .status()
            .expect("run cp");
        assert!(status.success(), "copying the rootfs failed");
        let name = host::unique_name();
        let id = name.replacen("berth-it", "it", 1);
        let cgroup_parent = format!("/{name}");
        let cgroup_path = format!("{cgroup_parent}/{id}");
        let mut config = base_config();
        config["linux"]["cgroupsPath"] = json!(cgroup_path);
        Bundle {
            dir,
            id,
            cgroup_path,
            cgroup_parent,
            config,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn args(self, args: &[&str]) -> Bundle {
        self.set("/process/args", json!(args))
    }

    /// Sets the value at a JSON pointer, creating missing objects; `-` appends to an array.
    pub fn set(mut self, pointer: &str, value: Value) -> Bundle {
        let tokens: Vec<String> = pointer
            .strip_prefix('/')
            .unwrap_or_else(|| panic!("not a JSON pointer: {pointer}"))
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = tokens.split_last().expect("empty pointer");
        let mut cur = &mut self.config;
        for t in parents {
            cur = match cur {
                Value::Object(m) => m.entry(t.clone()).or_insert_with(|| json!({})),
                Value::Array(a) => &mut a[t.parse::<usize>().expect("array index")],
                other => panic!("{pointer}: cannot descend into {other}"),
            };
        }
        match cur {
            Value::Object(m) => {
                m.insert(last.clone(), value);
            }
            Value::Array(a) if last == "-" => a.push(value),
            Value::Array(a) => a[last.parse::<usize>().expect("array index")] = value,
            other => panic!("{pointer}: cannot set inside {other}"),
        }
        self
    }

    /// Appends a mount to `mounts`.
    pub fn mount(self, mount: Value) -> Bundle {
        self.set("/mounts/-", mount)
    }

    /// Writes config.json.
    pub fn write(&self) -> &Bundle {
        let text = serde_json::to_string_pretty(&self.config).expect("serialise config");
        fs::write(self.path().join("config.json"), text).expect("write config.json");
        self
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // The HostDir field then unmounts whatever is left under the bundle.
        host::remove_cgroup_tree(&self.cgroup_parent);
    }
}
