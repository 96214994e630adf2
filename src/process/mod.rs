//! `process`: what the container's first program runs as, and the final exec.
//! Everything is converted to C strings and numbers in the parent, before clone.

pub mod capabilities;
pub mod cpu_affinity;
pub mod io_priority;
pub mod listen_fds;
pub mod rlimits;
pub mod scheduler;
pub mod user;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

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
    /// File descriptors 3..3+N the container inherits: the caller's socket-activation fds
    /// (`listen_fds`, first) and `--preserve-fds`.
    pub preserve_fds: u32,
    /// `$LISTEN_FDS` passed on (socket activation): the process gets LISTEN_FDS and LISTEN_PID.
    pub listen_fds: u32,
    /// `process.execCPUAffinity` (applies to `exec` only).
    pub cpu_affinity: cpu_affinity::Plan,
}

/// Where a process object came from, so that errors name its file and the field's JSON path:
/// `config.json: process.args` or, for `exec --process`, `process.json: args`.
pub struct Origin<'a> {
    pub file: &'a Path,
    /// The path of the process object in the file: "process." or "".
    pub prefix: &'a str,
}

impl Origin<'_> {
    pub fn of(c: &Config) -> Origin<'_> {
        Origin {
            file: &c.file,
            prefix: "process.",
        }
    }

    pub fn invalid(&self, field: impl AsRef<str>, msg: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            file: self.file.to_path_buf(),
            field: format!("{}{}", self.prefix, field.as_ref()),
            msg: msg.into(),
        }
    }
}

fn cstring(c: &Origin, field: &str, s: &str) -> Result<CString, SpecError> {
    CString::new(s).map_err(|_| c.invalid(field, "contains a NUL byte"))
}

impl Plan {
    pub fn from_config(c: &Config, preserve_fds: u32) -> Result<Plan, SpecError> {
        let p = c
            .spec
            .process()
            .as_ref()
            .ok_or_else(|| c.invalid("process", "is required"))?;
        Plan::from_process(p, &Origin::of(c), preserve_fds)
    }

    /// The plan for one process object (`process` of config.json, or exec's).
    pub fn from_process(p: &Process, c: &Origin, preserve_fds: u32) -> Result<Plan, SpecError> {
        let args = p
            .args()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, a)| cstring(c, &format!("args[{i}]"), a))
            .collect::<Result<_, _>>()?;
        let mut env: Vec<CString> = Vec::new();
        for (i, e) in p.env().iter().flatten().enumerate() {
            if !e.contains('=') {
                return Err(c.invalid(format!("env[{i}]"), "must be NAME=value"));
            }
            env.push(cstring(c, &format!("env[{i}]"), e)?);
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
        let caps = without_ungrantable(caps, capabilities::held());
        let mut limits = Vec::new();
        for (i, r) in p.rlimits().iter().flatten().enumerate() {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let resource = rlimits::resource(&name).ok_or_else(|| {
                c.invalid(
                    format!("rlimits[{i}].type"),
                    format!("unknown rlimit {name}"),
                )
            })?;
            if r.soft() > r.hard() {
                return Err(c.invalid(
                    format!("rlimits[{i}]"),
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
            .map_err(|e| c.invalid("ioPriority", e))?;
        let scheduler = p
            .scheduler()
            .as_ref()
            .map(scheduler::plan)
            .transpose()
            .map_err(|e| c.invalid("scheduler", e))?;
        let cpu_affinity = p
            .exec_cpu_affinity()
            .as_ref()
            .map(cpu_affinity::Plan::from_spec)
            .transpose()
            .map_err(|(field, e)| c.invalid(format!("execCPUAffinity.{field}"), e))?
            .unwrap_or_default();
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
            listen_fds: 0,
            cpu_affinity,
        })
    }

    /// Hands the caller's `listen_fds` socket-activation fds on: they come first among the
    /// inherited fds, and the process is told about them as systemd tells a service.
    pub fn with_listen_fds(mut self, listen_fds: u32) -> Plan {
        self.listen_fds = listen_fds;
        self.preserve_fds += listen_fds;
        self
    }

    /// LISTEN_FDS and LISTEN_PID (this process's pid as the container sees it: run in the
    /// process that execs, after it entered the container's pid namespace).
    pub fn add_listen_env(&mut self) {
        if self.listen_fds == 0 {
            return;
        }
        let pid = rustix::process::getpid().as_raw_nonzero();
        self.env.retain(|e| {
            let e = e.as_bytes();
            !e.starts_with(b"LISTEN_FDS=") && !e.starts_with(b"LISTEN_PID=")
        });
        for var in [
            format!("LISTEN_FDS={}", self.listen_fds),
            format!("LISTEN_PID={pid}"),
        ] {
            if let Ok(v) = CString::new(var) {
                self.env.push(v);
            }
        }
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

/// Capabilities berth itself does not hold cannot be given (capset fails with EPERM, as runc
/// 1.1 does): in a restricted environment, such as inside another container, they are left out
/// with a warning, as the runtime-spec asks, so that a privileged config still runs.
fn without_ungrantable(caps: capabilities::Sets, held: u64) -> capabilities::Sets {
    let wanted = caps.bounding | caps.effective | caps.permitted | caps.inheritable | caps.ambient;
    let missing = wanted & !held;
    if missing == 0 {
        return caps;
    }
    crate::logging::warn(&format!(
        "process.capabilities: skipping {}, which berth itself does not hold",
        capabilities::names(missing)
    ));
    capabilities::Sets {
        bounding: caps.bounding & held,
        effective: caps.effective & held,
        permitted: caps.permitted & held,
        inheritable: caps.inheritable & held,
        ambient: caps.ambient & held,
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
