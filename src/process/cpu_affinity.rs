//! `process.execCPUAffinity`: the CPUs an `exec`'d process runs on. `initial` applies to berth
//! before the process joins the container's cgroup (it inherits it), `final` right after; with
//! neither, the affinity is reset to every CPU once inside the cgroup (as runc does), so the
//! process never keeps the narrow affinity of whoever called berth. It does not apply to the
//! container's init.

use oci_spec::runtime::ExecCPUAffinity;
use rustix::thread::CpuSet;

#[derive(Clone, Copy, Default)]
pub struct Plan {
    pub initial: Option<CpuSet>,
    pub last: Option<CpuSet>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |s: &Option<CpuSet>| s.map(|s| s.count());
        f.debug_struct("Plan")
            .field("initial", &count(&self.initial))
            .field("final", &count(&self.last))
            .finish()
    }
}

impl Plan {
    /// Parses both lists; the error names the field (`initial` or `final`).
    pub fn from_spec(a: &ExecCPUAffinity) -> Result<Plan, (&'static str, String)> {
        let list = |field, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(parse)
                .transpose()
                .map_err(|e| (field, e))
        };
        Ok(Plan {
            initial: list("initial", a.initial())?,
            last: list("final", a.cpu_affinity_final())?,
        })
    }

    /// What the process gets after joining the cgroup: `final`, or every CPU if nothing was
    /// asked for; `None` when only `initial` was given (the kernel's cpuset decides then).
    pub fn after_cgroup(&self) -> Option<CpuSet> {
        match (self.initial, self.last) {
            (_, Some(f)) => Some(f),
            (None, None) => Some(all()),
            (Some(_), None) => None,
        }
    }
}

/// Every CPU a cpu set can name; the kernel keeps those the cpuset allows.
pub fn all() -> CpuSet {
    let mut s = CpuSet::new();
    for cpu in 0..CpuSet::MAX_CPU {
        s.set(cpu);
    }
    s
}

/// A CPU list as in cpuset files: `0-3,7`, spaces and empty elements allowed.
pub fn parse(list: &str) -> Result<CpuSet, String> {
    let mut set = CpuSet::new();
    let mut any = false;
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| -> Result<usize, String> {
            let n: usize = s
                .trim()
                .parse()
                .map_err(|_| format!("{list:?}: {s:?} is not a CPU number"))?;
            if n >= CpuSet::MAX_CPU {
                return Err(format!(
                    "{list:?}: CPU {n} is above the {} berth can name",
                    CpuSet::MAX_CPU - 1
                ));
            }
            Ok(n)
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if a > b {
            return Err(format!("{list:?}: range {part} runs backwards"));
        }
        for cpu in a..=b {
            set.set(cpu);
        }
        any = true;
    }
    if !any {
        return Err(format!("{list:?} names no CPU"));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        let s = parse("0-2, 7,,9").unwrap();
        let on: Vec<usize> = (0..16).filter(|&c| s.is_set(c)).collect();
        assert_eq!(on, [0, 1, 2, 7, 9]);
        assert!(parse("3-1").is_err());
        assert!(parse("x").is_err());
        assert!(parse(",").is_err());
        assert!(parse("5000").is_err());
    }

    #[test]
    fn after_the_cgroup() {
        let one = parse("1").unwrap();
        let none = Plan::default();
        assert_eq!(none.after_cgroup().map(|s| s.count()), Some(all().count()));
        let initial_only = Plan {
            initial: Some(one),
            last: None,
        };
        assert!(initial_only.after_cgroup().is_none());
        let both = Plan {
            initial: Some(one),
            last: Some(parse("0").unwrap()),
        };
        assert!(both
            .after_cgroup()
            .is_some_and(|s| s.is_set(0) && !s.is_set(1)));
    }
}
