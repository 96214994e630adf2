//! Loading and checking a bundle's `config.json`.
//!
//! Errors name the file and the JSON path of the field (`config.json: process.args: invalid type:
//! integer, expected a sequence`). Every check that can fail happens here, before anything is
//! created on the host, so a bad config leaves nothing behind.

pub mod template;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;

use crate::logging;
use crate::process::capabilities;

/// The runtime-spec version berth implements (oci-spec's own constant is stale).
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {msg}")]
    Parse { file: PathBuf, msg: String },
    #[error("{file}: {field}: {msg}")]
    Invalid {
        file: PathBuf,
        field: String,
        msg: String,
    },
}

/// A parsed config and where it came from.
pub struct Config {
    pub spec: Spec,
    pub file: PathBuf,
    pub bundle: PathBuf,
    /// The file's bytes, saved in the state dir at create: later commands (exec, update, the
    /// poststop hooks of delete) use the config the container was created with, not whatever
    /// the bundle holds by then.
    pub text: Vec<u8>,
}

impl Config {
    /// An error about one field of this config.
    pub fn invalid(&self, field: impl Into<String>, msg: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            file: self.file.clone(),
            field: field.into(),
            msg: msg.into(),
        }
    }
}

/// Reads `<bundle>/config.json` and checks it can be run.
pub fn load(bundle: &Path) -> Result<Config, SpecError> {
    let file = bundle.join("config.json");
    let text = std::fs::read(&file).map_err(|source| SpecError::Read {
        file: file.clone(),
        source,
    })?;
    let spec = parse(&text).map_err(|msg| SpecError::Parse {
        file: file.clone(),
        msg,
    })?;
    let config = Config {
        spec,
        file,
        bundle: bundle.to_path_buf(),
        text,
    };
    validate(&config)?;
    Ok(config)
}

/// Reads a config saved by create (already validated then; the bundle may be gone since).
pub fn load_saved(file: &Path, bundle: &Path) -> Result<Config, SpecError> {
    let text = std::fs::read(file).map_err(|source| SpecError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let spec = parse(&text).map_err(|msg| SpecError::Parse {
        file: file.to_path_buf(),
        msg,
    })?;
    Ok(Config {
        spec,
        file: file.to_path_buf(),
        bundle: bundle.to_path_buf(),
        text,
    })
}

/// Parses config.json text; the error names the JSON path of the offending field.
pub fn parse(text: &[u8]) -> Result<Spec, String> {
    let mut value: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    drop_unknown_capabilities(&mut value, "/process/capabilities", "process.capabilities");
    deserialize(value)
}

/// A runtime-spec Process object on its own (`exec --process FILE`, or exec's process made from
/// the saved config and the command line). As in runc, an absent `user` means uid 0, gid 0.
pub fn parse_process(mut value: Value) -> Result<oci_spec::runtime::Process, String> {
    if let Value::Object(m) = &mut value {
        m.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    drop_unknown_capabilities(&mut value, "/capabilities", "capabilities");
    deserialize(value)
}

/// Typed parsing; the error names the JSON path of the offending field.
fn deserialize<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })
}

/// The runtime-spec says unknown capability names are warned about and ignored; oci-spec's enum
/// would reject the whole file, so they are taken out first.
fn drop_unknown_capabilities(config: &mut Value, pointer: &str, field: &str) {
    let Some(Value::Object(sets)) = config.pointer_mut(pointer) else {
        return;
    };
    for (set, names) in sets.iter_mut() {
        if let Value::Array(names) = names {
            names.retain(|n| match n.as_str() {
                Some(name) if capabilities::number(name).is_none() => {
                    logging::warn(&format!(
                        "{field}.{set}: unknown capability {name:?} ignored"
                    ));
                    false
                }
                _ => true,
            });
        }
    }
}

fn validate(c: &Config) -> Result<(), SpecError> {
    let spec = &c.spec;
    // Absent (as runc, which never reads it, allows) or 1.x.
    let version = spec.version();
    match semver_major(version) {
        _ if version.is_empty() => {}
        Some(1) => {}
        Some(_) => {
            return Err(c.invalid(
                "ociVersion",
                format!("{version}: berth implements runtime-spec 1.x (up to {OCI_VERSION})"),
            ))
        }
        None => {
            return Err(c.invalid(
                "ociVersion",
                format!("{version:?} is not a SemVer 2.0.0 version (e.g. \"{OCI_VERSION}\")"),
            ))
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| c.invalid("process", "is required"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(c.invalid("process.args", "must name the program to run"));
    }
    if !process.cwd().is_absolute() {
        return Err(c.invalid("process.cwd", "must be an absolute path"));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| c.invalid("root", "is required"))?;
    if root.path().as_os_str().is_empty() {
        return Err(c.invalid("root.path", "is required"));
    }
    let rootfs = c.bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(c.invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => return Err(c.invalid("root.path", format!("{}: {e}", rootfs.display()))),
    }
    validate_namespaces(c)?;
    refuse_unapplied(c)
}

/// The major version of a SemVer 2.0.0 string (`1.0.2-dev`, `1.2.0+build.5`), or `None` if it
/// is not one.
fn semver_major(v: &str) -> Option<u64> {
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let (rest, build) = v.split_once('+').map_or((v, None), |(r, b)| (r, Some(b)));
    if build.is_some_and(|b| !b.split('.').all(ident)) {
        return None;
    }
    let (core, pre) = rest
        .split_once('-')
        .map_or((rest, None), |(c, p)| (c, Some(p)));
    if pre.is_some_and(|p| !p.split('.').all(ident)) {
        return None;
    }
    let nums: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    if nums.len() != 3 || !nums.iter().all(numeric) {
        return None;
    }
    nums[0].parse().ok()
}

fn validate_namespaces(c: &Config) -> Result<(), SpecError> {
    let linux = c
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| c.invalid("linux", "is required on Linux"))?;
    let empty = Vec::new();
    let namespaces = linux.namespaces().as_ref().unwrap_or(&empty);
    let mut seen = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if seen.contains(&ns.typ()) {
            return Err(c.invalid(
                format!("linux.namespaces[{i}]"),
                format!("{} namespace listed twice", ns.typ()),
            ));
        }
        seen.push(ns.typ());
    }
    // A uts namespace joined by path gets the name, as under runc; only the runtime's own
    // (none listed) is refused.
    let has_uts = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts);
    for (field, value) in [
        ("hostname", c.spec.hostname()),
        ("domainname", c.spec.domainname()),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_empty()) && !has_uts {
            return Err(c.invalid(
                field,
                "needs a uts namespace in linux.namespaces, or the host's name would change",
            ));
        }
    }
    Ok(())
}

/// Fields whose effect berth does not apply yet. Running without them would change what the
/// container may do, so they are refused by name instead of silently ignored. (`linux.resources`
/// is applied by cgroups: a limit the host cannot apply fails there, by name.)
fn refuse_unapplied(c: &Config) -> Result<(), SpecError> {
    let spec = &c.spec;
    let linux = spec.linux().as_ref();
    let not_yet = |field: &str| Err(c.invalid(field, "is not supported by berth yet"));
    if let Some(linux) = linux {
        if linux.intel_rdt().is_some() {
            return not_yet("linux.intelRdt");
        }
        if linux.time_offsets().as_ref().is_some_and(|m| !m.is_empty()) {
            return not_yet("linux.timeOffsets");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::to_value(template::default_spec(false)).unwrap()
    }

    #[test]
    fn wrong_type_names_the_json_path() {
        let mut v = base();
        v["process"]["args"] = 5.into();
        let err = parse(v.to_string().as_bytes()).unwrap_err();
        assert!(
            err.starts_with("process.args: invalid type: integer"),
            "{err}"
        );
    }

    #[test]
    fn nested_path_includes_index() {
        let mut v = base();
        v["mounts"][1]["destination"] = true.into();
        let err = parse(v.to_string().as_bytes()).unwrap_err();
        assert!(err.starts_with("mounts[1].destination:"), "{err}");
    }

    #[test]
    fn oci_versions_are_semver() {
        for (v, major) in [
            ("1.0.2-dev", Some(1)),
            ("1.2.0", Some(1)),
            ("1.1.0-rc.1+build.5", Some(1)),
            ("2.0.0", Some(2)),
            ("invalid", None),
            ("1.0", None),
            ("01.0.0", None),
            ("1.0.0-", None),
            ("1.0.0+", None),
            ("", None),
        ] {
            assert_eq!(semver_major(v), major, "{v:?}");
        }
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse(b"{\"ociVersion\": ").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn unknown_capabilities_are_dropped_not_fatal() {
        let mut v = base();
        v["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_KILL", "CAP_NOT_A_CAP"]);
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }
}
