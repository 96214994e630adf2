//! `process`: what the container's first program runs as, and the final exec.
//! Everything is converted to C strings and numbers in the parent, before clone.

pub mod capabilities;
pub mod io_priority;
pub mod rlimits;
pub mod scheduler;
pub mod user;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::spec::{Config, SpecError};

pub struct Plan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
    /// An absent `process.capabilities` means no capabilities at all, as under runc.
    pub caps: capabilities::Sets,
    pub last_cap: u32,
    pub rlimits: Vec<rlimits::Limit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// (class, level) for ioprio_set.
    pub io_priority: Option<(u32, u32)>,
    pub scheduler: Option<libc::sched_attr>,
    /// File descriptors 3..3+N the caller passed for the container (`--preserve-fds`).
    pub preserve_fds: u32,
}

fn cstring(c: &Config, field: &str, s: &str) -> Result<CString, SpecError> {
    CString::new(s).map_err(|_| c.invalid(field, "contains a NUL byte"))
}

impl Plan {
    pub fn from_config(c: &Config, preserve_fds: u32) -> Result<Plan, SpecError> {
        let p = c
            .spec
            .process()
            .as_ref()
            .ok_or_else(|| c.invalid("process", "is required"))?;
        let args = p
            .args()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, a)| cstring(c, &format!("process.args[{i}]"), a))
            .collect::<Result<_, _>>()?;
        let mut env: Vec<CString> = Vec::new();
        for (i, e) in p.env().iter().flatten().enumerate() {
            if !e.contains('=') {
                return Err(c.invalid(format!("process.env[{i}]"), "must be NAME=value"));
            }
            env.push(cstring(c, &format!("process.env[{i}]"), e)?);
        }
        let last_cap = capabilities::last_cap();
        let caps = p
            .capabilities()
            .as_ref()
            .map_or_else(capabilities::Sets::default, |caps| {
                let m = |set: &Option<oci_spec::runtime::Capabilities>| {
                    let names: Vec<String> = set
                        .iter()
                        .flatten()
                        .map(|cap| format!("CAP_{cap}"))
                        .collect();
                    for n in &names {
                        if capabilities::number(n).is_some_and(|num| num > last_cap) {
                            crate::logging::debug(&format!(
                                "{n} is unknown to this kernel (cap_last_cap {last_cap}): skipped"
                            ));
                        }
                    }
                    capabilities::mask(names.iter().map(String::as_str), last_cap)
                };
                capabilities::Sets {
                    bounding: m(caps.bounding()),
                    effective: m(caps.effective()),
                    inheritable: m(caps.inheritable()),
                    permitted: m(caps.permitted()),
                    ambient: m(caps.ambient()),
                }
            });
        let mut limits = Vec::new();
        for (i, r) in p.rlimits().iter().flatten().enumerate() {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let resource = rlimits::resource(&name).ok_or_else(|| {
                c.invalid(
                    format!("process.rlimits[{i}].type"),
                    format!("unknown rlimit {name}"),
                )
            })?;
            if r.soft() > r.hard() {
                return Err(c.invalid(
                    format!("process.rlimits[{i}]"),
                    "soft limit is above the hard limit",
                ));
            }
            limits.push(rlimits::Limit {
                resource,
                soft: r.soft(),
                hard: r.hard(),
            });
        }
        let io_priority = p
            .io_priority()
            .as_ref()
            .map(io_priority::plan)
            .transpose()
            .map_err(|e| c.invalid("process.ioPriority", e))?;
        let scheduler = p
            .scheduler()
            .as_ref()
            .map(scheduler::plan)
            .transpose()
            .map_err(|e| c.invalid("process.scheduler", e))?;
        let user = p.user();
        Ok(Plan {
            args,
            env,
            cwd: p.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            groups: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022),
            caps,
            last_cap,
            rlimits: limits,
            no_new_privileges: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            io_priority,
            scheduler,
            preserve_fds,
        })
    }

    fn env_value(&self, name: &str) -> Option<&[u8]> {
        self.env.iter().rev().find_map(|e| {
            e.as_bytes()
                .strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
    }

    /// Resolves args[0] as execvp would, inside the container (run after pivot_root), so that a
    /// missing program fails `create`, not `start`. The errors are worded as runc's (Go's
    /// exec.LookPath): engines read them, e.g. docker and podman exit 127 on "no such file or
    /// directory" / "executable file not found" and 126 on "permission denied".
    pub fn find_program(&self) -> Result<CString, String> {
        let prog = self.args[0].as_bytes();
        if prog.contains(&b'/') {
            return match executable(prog) {
                Ok(()) => Ok(self.args[0].clone()),
                Err(e) => Err(format!("exec: {:?}: {e}", String::from_utf8_lossy(prog))),
            };
        }
        let path = self
            .env_value("PATH")
            .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for dir in path.split(|&b| b == b':') {
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(prog);
            if executable(&full).is_ok() {
                return CString::new(full).map_err(|e| e.to_string());
            }
        }
        Err(format!(
            "exec: {:?}: executable file not found in $PATH",
            String::from_utf8_lossy(prog)
        ))
    }

    /// Adds HOME from the container's /etc/passwd when the config does not set it.
    pub fn add_home(&mut self) {
        use std::io::Read;
        if self.env_value("HOME").is_none() {
            // The image's file: only a regular file, and only its first MiB (a FIFO or
            // /dev/zero placed there must not hang or exhaust the init).
            let mut passwd = String::new();
            if let Ok(f) = std::fs::File::open("/etc/passwd") {
                if f.metadata().is_ok_and(|m| m.is_file()) {
                    let _ = f.take(1 << 20).read_to_string(&mut passwd);
                }
            }
            if let Ok(home) = CString::new(format!("HOME={}", user::home(&passwd, self.uid))) {
                self.env.push(home);
            }
        }
    }
}

/// Whether `path` is a program execve can run, with Go's wording for why not: `stat PATH: no
/// such file or directory` (lower-case errno text), or `permission denied` for a directory or a
/// file without an execute bit.
fn executable(path: &[u8]) -> Result<(), String> {
    let os = std::ffi::OsStr::from_bytes(path);
    let meta = std::fs::metadata(os)
        .map_err(|e| format!("stat {}: {}", String::from_utf8_lossy(path), errno_text(&e)))?;
    let runnable = CString::new(path)
        .is_ok_and(|c| rustix::fs::access(c.as_c_str(), rustix::fs::Access::EXEC_OK).is_ok());
    if meta.is_file() && runnable {
        Ok(())
    } else {
        Err("permission denied".into())
    }
}

/// An errno as Go's syscall package words it: the C text, lower-case, without "(os error N)".
fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error ").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_gos_wording() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(errno_text(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(20);
        assert_eq!(errno_text(&e), "not a directory");
    }

    #[test]
    fn executable_says_why_not() {
        assert_eq!(
            executable(b"/no/such/file"),
            Err("stat /no/such/file: no such file or directory".into())
        );
        assert_eq!(executable(b"/"), Err("permission denied".into()));
        assert_eq!(executable(b"/bin/sh"), Ok(()));
    }
}
