//! `update`: change a live container's `linux.resources`. The change (runc's flags turned into
//! JSON, or the LinuxResources JSON of `--resources`) is merged into the resources of the config
//! the container was created with (saved in its state dir), the merged limits are applied, and
//! the merged config is saved again, so that the next update starts from what is in force.

use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::{sys_err, Container, Error};
use crate::cgroups::{devices, CgroupError};
use crate::spec::Config;
use crate::state::{StateDir, Status};

/// Fields where runc's update treats 0 (or "") as "leave as it is": dockerd and containerd
/// send every field, the unchanged ones as zero.
const ZERO_IS_UNSET: &[&str] = &[
    "/memory/limit",
    "/memory/reservation",
    "/memory/swap",
    "/memory/kernel",
    "/memory/kernelTCP",
    "/cpu/shares",
    "/cpu/quota",
    "/cpu/period",
    "/cpu/realtimeRuntime",
    "/cpu/realtimePeriod",
    "/cpu/cpus",
    "/cpu/mems",
    "/blockIO/weight",
    "/pids/limit",
];

/// Merges `patch` into `base`: objects key by key, anything else replaced; runc's "zero means
/// unchanged" fields are skipped when zero.
pub fn merge(base: &mut Value, patch: &Value, path: &str) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                let sub = format!("{path}/{k}");
                let zero = v.as_i64() == Some(0) || v.as_u64() == Some(0) || v.as_str() == Some("");
                if zero && ZERO_IS_UNSET.contains(&sub.as_str()) {
                    continue;
                }
                if v.is_null() {
                    continue;
                }
                let slot = b.entry(k.clone()).or_insert(Value::Null);
                if slot.is_null() && v.is_object() {
                    *slot = json!({});
                }
                merge(slot, v, &sub);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

pub fn update(root: &Path, id: &str, patch: &Value) -> Result<(), Error> {
    // Read under the lock (see StateDir::lock).
    let _lock = StateDir::open(root, id)?.lock()?;
    let c = Container::load(root, id)?;
    if matches!(c.status, Status::Stopped | Status::Creating) {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: c.status,
            action: "only a created, running or paused container can be updated",
        });
    }
    let old = c.config()?;
    let mut doc: Value = serde_json::from_slice(&old.text)
        .map_err(|e| Error::Usage(format!("{}: {e}", old.file.display())))?;
    let mut merged = doc
        .pointer("/linux/resources")
        .cloned()
        .unwrap_or_else(|| json!({}));
    merge(&mut merged, patch, "");
    let resources: LinuxResources =
        serde_path_to_error::deserialize(merged.clone()).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "linux.resources".to_string()
            } else {
                format!("linux.resources.{path}")
            };
            Error::Usage(format!("{field}: {}", e.inner()))
        })?;
    check_before_update(&c, &resources)?;
    let cg = &c.state.cgroup;
    cg.apply(&resources)?;

    doc["linux"]["resources"] = merged;
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Usage(e.to_string()))?;
    if patch.get("devices").is_some() {
        // Changed device rules: v1 writes the difference, v2 replaces the program.
        let mut spec = old.spec.clone();
        if let Some(linux) = spec.linux_mut() {
            linux.set_resources(Some(resources));
        }
        let new = Config {
            spec,
            file: old.file.clone(),
            bundle: old.bundle.clone(),
            text: text.clone(),
        };
        let (old_rules, new_rules) = (devices::rules(&old)?, devices::rules(&new)?);
        cg.apply_devices(&new_rules, Some(&old_rules))?;
    }
    save(&old.file, &text)
}

/// `memory.checkBeforeUpdate`: refuse a memory limit below what the container already uses
/// (cgroup v1 refuses it by itself; v2 would reclaim, then OOM-kill).
fn check_before_update(c: &Container, r: &LinuxResources) -> Result<(), Error> {
    let Some(m) = r.memory() else {
        return Ok(());
    };
    let (Some(true), Some(limit)) = (m.check_before_update(), m.limit().filter(|&l| l > 0)) else {
        return Ok(());
    };
    let Some((dir, v2)) = c.state.cgroup.memory_dir() else {
        return Ok(());
    };
    let file = dir.join(if v2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    });
    let usage: i64 = crate::cgroups::read(&file)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if usage > limit {
        return Err(CgroupError::Unsupported {
            field: "linux.resources.memory.limit".into(),
            why: format!(
                "{limit} is below the current usage {usage} ({}), and memory.checkBeforeUpdate is set",
                file.display()
            ),
        }
        .into());
    }
    Ok(())
}

/// Writes the config atomically next to itself.
fn save(file: &Path, text: &[u8]) -> Result<(), Error> {
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(sys_err(format!("saving {}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_left_alone_and_objects_merge() {
        let mut base = json!({"memory": {"limit": 100, "swap": 200}, "cpu": {"shares": 512}});
        let patch = json!({
            "memory": {"limit": 300, "swap": 0, "reservation": 0},
            "cpu": {"shares": 0, "cpus": "", "mems": "0"},
            "pids": {"limit": 10},
            "unified": {"memory.high": "1000"}
        });
        merge(&mut base, &patch, "");
        assert_eq!(
            base,
            json!({
                "memory": {"limit": 300, "swap": 200},
                "cpu": {"shares": 512, "mems": "0"},
                "pids": {"limit": 10},
                "unified": {"memory.high": "1000"}
            })
        );
    }
}
