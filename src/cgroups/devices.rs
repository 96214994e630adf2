//! `linux.resources.devices`: which device nodes the container may create and open. A security
//! boundary (with CAP_MKNOD a container could otherwise open the host's disks), so it is never
//! merely warned about: on v1 it is written to the devices controller; on a cgroup2-only host,
//! where it needs an eBPF filter berth does not build yet, a config with rules is refused.

use std::fs;

use super::{io_err, Cgroup, CgroupError};
use crate::spec::{Config, SpecError};

/// One device cgroup rule, as the v1 controller reads it: `c 1:3 rwm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// `a`, `c` or `b`.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl Rule {
    fn allow(kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule {
            allow: true,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    /// The line for devices.allow / devices.deny.
    pub fn line(&self) -> String {
        if self.kind == 'a' {
            return "a".into();
        }
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

/// runc 1.1's default allow-list, appended after the config's rules: mknod of anything, and
/// use of the standard devices, ptys and tun (/dev/console is not in runc 1.1.5's list).
fn defaults() -> Vec<Rule> {
    let c = |maj, min| Rule::allow('c', Some(maj), min, "rwm");
    vec![
        Rule::allow('c', None, None, "m"),
        Rule::allow('b', None, None, "m"),
        c(1, Some(3)),
        c(1, Some(8)),
        c(1, Some(7)),
        c(5, Some(0)),
        c(1, Some(5)),
        c(1, Some(9)),
        c(136, None),
        c(5, Some(2)),
        c(10, Some(200)),
    ]
}

/// The rules to apply, in order, as runc does: deny everything, then the config's rules, runc's
/// defaults, and one allowing each node of `linux.devices`. Applied even when the config has no
/// rules: the defaults are then the whole allow-list.
pub fn rules(c: &Config) -> Result<Vec<Rule>, SpecError> {
    let linux = c.spec.linux().as_ref();
    let config_rules = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref())
        .cloned()
        .unwrap_or_default();
    let mut out = vec![Rule {
        allow: false,
        ..Rule::allow('a', None, None, "rwm")
    }];
    for (i, d) in config_rules.iter().enumerate() {
        let kind = match d.typ().map(|t| t.as_str().to_string()).as_deref() {
            None | Some("a") => 'a',
            Some("c") | Some("u") => 'c',
            Some("b") => 'b',
            Some(other) => {
                return Err(c.invalid(
                    format!("linux.resources.devices[{i}].type"),
                    format!("{other:?} is not a, c or b"),
                ))
            }
        };
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|ch| "rwm".contains(ch)) {
            return Err(c.invalid(
                format!("linux.resources.devices[{i}].access"),
                format!("{access:?} is not a combination of r, w and m"),
            ));
        }
        out.push(Rule {
            allow: d.allow(),
            kind,
            major: d.major(),
            minor: d.minor(),
            access,
        });
    }
    out.extend(defaults());
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let kind = match d.typ().as_str() {
            "b" => 'b',
            "p" => continue, // a FIFO is no device to the cgroup
            _ => 'c',
        };
        out.push(Rule::allow(kind, Some(d.major()), Some(d.minor()), "rwm"));
    }
    Ok(out)
}

impl Cgroup {
    /// Writes `rules` to the v1 devices controller, in order (the first, deny-all, resets the
    /// new cgroup's allow-everything default). Returns false if the host has no v1 devices
    /// controller (the caller decides what that means).
    pub fn apply_device_rules(&self, rules: &[Rule]) -> Result<bool, CgroupError> {
        let Some(dir) = self.dirs.iter().find(|d| d.hierarchy == "devices") else {
            return Ok(false);
        };
        for r in rules {
            let file = dir.path.join(if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            });
            fs::write(&file, r.line()).map_err(io_err("writing a device rule to", &file))?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            Rule::allow('c', Some(1), Some(3), "rwm").line(),
            "c 1:3 rwm"
        );
        assert_eq!(Rule::allow('b', None, None, "m").line(), "b *:* m");
        assert_eq!(
            Rule::allow('c', Some(136), None, "rwm").line(),
            "c 136:* rwm"
        );
        assert_eq!(
            Rule {
                allow: false,
                ..Rule::allow('a', None, None, "rwm")
            }
            .line(),
            "a"
        );
    }
}
