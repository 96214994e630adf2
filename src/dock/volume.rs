//! Named volumes: ROOT/volumes/<name>/_data, kept after the containers that used them and
//! refused to `rm` while any container (running or not) still names them.

use crate::dock::container;
use crate::dock::error::IoContext;
use crate::dock::store::Store;
use crate::dock::{Error, Result};
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;

pub fn valid_name(name: &str) -> bool {
    container::valid_name(name)
}

pub fn data_dir(store: &Store, name: &str) -> PathBuf {
    store.volumes().join(name).join("_data")
}

/// Creates the volume if it does not exist; returns its record.
pub fn create(store: &Store, name: &str) -> Result<Value> {
    if !valid_name(name) {
        return Err(Error::new(format!(
            "invalid volume name {name:?}: it must be at least two characters of [a-zA-Z0-9_.-], starting with a letter or digit"
        )));
    }
    let dir = store.volumes().join(name);
    let rec = dir.join("volume.json");
    if let Ok(v) = inspect(store, name) {
        return Ok(v);
    }
    // Made whole in staging, then renamed into place.
    let staging = store.staging("volume")?;
    let tmp = staging.path.join("volume");
    fs::create_dir_all(tmp.join("_data")).ctx("creating", &tmp)?;
    let v = json!({
        "CreatedAt": crate::dock::table::rfc3339_now(),
        "Driver": "local",
        "Labels": {},
        "Mountpoint": data_dir(store, name),
        "Name": name,
        "Options": {},
        "Scope": "local",
    });
    fs::write(
        tmp.join("volume.json"),
        serde_json::to_vec_pretty(&v).unwrap_or_default(),
    )
    .ctx("writing", &rec)?;
    // If another dock made it meanwhile, theirs stands (and ours goes with the staging).
    let _ = fs::rename(&tmp, &dir);
    inspect(store, name)
}

pub fn inspect(store: &Store, name: &str) -> Result<Value> {
    if !valid_name(name) {
        return Err(Error::new(format!("get {name}: no such volume")));
    }
    let rec = store.volumes().join(name).join("volume.json");
    let text = fs::read(&rec).map_err(|_| Error::new(format!("get {name}: no such volume")))?;
    serde_json::from_slice(&text).ctx("parsing", &rec)
}

pub fn list(store: &Store) -> Result<Vec<Value>> {
    let dir = store.volumes();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .ctx("reading", &dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names
        .iter()
        .filter_map(|n| inspect(store, n).ok())
        .collect())
}

/// Containers (short IDs) naming the volume.
pub fn users(store: &Store, name: &str) -> Result<Vec<String>> {
    Ok(container::list(store)?
        .into_iter()
        .filter(|r| r.volumes.iter().any(|v| v == name))
        .map(|r| r.id)
        .collect())
}

/// Removes a volume no container names; `force` only makes a missing one no error (as
/// docker: even -f never pulls a volume from under a container).
pub fn remove(store: &Store, name: &str, force: bool) -> Result<()> {
    if let Err(e) = inspect(store, name) {
        return if force { Ok(()) } else { Err(e) };
    }
    let users = users(store, name)?;
    if !users.is_empty() {
        return Err(Error::new(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    let dir = store.volumes().join(name);
    // Renamed first, so a half-removed volume is never found by name.
    let gone = store.trash_path();
    fs::rename(&dir, &gone).ctx("removing", &dir)?;
    fs::remove_dir_all(&gone).ctx("removing", &gone)
}
