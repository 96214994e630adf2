//! `linux.resources.devices`: which device nodes the container may create and open. A security
//! boundary (with CAP_MKNOD a container could otherwise open the host's disks), so it is never
//! merely warned about. The rules keep cgroup v1's meaning on every host: on v1 they are written
//! to the devices controller; on cgroup v2 `Emulated` computes what v1 would hold after them and
//! ebpf.rs turns that into the BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup.

use std::fs;
use std::io::Write;

use super::{Cgroup, CgroupError};
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

/// Access bits, as the BPF device hook passes them (BPF_DEVCG_ACC_*).
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
pub const RWM: u8 = MKNOD | READ | WRITE;

fn access_bits(access: &str) -> u8 {
    access.chars().fold(0, |b, c| {
        b | match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => 0,
        }
    })
}

fn access_text(bits: u8) -> String {
    [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| c)
        .collect()
}

/// One entry of a v1 devices cgroup's exception list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// `c` or `b`.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: u8,
}

impl Exception {
    fn same_device(&self, o: &Exception) -> bool {
        (self.kind, self.major, self.minor) == (o.kind, o.major, o.minor)
    }

    fn line(&self, access: u8) -> String {
        Rule {
            allow: true,
            kind: self.kind,
            major: self.major,
            minor: self.minor,
            access: access_text(access),
        }
        .line()
    }
}

/// What the v1 devices controller holds after a sequence of rules (the kernel's
/// security/device_cgroup.c semantics): a default, and exceptions to it. `a` resets both; a rule
/// of the other action adds an exception; a rule of the default's action removes access bits
/// from the exception for exactly that device (it never punches holes in a wildcard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emulated {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

impl Emulated {
    pub fn new(rules: &[Rule]) -> Emulated {
        // A new v1 cgroup allows everything.
        let mut e = Emulated {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for r in rules {
            e.apply(r);
        }
        e
    }

    fn apply(&mut self, r: &Rule) {
        if r.kind == 'a' {
            self.default_allow = r.allow;
            self.exceptions.clear();
            return;
        }
        let ex = Exception {
            kind: r.kind,
            major: r.major,
            minor: r.minor,
            access: access_bits(&r.access),
        };
        let existing = self.exceptions.iter_mut().find(|e| e.same_device(&ex));
        if r.allow == self.default_allow {
            if let Some(e) = existing {
                e.access &= !ex.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = existing {
            e.access |= ex.access;
        } else if ex.access != 0 {
            self.exceptions.push(ex);
        }
    }

    /// Whether the kernel's v1 check lets `access` to device kind:major:minor through.
    pub fn allows(&self, kind: char, major: i64, minor: i64, access: u8) -> bool {
        let dev = |e: &Exception| {
            e.kind == kind
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            // Denied if any exception covers part of the access.
            !self
                .exceptions
                .iter()
                .any(|e| dev(e) && e.access & access != 0)
        } else {
            // Allowed if one exception covers all of it.
            self.exceptions
                .iter()
                .any(|e| dev(e) && access & !e.access == 0)
        }
    }

    /// The v1 writes that take a cgroup from `self` to `to`: (allow?, line). A change of
    /// default needs the reset; otherwise new access is granted before old access is taken
    /// away, so a running container never loses a device it keeps.
    pub fn writes_to(&self, to: &Emulated) -> Vec<(bool, String)> {
        let exception_file = !to.default_allow;
        if self.default_allow != to.default_allow {
            let mut w = vec![(to.default_allow, "a".to_string())];
            w.extend(
                to.exceptions
                    .iter()
                    .map(|e| (exception_file, e.line(e.access))),
            );
            return w;
        }
        let mut w = Vec::new();
        for e in &to.exceptions {
            let had = self
                .exceptions
                .iter()
                .find(|o| o.same_device(e))
                .map_or(0, |o| o.access);
            if e.access & !had != 0 {
                w.push((exception_file, e.line(e.access & !had)));
            }
        }
        for o in &self.exceptions {
            let keep = to
                .exceptions
                .iter()
                .find(|e| e.same_device(o))
                .map_or(0, |e| e.access);
            if o.access & !keep != 0 {
                w.push((!exception_file, o.line(o.access & !keep)));
            }
        }
        w
    }
}

impl Cgroup {
    /// Writes device rules to the v1 devices controller: on a new cgroup `rules` in order (the
    /// first, deny-all, resets its allow-everything default); on update, only the difference
    /// from `old` (the rules applied before). Returns false if the host has no v1 devices
    /// controller.
    pub fn apply_device_rules_v1(
        &self,
        rules: &[Rule],
        old: Option<&[Rule]>,
    ) -> Result<bool, CgroupError> {
        let Some(dir) = self.dirs.iter().find(|d| d.hierarchy == "devices") else {
            return Ok(false);
        };
        let writes: Vec<(bool, String)> = match old {
            None => rules.iter().map(|r| (r.allow, r.line())).collect(),
            Some(old) => Emulated::new(old).writes_to(&Emulated::new(rules)),
        };
        // Each file is opened once; the kernel takes one rule per write(2), in order.
        let mut files: [Option<fs::File>; 2] = [None, None];
        for (allow, line) in writes {
            let file = dir.path.join(if allow {
                "devices.allow"
            } else {
                "devices.deny"
            });
            let err = |source| CgroupError::Limit {
                field: "linux.resources.devices".into(),
                file: file.clone(),
                value: line.clone(),
                source,
            };
            let slot = &mut files[usize::from(allow)];
            let f = match slot {
                Some(f) => f,
                None => slot.insert(
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&file)
                        .map_err(err)?,
                ),
            };
            f.write_all(line.as_bytes()).map_err(err)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, a: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: a.into(),
        }
    }

    /// runc's defaults after a deny-all: mknod of anything, use of the listed devices only.
    #[test]
    fn default_deny_with_runc_defaults() {
        let mut rules = vec![rule(false, 'a', None, None, "rwm")];
        rules.extend(defaults());
        let e = Emulated::new(&rules);
        assert!(!e.default_allow);
        assert!(e.allows('c', 1, 3, READ | WRITE));
        assert!(e.allows('c', 1, 11, MKNOD));
        assert!(!e.allows('c', 1, 11, READ));
        assert!(e.allows('c', 136, 7, READ | WRITE));
        assert!(!e.allows('b', 8, 0, READ));
        assert!(e.allows('b', 8, 0, MKNOD));
    }

    /// In allow-list mode a deny rule holds even after runc's allows: they remove only exact
    /// matches, and a deny covers mknod too.
    #[test]
    fn default_allow_with_a_denied_device() {
        let mut rules = vec![
            rule(true, 'a', None, None, "rwm"),
            rule(false, 'c', Some(1), Some(1), "rwm"),
            rule(false, 'c', Some(1), Some(11), "rw"),
        ];
        rules.extend(defaults());
        let e = Emulated::new(&rules);
        assert!(e.default_allow);
        assert!(!e.allows('c', 1, 1, MKNOD));
        assert!(!e.allows('c', 1, 1, READ));
        assert!(e.allows('c', 1, 11, MKNOD));
        assert!(!e.allows('c', 1, 11, WRITE));
        assert!(e.allows('c', 1, 5, READ));
    }

    #[test]
    fn removal_is_exact_and_by_bits() {
        let e = Emulated::new(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "rwm"),
            rule(false, 'c', Some(1), Some(3), "rwm"), // no hole in the wildcard
            rule(true, 'c', Some(4), Some(1), "rwm"),
            rule(false, 'c', Some(4), Some(1), "w"),
        ]);
        assert!(e.allows('c', 1, 3, READ));
        assert!(e.allows('c', 4, 1, READ));
        assert_eq!(e.exceptions.len(), 2);
        assert_eq!(e.exceptions[1].access, READ | MKNOD);
    }

    #[test]
    fn update_writes_grant_before_they_revoke() {
        let old = Emulated::new(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(10), Some(200), "rwm"),
        ]);
        let new = Emulated::new(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rw"),
            rule(true, 'c', Some(1), Some(5), "rwm"),
        ]);
        assert_eq!(
            old.writes_to(&new),
            vec![
                (true, "c 1:5 rwm".to_string()),
                (false, "c 1:3 m".to_string()),
                (false, "c 10:200 rwm".to_string()),
            ]
        );
        assert_eq!(new.writes_to(&new), vec![]);
        let open = Emulated::new(&[rule(true, 'a', None, None, "rwm")]);
        assert_eq!(new.writes_to(&open), vec![(true, "a".to_string())]);
    }

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
