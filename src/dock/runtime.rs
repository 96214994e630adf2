//! The OCI runtime, driven through its command line exactly as containerd and conmon drive
//! runc: `--root` of its own under dock's root, then create/start/state/kill/delete/exec/
//! pause/resume. Any runtime with runc's CLI works (berth, runc, crun).
//!
//! A small client of our own rather than the `runc` crate: dock needs the synchronous calls
//! only, with the container's stdio handed straight to `create`, which that crate's async
//! API does not fit.

use crate::dock::{Error, Result};
use nix::sys::signal::SigSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
}

/// The runtime's view of a container (`state ID`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct State {
    pub status: String,
}

impl Runtime {
    /// `--runtime PATH` (or a name on $PATH), else the berth installed next to dock, else the
    /// berth on $PATH.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
        if let Some(p) = explicit {
            if p.components().count() > 1 {
                if !p.exists() {
                    return Err(Error::new(format!(
                        "--runtime {}: no such file",
                        p.display()
                    )));
                }
                return Ok(p.to_path_buf());
            }
            return which(p).ok_or_else(|| {
                Error::new(format!("--runtime {}: not found on $PATH", p.display()))
            });
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("berth")));
        if let Some(b) = beside.filter(|b| b.exists()) {
            return Ok(b);
        }
        which(Path::new("berth")).ok_or_else(|| {
            Error::new(
                "no OCI runtime: berth is neither next to dock nor on $PATH (use --runtime PATH)",
            )
        })
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        // The monitor blocks the signals it reads from a signalfd; std does not unblock them
        // in children, and runc passes its mask on to the container (whose trap on USR1
        // would then never fire). Clear it between fork and exec.
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe calls (sigemptyset, pthread_sigmask); it allocates nothing.
        unsafe {
            c.pre_exec(|| {
                SigSet::empty()
                    .thread_set_mask()
                    .map_err(std::io::Error::from)
            });
        }
        c
    }

    /// Runs a short runtime command with captured output; an error carries its message.
    fn call(&self, args: &[&str]) -> Result<String> {
        let out = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("running {}: {e}", self.bin.display())))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(Error::new(format!(
            "{} {}: {}",
            self.name(),
            args.first().unwrap_or(&""),
            last_error(&String::from_utf8_lossy(&out.stderr))
        )))
    }

    /// The runtime's file name, for messages ("berth delete: ...").
    pub fn name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID` with the given stdio, which
    /// the container inherits (a pipe for logs, or the caller's terminal).
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console: Option<&Path>,
        stdio: [Stdio; 3],
    ) -> Result<()> {
        let log = bundle.join("runtime.log");
        let _ = fs::remove_file(&log);
        let mut c = self.cmd();
        c.arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"]);
        c.arg(bundle).arg("--pid-file").arg(pid_file);
        if let Some(s) = console {
            c.arg("--console-socket").arg(s);
        }
        c.arg(id);
        let [i, o, e] = stdio;
        c.stdin(i).stdout(o).stderr(e);
        let status = c
            .status()
            .map_err(|e| Error::new(format!("running {}: {e}", self.bin.display())))?;
        if status.success() {
            return Ok(());
        }
        let msg = fs::read_to_string(&log)
            .ok()
            .and_then(|l| last_json_error(&l));
        Err(Error::new(format!(
            "{} create: {}",
            self.name(),
            msg.unwrap_or_else(|| format!("failed ({status})"))
        )))
    }

    pub fn start(&self, id: &str) -> Result<()> {
        self.call(&["start", id]).map(drop)
    }

    /// `None` when the runtime has no such container.
    pub fn state(&self, id: &str) -> Option<State> {
        let out = self
            .cmd()
            .args(["state", id])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.call(&["kill", id, signal]).map(drop)
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        self.call(&["pause", id]).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        self.call(&["resume", id]).map(drop)
    }
}

/// The last meaningful line of a runtime's stderr (runc prefixes "time=... level=error msg=").
pub fn last_error(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed")
        .trim();
    if let Some(i) = line.find("msg=") {
        return line[i + 4..].trim_matches('"').to_string();
    }
    line.to_string()
}

/// The last `"level":"error"` message of a runtime's `--log-format json` log.
pub fn last_json_error(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_string))
}

/// The runtime's warnings from a create (a resource this host cannot apply, an unknown
/// capability).
pub fn warnings(bundle: &Path) -> Vec<String> {
    let log = fs::read_to_string(bundle.join("runtime.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "warning" || v["level"] == "warn")
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .collect()
}

/// Docker's status for a runtime's refusal to start a process: 127 when the command is not
/// there, 126 when it cannot be run, else 125.
pub fn exit_code_for(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        crate::dock::error::EXIT_NOT_FOUND
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("exec format error")
    {
        crate::dock::error::EXIT_CANNOT_INVOKE
    } else {
        crate::dock::error::EXIT_DOCK
    }
}

pub fn which(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_errors_become_one_line() {
        let runc = "time=\"2024\" level=error msg=\"container does not exist\"\n";
        assert_eq!(last_error(runc), "container does not exist");
        assert_eq!(
            last_error("berth: no such container: x\n\n"),
            "berth: no such container: x"
        );
        let log = "{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"exec: \\\"x\\\": executable file not found in $PATH\"}\n";
        let m = last_json_error(log).unwrap();
        assert_eq!(exit_code_for(&m), 127);
        assert_eq!(exit_code_for("exec /etc: permission denied"), 126);
        assert_eq!(exit_code_for("cgroup: EBUSY"), 125);
    }
}
