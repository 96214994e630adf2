//! The process `exec` runs: a runtime-spec Process object from `--process FILE`, or the
//! container's own `process` (from the config saved at create) with runc's command-line
//! overrides applied. Both pass through the same typed parsing and checks.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;
use serde_json::{json, Value};

use super::ExecOptions;
use crate::container::Error;
use crate::process::capabilities;
use crate::spec::{self, Config, SpecError};

/// The process and where its fields come from, for error messages.
pub struct Built {
    pub process: Process,
    pub file: PathBuf,
    /// "process." for the saved config, "" for a `--process` file.
    pub prefix: &'static str,
    /// Its AppArmor profile and SELinux label (checked here, applied by the child).
    pub lsm: crate::lsm::Plan,
}

pub fn build(o: &ExecOptions, config: &Config) -> Result<Built, Error> {
    let mut built = match o.process_file {
        Some(file) => from_file(file)?,
        None => from_config(o, config)?,
    };
    let invalid = |field: &str, msg: String| SpecError::Invalid {
        file: built.file.clone(),
        field: format!("{}{field}", built.prefix),
        msg,
    };
    let p = &built.process;
    // runc's checks of an exec'd process.
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("args", "must name the program to run".into()).into());
    }
    if !p.cwd().is_absolute() {
        return Err(invalid("cwd", "must be an absolute path".into()).into());
    }
    let lsm = crate::lsm::Plan::for_process(p).map_err(|(field, why)| {
        let flag = match field {
            "apparmorProfile" if o.process_file.is_none() => o.overrides.apparmor,
            "selinuxLabel" if o.process_file.is_none() => o.overrides.process_label,
            _ => None,
        };
        match flag {
            Some(v) if field == "apparmorProfile" => usage("--apparmor", v, &why),
            Some(v) => usage("--process-label", v, &why),
            None => invalid(field, why).into(),
        }
    })?;
    built.lsm = lsm;
    Ok(built)
}

fn from_file(file: &Path) -> Result<Built, Error> {
    let text = std::fs::read(file).map_err(|source| SpecError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let parse_err = |msg: String| SpecError::Parse {
        file: file.to_path_buf(),
        msg,
    };
    let value: Value = serde_json::from_slice(&text).map_err(|e| parse_err(e.to_string()))?;
    if !value.is_object() {
        return Err(parse_err("a process must be a JSON object".into()).into());
    }
    Ok(Built {
        process: spec::parse_process(value).map_err(parse_err)?,
        file: file.to_path_buf(),
        prefix: "",
        lsm: Default::default(),
    })
}

fn usage(flag: &str, value: &str, why: &str) -> Error {
    Error::Usage(format!("{flag} {value}: {why}"))
}

/// The container's process with the command line's changes, as runc's `exec` makes it.
fn from_config(o: &ExecOptions, config: &Config) -> Result<Built, Error> {
    if o.args.is_empty() {
        return Err(Error::Usage(
            "exec needs the program to run after the container id (or --process FILE)".into(),
        ));
    }
    let base = config
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| config.invalid("process", "is required"))?;
    let mut v = serde_json::to_value(base).map_err(|e| Error::Usage(e.to_string()))?;
    let c = &o.overrides;
    v["args"] = json!(o.args);
    if let Some(cwd) = c.cwd {
        if !cwd.is_absolute() {
            return Err(usage(
                "--cwd",
                &cwd.display().to_string(),
                "must be an absolute path",
            ));
        }
        v["cwd"] = json!(cwd);
    }
    if let Some(a) = c.apparmor.filter(|a| !a.is_empty()) {
        v["apparmorProfile"] = json!(a);
    }
    if let Some(l) = c.process_label.filter(|l| !l.is_empty()) {
        v["selinuxLabel"] = json!(l);
    }
    for cap in c.caps {
        let n =
            capabilities::number(cap).ok_or_else(|| usage("--cap", cap, "unknown capability"))?;
        let name = capabilities::NAMES[n as usize];
        if !v["capabilities"].is_object() {
            v["capabilities"] = json!({});
        }
        let sets = &mut v["capabilities"];
        // Ambient only where inheritable is set at all: the kernel refuses ambient
        // capabilities that are not inheritable (runc does the same).
        let mut targets = vec!["bounding", "effective", "permitted"];
        if sets.get("inheritable").is_some_and(|i| !i.is_null()) {
            targets.push("ambient");
        }
        for set in targets {
            match &mut sets[set] {
                Value::Array(a) => a.push(json!(name)),
                other => *other = json!([name]),
            }
        }
    }
    if !c.env.is_empty() {
        for e in c.env {
            if !e.contains('=') {
                return Err(usage("--env", e, "must be NAME=value"));
            }
        }
        match &mut v["env"] {
            Value::Array(a) => a.extend(c.env.iter().map(|e| json!(e))),
            other => *other = json!(c.env),
        }
    }
    // A terminal only when asked for on the command line, whatever the config says (runc).
    v["terminal"] = json!(c.tty);
    if c.no_new_privs {
        v["noNewPrivileges"] = json!(true);
    }
    if let Some(user) = c.user {
        let (uid, gid) = parse_user(user)?;
        v["user"]["uid"] = json!(uid);
        if let Some(gid) = gid {
            v["user"]["gid"] = json!(gid);
        }
    }
    for g in c.additional_gids {
        let gid = u32::try_from(*g)
            .map_err(|_| usage("--additional-gids", &g.to_string(), "not a group id"))?;
        match &mut v["user"]["additionalGids"] {
            Value::Array(a) => a.push(json!(gid)),
            other => *other = json!([gid]),
        }
    }
    let file = config.file.clone();
    let process = spec::parse_process(v).map_err(|msg| SpecError::Parse {
        file: file.clone(),
        msg,
    })?;
    Ok(Built {
        process,
        file,
        prefix: "process.",
        lsm: Default::default(),
    })
}

/// `uid` or `uid:gid`, numeric (as runc's `--user`).
fn parse_user(user: &str) -> Result<(u32, Option<u32>), Error> {
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| usage("--user", user, "expected UID or UID:GID, as numbers"))
    };
    match user.split_once(':') {
        Some((u, g)) => Ok((num(u)?, Some(num(g)?))),
        None => Ok((num(user)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:5").unwrap(), (1000, Some(5)));
        assert!(parse_user("bob").is_err());
        assert!(parse_user("1:").is_err());
        assert!(parse_user("-1").is_err());
    }
}
