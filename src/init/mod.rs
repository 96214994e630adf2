//! The container's init: the process `berth create` clones, once the parent has put it in its
//! cgroup (and written its user namespace's maps). In order, it becomes root of its user
//! namespace, joins the namespaces given by path, sets the hostname, builds the rootfs, lets
//! `create` run the prestart and createRuntime hooks and runs the createContainer ones, enters
//! the rootfs (pivot_root), makes its terminal, writes sysctls, masks and makes read-only the
//! configured paths, drops to the configured user, capabilities and limits, reports ready, and
//! waits for `start`: then the startContainer hooks, the LSM labels, seccomp and the exec.
//!
//! This runs in a copy of the single-threaded parent made by clone3: no other thread exists, so
//! allocation is safe, but credentials go through raw per-thread syscalls (see process::user).
//! It never returns: it execs or exits with `_exit`, never running the parent's destructors.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use rustix::net::{RecvFlags, SendFlags};

use crate::cgroups::Cgroup;
use crate::channel::{Channel, FromInit, ToInit};
use crate::hooks::{self, Kind};
use crate::process::{self, capabilities, rlimits, user};
use crate::procfs::ProcFs;
use crate::{lsm, namespaces, rootfs, seccomp, sys, sysctl, terminal, userns};

/// A failed step of the init: what it was doing, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
pub struct StepError {
    pub step: String,
    pub source: Option<io::Error>,
}

impl StepError {
    pub fn msg(step: impl Into<String>) -> StepError {
        StepError {
            step: step.into(),
            source: None,
        }
    }
}

/// Adds the step's description to an error.
pub trait Context<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, StepError>;
}

impl<T, E: Into<io::Error>> Context<T> for Result<T, E> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, StepError> {
        self.map_err(|e| StepError {
            step: what(),
            source: Some(e.into()),
        })
    }
}

/// Phase durations of the init, reported to the parent for `--debug`.
pub struct Timings {
    last: Instant,
    out: String,
}

impl Timings {
    pub fn new() -> Timings {
        Timings {
            last: Instant::now(),
            out: String::new(),
        }
    }

    pub fn mark(&mut self, phase: &str) {
        let now = Instant::now();
        let us = now.duration_since(self.last).as_micros();
        self.out.push_str(&format!("{phase}={us}us "));
        self.last = now;
    }
}

impl Default for Timings {
    fn default() -> Self {
        Timings::new()
    }
}

/// Everything the init needs, prepared by the parent before clone.
pub struct Plan {
    pub namespaces: namespaces::Plan,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub rootfs: rootfs::Plan,
    pub process: process::Plan,
    /// `linux.sysctl`, checked to be namespaced.
    pub sysctl: Vec<(String, String)>,
    /// `linux.personality`.
    pub personality: Option<u64>,
    /// Join a new session keyring, so the container cannot read the caller's keys.
    pub new_keyring: bool,
    /// `linux.seccomp`, compiled.
    pub seccomp: Option<seccomp::Program>,
    /// createContainer and startContainer hooks, and whether to stop for the runtime's.
    pub hooks: hooks::InContainer,
    /// AppArmor profile and SELinux label, set at the exec.
    pub lsm: lsm::Plan,
    /// `process.terminal`: the pty made after pivot_root, its master sent to the console socket.
    pub terminal: Option<terminal::Plan>,
    /// A user namespace (new or joined), with its mappings.
    pub userns: Option<userns::Plan>,
    /// The container's cgroup: the init joins it itself (cgroups::Cgroup::join_self).
    pub cgroup: Cgroup,
    /// The init was cloned straight into the cgroup2 directory (CLONE_INTO_CGROUP).
    pub in_cgroup_v2: bool,
}

impl Plan {
    /// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN. If the process is not to
    /// keep it, the init holds it until the filter is loaded and then drops it with one capset,
    /// so the profile only has to allow capset and execve (runc loads such filters before
    /// dropping any capability, so its profiles must allow every call the runtime makes after).
    pub fn holds_sys_admin_for_seccomp(&self) -> bool {
        holds_sys_admin(&self.process, self.seccomp.as_ref())
    }
}

/// See `Plan::holds_sys_admin_for_seccomp`; for any process (`exec`'s too).
pub fn holds_sys_admin(p: &process::Plan, seccomp: Option<&seccomp::Program>) -> bool {
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    seccomp.is_some() && !p.no_new_privileges && p.caps.effective & CAP_SYS_ADMIN == 0
}

/// The init's whole life. `chan` talks to the parent; `listener` is the start socket (none for
/// `run`, which starts the init over `chan`).
pub fn run(plan: &mut Plan, chan: Channel, listener: Option<OwnedFd>) -> ! {
    let (program, start_now) = match setup(plan, &chan) {
        Ok(Some(p)) => p,
        failed => {
            // Mounts made in a namespace the container shares outlive this process.
            if !plan.rootfs.own_mount_ns {
                rootfs::shared::abandon(&plan.rootfs.rootfs);
            }
            if let Err(e) = failed {
                let _ = chan.send_from_init(&FromInit::Failed(e.to_string()));
            }
            exit(1)
        }
    };
    if start_now {
        // `run`: no `start` will connect; the parent reads the outcome on the channel, which
        // closes at the exec (close-on-exec).
        drop(listener);
        let msg = start_program(plan, &program);
        let _ = chan.send_from_init(&FromInit::Failed(msg));
        exit(127)
    }
    drop(chan);
    match listener {
        Some(l) => wait_for_start(plan, &program, l),
        None => exit(1),
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process at once, without running the parent's atexit handlers or
    // flushing buffers this copy inherited.
    unsafe { libc::_exit(code) }
}

/// Sets the container up; `Ok(None)` if the parent went away. Returns the program, and whether
/// to exec it at once (`ToInit::Start`) rather than wait for `start`.
fn setup(plan: &mut Plan, chan: &Channel) -> Result<Option<(CString, bool)>, StepError> {
    // While the parent makes the cgroup (see namespaces::Plan::new_net).
    let net = Instant::now();
    if plan.namespaces.new_net {
        namespaces::unshare_net().map_err(StepError::msg)?;
    }
    let waited = Instant::now();
    let net = waited.duration_since(net).as_micros();
    match chan
        .recv_in_init()
        .step(|| "waiting for the parent".into())?
    {
        Some(ToInit::Go) => {}
        _ => return Ok(None),
    }
    let mut t = Timings::new();
    if plan.namespaces.new_net {
        t.out
            .push_str(&format!("network-namespace={net}us(before-go) "));
    }
    // How long the init waited for the parent's Go (near 0: the init's own steps set the pace).
    let waited = t.last.duration_since(waited).as_micros();
    t.out.push_str(&format!("waited-for-go={waited}us "));
    // In the cgroup before anything else, so that the setup is charged to the container, and
    // while still the host's root: as root of a user namespace the init could no longer write
    // the host's cgroup files (EACCES).
    plan.cgroup
        .join_self(plan.in_cgroup_v2)
        .map_err(|e| StepError::msg(e.to_string()))?;
    t.mark("cgroup");
    // The parent wrote the maps before Go: from here on the init is the container's root.
    if let Some(u) = &plan.userns {
        userns::become_root(u)?;
    }
    // Not dumpable until exec: no process of the container may ptrace or open this one's
    // /proc files while it holds the runtime's state (exec resets it).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .step(|| "prctl PR_SET_DUMPABLE".into())?;
    // Its own session and process group, as under runc: the container shares neither with
    // whoever called berth (job control signals, the caller's terminal).
    rustix::process::setsid().step(|| "setsid".into())?;
    // Nodes and directories get exactly the modes the config asks for.
    rustix::process::umask(rustix::fs::Mode::empty());

    namespaces::join(&plan.namespaces.join_in_init).map_err(StepError::msg)?;
    if plan.namespaces.new_net {
        namespaces::loopback_up().map_err(StepError::msg)?;
    }
    if plan.namespaces.new_cgroup {
        namespaces::unshare_cgroup().map_err(StepError::msg)?;
    }
    if plan.new_keyring {
        sys::join_new_session_keyring().step(|| "joining a new session keyring".into())?;
    }
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes()).step(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes()).step(|| format!("setdomainname {d:?}"))?;
    }
    t.mark("namespaces");

    let root = rootfs::prepare(&plan.rootfs, &mut t)?;
    if !plan.hooks.before_pivot_root(chan, plan.process.umask)? {
        return Ok(None);
    }
    rootfs::pivot(&plan.rootfs, root, &mut t)?;
    if let Some(term) = &plan.terminal {
        // In the container's devpts, before the rootfs is finished (as runc): /dev/console.
        terminal::setup(term, plan.process.uid, true)?;
        t.mark("terminal");
    }
    if !plan.sysctl.is_empty() || !plan.lsm.is_empty() {
        // Through a procfs no mount of the config can cover (see procfs).
        let proc = ProcFs::private()
            .map_err(userns::explain_procfs)
            .step(|| "mounting a private procfs for linux.sysctl and the LSM labels".into())?;
        sysctl::apply(&proc, &plan.sysctl)?;
        plan.lsm.open(&proc)?;
    }
    rootfs::finish(&plan.rootfs, &mut t)?;

    let p = &mut plan.process;
    enter_cwd(p, "process.")?;
    apply_limits(p, plan.personality, "process.")?;
    let program = p.find_program().map_err(StepError::msg)?;
    p.add_home();
    p.add_listen_env();
    let hold_admin = plan.holds_sys_admin_for_seccomp();
    let p = &plan.process;
    apply_credentials(p, hold_admin)?;
    t.mark("process");

    close_runtime_fds(p)?;

    // A filter that notifies is loaded now, so that its listener reaches the agent during
    // create, as under runc; any other filter is loaded just before execve.
    let _notify_fd = match &plan.seccomp {
        Some(s) if s.listener.is_some() => {
            let fd = load_seccomp(&plan.process, s, plan.holds_sys_admin_for_seccomp())
                .map_err(StepError::msg)?;
            if let Some(fd) = &fd {
                use std::os::fd::AsRawFd;
                chan.send_from_init(&FromInit::SeccompListener(fd.as_raw_fd()))
                    .step(|| "handing over the seccomp listener".into())?;
            }
            fd
        }
        _ => None,
    };

    chan.send_from_init(&FromInit::Ready(t.out))
        .step(|| "reporting ready".into())?;
    match chan
        .recv_in_init()
        .step(|| "waiting for the parent".into())?
    {
        Some(ToInit::Commit) => Ok(Some((program, false))),
        Some(ToInit::Start) => Ok(Some((program, true))),
        _ => Ok(None),
    }
}

/// Loads the filter; then, if the process held CAP_SYS_ADMIN only to load it (`hold_admin`),
/// drops it.
pub fn load_seccomp(
    p: &process::Plan,
    s: &seccomp::Program,
    hold_admin: bool,
) -> Result<Option<OwnedFd>, String> {
    let fd = seccomp::load(s).map_err(|e| format!("loading the seccomp filter: {e}"))?;
    if hold_admin {
        capabilities::set(&p.caps)
            .map_err(|e| format!("dropping CAP_SYS_ADMIN after loading the seccomp filter: {e}"))?;
    }
    Ok(fd)
}

/// chdir to the process's cwd, checked to lie inside the container's root: a cwd reached through
/// an fd of the runtime (CVE-2024-21626: /proc/self/fd/N) would lie outside, and the kernel then
/// reports it as unreachable. `prefix` is where the process object sits ("process." or "").
pub fn enter_cwd(p: &process::Plan, prefix: &str) -> Result<(), StepError> {
    let cwd = p.cwd.display();
    rustix::process::chdir(&p.cwd).step(|| format!("chdir to {prefix}cwd {cwd}"))?;
    let now = rustix::process::getcwd(Vec::new()).step(|| "getcwd".into())?;
    if !now.to_bytes().starts_with(b"/") {
        return Err(StepError::msg(format!(
            "{prefix}cwd {cwd} resolves outside the container's root"
        )));
    }
    Ok(())
}

/// The process's rlimits, I/O priority and scheduler, and the container's personality.
pub fn apply_limits(
    p: &process::Plan,
    personality: Option<u64>,
    prefix: &str,
) -> Result<(), StepError> {
    rlimits::apply(&p.rlimits).map_err(StepError::msg)?;
    if let Some((class, level)) = p.io_priority {
        sys::ioprio_set(class, level).step(|| format!("setting {prefix}ioPriority"))?;
    }
    if let Some(attr) = &p.scheduler {
        sys::sched_setattr(attr).step(|| format!("setting {prefix}scheduler"))?;
    }
    if let Some(persona) = personality {
        sys::personality(persona as libc::c_ulong).step(|| "setting linux.personality".into())?;
    }
    Ok(())
}

/// Nothing of berth's may leak into the container: every fd past stdio and the preserved ones
/// closes at exec; the preserved ones are inherited whatever flag the caller gave them.
pub fn close_runtime_fds(p: &process::Plan) -> Result<(), StepError> {
    sys::cloexec_from(3 + p.preserve_fds).step(|| "marking fds close-on-exec".into())?;
    for fd in 3..3 + p.preserve_fds as i32 {
        // SAFETY: F_SETFD only changes the descriptor's flags; an fd that is not open fails
        // harmlessly with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Capabilities and user, in the order the kernel requires: the bounding set needs
/// CAP_SETPCAP (so before the uid switch), keep-caps carries the permitted set across it.
/// `hold_admin` keeps CAP_SYS_ADMIN effective for loading the seccomp filter later.
pub fn apply_credentials(p: &process::Plan, hold_admin: bool) -> Result<(), StepError> {
    capabilities::drop_bounding(&p.caps, p.last_cap).map_err(|(n, e)| StepError {
        step: format!(
            "dropping {} from the bounding set",
            capabilities::NAMES[n as usize]
        ),
        source: Some(e),
    })?;
    user::give_stdio(p.uid, p.gid).map_err(StepError::msg)?;
    rustix::thread::set_keep_capabilities(true).step(|| "prctl keep-caps".into())?;
    user::switch(p.uid, p.gid, &p.groups).map_err(StepError::msg)?;
    rustix::thread::set_keep_capabilities(false).step(|| "prctl keep-caps".into())?;
    let mut caps = p.caps;
    if hold_admin {
        caps.effective |= 1 << 21;
        caps.permitted |= 1 << 21;
    }
    capabilities::apply(&caps).step(|| "setting capabilities".into())?;
    if p.no_new_privileges {
        rustix::thread::set_no_new_privs(true).step(|| "prctl no_new_privs".into())?;
    }
    Ok(())
}

/// Blocks until `start` connects, then execs. The connection is close-on-exec: `start` reads
/// end-of-file once the exec succeeded, or the error if it failed.
fn wait_for_start(plan: &Plan, program: &CString, listener: OwnedFd) -> ! {
    loop {
        // Close-on-exec: `start` waits for this connection to close at the exec.
        let conn =
            match rustix::net::accept_with(listener.as_fd(), rustix::net::SocketFlags::CLOEXEC) {
                Ok(c) => c,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => exit(1),
            };
        let mut buf = [0u8; 16];
        match rustix::net::recv(conn.as_fd(), &mut buf, RecvFlags::empty()) {
            Ok((n, _)) if n > 0 => {}
            // The caller went away before asking: keep waiting for a real start.
            _ => continue,
        }
        drop(listener);
        let msg = start_program(plan, program);
        let _ = rustix::net::send(conn.as_fd(), msg.as_bytes(), SendFlags::NOSIGNAL);
        exit(127)
    }
}

/// The startContainer hooks, then the exec; returns only with what went wrong. A failing hook
/// fails `start`; the init exits and the container is stopped.
fn start_program(plan: &Plan, program: &CString) -> String {
    match plan.hooks.run(Kind::StartContainer, plan.process.umask) {
        Ok(()) => exec(
            &plan.process,
            plan.seccomp.as_ref(),
            plan.holds_sys_admin_for_seccomp(),
            &plan.lsm,
            program,
        ),
        Err(e) => e.to_string(),
    }
}

/// Execs the program with its LSM labels, loading `seccomp` last (unless it notifies: then it is loaded already);
/// returns only with what went wrong.
pub fn exec(
    p: &process::Plan,
    seccomp: Option<&seccomp::Program>,
    hold_admin: bool,
    lsm: &lsm::Plan,
    program: &CString,
) -> String {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(p.umask));
    // Rust's runtime ignores SIGPIPE, and an ignored signal stays ignored across exec: the
    // program starts with every disposition at its default, as under runc.
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            let _ = sys::reset_signal(sig);
        }
    }
    // The parent of `run` blocks signals so none is lost before it waits; the program starts
    // with none blocked.
    let _ = sys::set_sigmask(libc::SIG_SETMASK, 0);
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv, envp) = (ptrs(&p.args), ptrs(&p.env));
    if let Err(e) = lsm.apply() {
        return e;
    }
    // Last, so the profile only has to allow execve (and capset, see Plan).
    if let Some(s) = seccomp.filter(|s| s.listener.is_none()) {
        if let Err(e) = load_seccomp(p, s, hold_admin) {
            return e;
        }
    }
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings that outlive
    // the call; execve only returns on failure.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    format!(
        "exec {}: {}",
        program.to_string_lossy(),
        io::Error::last_os_error()
    )
}
