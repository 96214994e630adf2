//! `hooks`: the OCI lifecycle hooks, each run where and when runtime-spec 1.2 says:
//!
//! | hook | run by | namespaces | moment | status |
//! |---|---|---|---|---|
//! | prestart, createRuntime | `berth create` | the runtime's | the init has built every mount and waits before pivot_root | created |
//! | createContainer | the init | the container's (host paths still visible) | right after those, before pivot_root | created |
//! | startContainer | the init | the container's, after pivot_root | `start` connected; just before the exec | created |
//! | poststart | `berth start` | the runtime's | the exec happened; before `start` returns | running |
//! | poststop | `berth delete` | the runtime's | cgroup and state dir removed; before `delete` returns | stopped |
//!
//! The pid in the state is the one the hook's namespace sees. A failing prestart, createRuntime
//! or createContainer hook fails `create` (which removes everything); a failing startContainer
//! hook fails `start` and the init exits; poststart and poststop failures are warnings, and the
//! remaining hooks still run (spec 1.2; 1.3 makes poststart fatal, runc's behaviour).
//!
//! A hook's stdin is a memfd holding the state JSON and its stdout and stderr go to another
//! memfd: nothing can block on a full pipe, a hook that leaves a daemon holding its output
//! cannot hang berth (runc waits for such pipes to close), and the output's tail goes into the
//! error. A hook past its `timeout` is killed with its whole process group.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::channel::{Channel, FromInit, ToInit};
use crate::init::{Context as _, StepError};
use crate::logging;
use crate::spec::{Config, SpecError};
use crate::sys::spawn::{self, Exit, Program, Stdio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// The config.json name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// Run by the init, inside the container's namespaces.
    fn in_container(self) -> bool {
        matches!(self, Kind::CreateContainer | Kind::StartContainer)
    }
}

/// One hook, converted for execve before any clone.
pub struct Hook {
    program: Program,
    timeout: Option<Duration>,
}

/// Every hook of a config, in the listed order.
#[derive(Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// The config's hooks; a bad entry is an error naming it (`hooks.poststart[1].timeout`).
    pub fn from_config(c: &Config) -> Result<Hooks, SpecError> {
        from_spec(c.spec.hooks().as_ref()).map_err(|(field, msg)| c.invalid(field, msg))
    }

    /// The hooks of the config saved at create (`state::CONFIG_FILE`). Only the `hooks` member is
    /// parsed: `start` and `delete` need nothing else, and this costs ~2 µs against ~30-90 µs
    /// for the whole config.
    pub fn from_saved_config(file: &Path) -> Result<Hooks, String> {
        #[derive(serde::Deserialize)]
        struct OnlyHooks {
            #[serde(default)]
            hooks: Option<oci_spec::runtime::Hooks>,
        }
        let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let only: OnlyHooks =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        from_spec(only.hooks.as_ref())
            .map_err(|(field, msg)| format!("{}: {field}: {msg}", file.display()))
    }

    pub fn is_empty(&self) -> bool {
        [
            &self.prestart,
            &self.create_runtime,
            &self.create_container,
            &self.start_container,
            &self.poststart,
            &self.poststop,
        ]
        .iter()
        .all(|h| h.is_empty())
    }
}

#[allow(deprecated)] // prestart: deprecated by the spec, still what dockerd and others use.
fn from_spec(h: Option<&oci_spec::runtime::Hooks>) -> Result<Hooks, (String, String)> {
    let Some(h) = h else {
        return Ok(Hooks::default());
    };
    let list = |kind: Kind, v: &Option<Vec<oci_spec::runtime::Hook>>| {
        v.iter()
            .flatten()
            .enumerate()
            .map(|(i, hook)| convert(kind, i, hook))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Hooks {
        prestart: list(Kind::Prestart, h.prestart())?,
        create_runtime: list(Kind::CreateRuntime, h.create_runtime())?,
        create_container: list(Kind::CreateContainer, h.create_container())?,
        start_container: list(Kind::StartContainer, h.start_container())?,
        poststart: list(Kind::Poststart, h.poststart())?,
        poststop: list(Kind::Poststop, h.poststop())?,
    })
}

fn convert(kind: Kind, i: usize, h: &oci_spec::runtime::Hook) -> Result<Hook, (String, String)> {
    let field = |f: &str| format!("hooks.{}[{i}]{f}", kind.name());
    let cstr = |f: &str, b: &[u8]| {
        CString::new(b).map_err(|_| (field(f), "contains a NUL byte".to_string()))
    };
    if !h.path().is_absolute() {
        return Err((field(".path"), "must be an absolute path".into()));
    }
    let path = cstr(".path", h.path().as_os_str().as_bytes())?;
    // No args: argv is just the path, as execv callers (and runc) do.
    let args = match h.args().as_deref() {
        None | Some([]) => vec![path.clone()],
        Some(a) => a
            .iter()
            .enumerate()
            .map(|(j, s)| cstr(&format!(".args[{j}]"), s.as_bytes()))
            .collect::<Result<_, _>>()?,
    };
    let env = match h.env() {
        Some(env) => env
            .iter()
            .enumerate()
            .map(|(j, s)| cstr(&format!(".env[{j}]"), s.as_bytes()))
            .collect::<Result<_, _>>()?,
        // As under runc: hooks run by the runtime inherit its environment, hooks run by the
        // init start with none (the init's environment is not the container's).
        None if kind.in_container() => Vec::new(),
        None => inherited_env(),
    };
    let timeout = match h.timeout() {
        None => None,
        Some(t) if t > 0 => Some(Duration::from_secs(t as u64)),
        Some(_) => return Err((field(".timeout"), "must be greater than zero".into())),
    };
    Ok(Hook {
        program: Program::new(path, args, env),
        timeout,
    })
}

/// berth's own environment, without the sealed-copy marker (see sys::exe).
fn inherited_env() -> Vec<CString> {
    std::env::vars_os()
        .filter(|(k, _)| k != crate::sys::exe::MARKER)
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

/// A hook that failed: which one, and how.
#[derive(Debug, thiserror::Error)]
#[error("{kind} hook #{index} ({path}): {why}")]
pub struct HookError {
    pub kind: &'static str,
    pub index: usize,
    pub path: String,
    pub why: String,
}

/// Where hooks run from, beyond stdio.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// Working directory (createContainer hooks start in the rootfs, as under runc).
    pub cwd: Option<&'a std::ffi::CStr>,
    pub umask: Option<u32>,
}

/// Runs `hooks` in order with `state` on stdin; stops at the first failure.
pub fn run(kind: Kind, hooks: &[Hook], state: &[u8], ctx: Context<'_>) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        let t = Instant::now();
        run_one(hook, state, ctx).map_err(|why| HookError {
            kind: kind.name(),
            index,
            path: hook.program.path().to_string_lossy().into_owned(),
            why,
        })?;
        if logging::debug_enabled() && !kind.in_container() {
            logging::debug(&format!(
                "{} hook #{index} took {}us",
                kind.name(),
                t.elapsed().as_micros()
            ));
        }
    }
    Ok(())
}

/// Runs every hook in `hooks`, as poststart and poststop hooks run: a failure is a warning and
/// the remaining hooks still run.
pub fn run_warning_only(kind: Kind, hooks: &[Hook], state: &[u8]) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run(kind, std::slice::from_ref(hook), state, Context::default()) {
            logging::warn(&HookError { index, ..e }.to_string());
        }
    }
}

fn run_one(hook: &Hook, state: &[u8], ctx: Context<'_>) -> Result<(), String> {
    let what = |e: io::Error| format!("cannot be run: {e}");
    let stdin = memfd("berth-hook-state").map_err(what)?;
    let mut file = std::fs::File::from(stdin);
    std::io::Write::write_all(&mut file, state).map_err(what)?;
    let stdin = OwnedFd::from(file);
    rustix::fs::seek(&stdin, rustix::fs::SeekFrom::Start(0)).map_err(|e| what(e.into()))?;
    let output = memfd("berth-hook-output").map_err(what)?;
    let stdio = Stdio {
        stdin: stdin.as_fd(),
        output: output.as_fd(),
        cwd: ctx.cwd,
        umask: ctx.umask,
    };
    let child = spawn::spawn(&hook.program, &stdio).map_err(what)?;
    let deadline = hook.timeout.map(|t| Instant::now() + t);
    let exit = spawn::wait(&child, deadline).map_err(what)?;
    let why = match exit {
        Exit::Code(0) => return Ok(()),
        Exit::Code(c) => format!("exited with status {c}"),
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::TimedOut => format!(
            "still running after its timeout of {}s: killed",
            hook.timeout.map_or(0, |t| t.as_secs())
        ),
    };
    match output_tail(&output) {
        Some(out) => Err(format!("{why}: {out}")),
        None => Err(why),
    }
}

fn memfd(name: &str) -> io::Result<OwnedFd> {
    use rustix::fs::{memfd_create, MemfdFlags};
    // NOEXEC_SEAL, so vm.memfd_noexec=2 allows it; kernels before 6.3 do not know the flag.
    match memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::NOEXEC_SEAL) {
        Err(rustix::io::Errno::INVAL) => Ok(memfd_create(name, MemfdFlags::CLOEXEC)?),
        r => Ok(r?),
    }
}

/// The last few hundred bytes a hook printed, on one line.
fn output_tail(out: &OwnedFd) -> Option<String> {
    const MAX: u64 = 512;
    let len = rustix::fs::fstat(out).ok()?.st_size as u64;
    let from = len.saturating_sub(MAX);
    let mut buf = vec![0u8; (len - from) as usize];
    let n = rustix::io::pread(out, &mut buf, from).ok()?;
    one_line(&buf[..n], from > 0)
}

fn one_line(bytes: &[u8], cut: bool) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some(format!(
        "{}{}",
        if cut { "..." } else { "" },
        lines.join(" / ")
    ))
}

/// The state JSON a hook reads on stdin.
pub fn state_json(state: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(state).unwrap_or_default()
}

/// What the init needs to run the container-side hooks (and to stop for the runtime's).
#[derive(Default)]
pub struct InContainer {
    /// Some hook runs before pivot_root: the init stops there for `create`, which runs the
    /// prestart and createRuntime hooks (if any) only once the limits and the oom score are set
    /// (see container::create), so that createContainer hooks run under them too.
    pub runtime_hooks: bool,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    /// The state JSON without `pid`, which the init fills in as the container sees it.
    pub state: serde_json::Value,
    /// Where createContainer hooks start (the rootfs, seen from the init before pivot_root).
    pub rootfs: Option<CString>,
}

impl InContainer {
    /// Runs hooks of `kind` in the init; `umask` is the container process's.
    pub fn run(&self, kind: Kind, umask: u32) -> Result<(), HookError> {
        let hooks = match kind {
            Kind::CreateContainer => &self.create_container,
            Kind::StartContainer => &self.start_container,
            _ => return Ok(()),
        };
        if hooks.is_empty() {
            return Ok(());
        }
        let mut state = self.state.clone();
        state["pid"] = rustix::process::getpid().as_raw_nonzero().get().into();
        let cwd = match kind {
            Kind::CreateContainer => self.rootfs.as_deref(),
            _ => None,
        };
        let ctx = Context {
            cwd,
            umask: Some(umask),
        };
        run(kind, hooks, &state_json(&state), ctx)
    }
}

impl InContainer {
    /// In the init, mounts built, before pivot_root: lets `create` run the prestart and
    /// createRuntime hooks, then runs the createContainer hooks. False if `create` went away.
    pub fn before_pivot_root(&self, chan: &Channel, umask: u32) -> Result<bool, StepError> {
        if self.runtime_hooks {
            chan.send_from_init(&FromInit::RuntimeHooks)
                .step(|| "asking for the createRuntime hooks".into())?;
            let reply = chan
                .recv_in_init()
                .step(|| "waiting for the createRuntime hooks".into())?;
            if reply != Some(ToInit::HooksDone) {
                return Ok(false);
            }
        }
        self.run(Kind::CreateContainer, umask)
            .map_err(|e| StepError::msg(e.to_string()))?;
        Ok(true)
    }
}

/// The path of `rootfs` as a C string, for InContainer::rootfs.
pub fn c_path(p: &Path) -> Option<CString> {
    CString::new(OsStr::as_bytes(p.as_os_str())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hooks(v: serde_json::Value) -> Result<Hooks, (String, String)> {
        let h: oci_spec::runtime::Hooks = serde_json::from_value(v).unwrap();
        from_spec(Some(&h))
    }

    #[test]
    fn bad_entries_are_named() {
        let e = hooks(json!({"poststart": [{"path": "/bin/true"}, {"path": "rel"}]}))
            .err()
            .unwrap();
        assert_eq!(e.0, "hooks.poststart[1].path");
        let e = hooks(json!({"createRuntime": [{"path": "/x", "timeout": 0}]}))
            .err()
            .unwrap();
        assert_eq!(
            e,
            (
                "hooks.createRuntime[0].timeout".into(),
                "must be greater than zero".into()
            )
        );
        let e = hooks(json!({"prestart": [{"path": "/x", "env": ["A=\u{0}"]}]}))
            .err()
            .unwrap();
        assert_eq!(e.0, "hooks.prestart[0].env[0]");
    }

    #[test]
    fn saved_config_hooks_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(
            &f,
            json!({"ociVersion": "1.2.0", "process": {"whatever": [1, 2]},
                   "hooks": {"poststop": [{"path": "/bin/true", "args": ["true"]}]}})
            .to_string(),
        )
        .unwrap();
        let h = Hooks::from_saved_config(&f).unwrap();
        assert_eq!(h.poststop.len(), 1);
        assert!(h.poststart.is_empty());
        std::fs::write(&f, "{}").unwrap();
        assert!(Hooks::from_saved_config(&f).unwrap().is_empty());
    }

    #[test]
    fn output_is_one_line() {
        assert_eq!(one_line(b"a\n\n  b \n", false).as_deref(), Some("a / b"));
        assert_eq!(one_line(b"tail", true).as_deref(), Some("...tail"));
        assert_eq!(one_line(b"\n \n", false), None);
    }

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        let mut v = json!({"path": "/bin/sh", "args": args});
        if let Some(t) = timeout {
            v["timeout"] = t.into();
        }
        convert(Kind::Poststart, 0, &serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn state_on_stdin_and_status_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seen");
        let script = format!(
            "cat > {}; echo to-stdout; echo to-stderr >&2; exit 3",
            out.display()
        );
        let err = run(
            Kind::Poststart,
            &[hook(&["sh", "-c", &script], None)],
            b"{\"id\":\"x\"}",
            Context::default(),
        )
        .unwrap_err();
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"id\":\"x\"}");
        assert_eq!(
            err.to_string(),
            "poststart hook #0 (/bin/sh): exited with status 3: to-stdout / to-stderr"
        );
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child");
        // The background sleep holds the output memfd: berth must not wait for it.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let t = Instant::now();
        let err = run(
            Kind::Poststart,
            &[hook(&["sh", "-c", &script], Some(1))],
            b"{}",
            Context::default(),
        )
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(err.why.contains("timeout of 1s: killed"), "{err}");
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed with the group (it may linger as a zombie of init for a moment).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            if stat.is_empty() || state == Some('Z') {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the hook's child {child} survived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn missing_program_and_env() {
        let h = convert(
            Kind::Poststop,
            0,
            &serde_json::from_value(json!({"path": "/nonexistent/hook"})).unwrap(),
        )
        .unwrap();
        let err = run(Kind::Poststop, &[h], b"{}", Context::default()).unwrap_err();
        assert!(err.why.starts_with("cannot be run: No such file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let h = convert(
            Kind::CreateContainer,
            0,
            &serde_json::from_value(json!({"path": "/bin/sh",
                "args": ["sh", "-c", format!("env > {}", out.display())], "env": ["ONLY=1"]}))
            .unwrap(),
        )
        .unwrap();
        run(Kind::CreateContainer, &[h], b"{}", Context::default()).unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        assert!(env.contains("ONLY=1\n"), "{env}");
        assert!(!env.contains("HOME="), "{env}");
    }
}
