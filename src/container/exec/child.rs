//! The cloned process of `exec`, from the clone to the execve. In order: it joins the
//! container's cgroup (then sets process.execCPUAffinity's final CPUs), the init's namespaces
//! (and its root, in a shared mount namespace), a session of its own, the cwd (checked to lie
//! inside the root: CVE-2024-21626), its terminal, limits, user and capabilities, closes
//! berth's fds and execs with the container's seccomp filter loaded last: the init's own
//! steps, from process/ and init/.
//!
//! Like the init, a copy of the single-threaded parent (see init/): it never returns, it execs
//! or `_exit`s, and reports a failure over the channel.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::thread::ThreadNameSpaceType;

use crate::channel::{Channel, FromInit, ToInit};
use crate::init::{self, Context, StepError};
use crate::process;
use crate::procfs::ProcFs;
use crate::{lsm, seccomp, sys, terminal};

/// Everything the child needs, prepared by the parent before clone.
pub struct Plan {
    pub process: process::Plan,
    pub seccomp: Option<seccomp::Program>,
    /// `linux.personality` of the container, so the process sees what the init sees.
    pub personality: Option<u64>,
    pub terminal: Option<terminal::Plan>,
    /// AppArmor profile and SELinux label, set at the exec.
    pub lsm: lsm::Plan,
    /// A pidfd of the container's init: the namespaces to join.
    pub init: OwnedFd,
    /// The init's root, when the container shares a mount namespace (its rootfs is entered with
    /// chroot there, see rootfs::shared): entered after the namespaces.
    pub root: Option<OwnedFd>,
    /// The init's namespaces that are not berth's (the pid one aside: the parent joined it).
    pub join: ThreadNameSpaceType,
    /// Join a new session keyring (unless the container was created with --no-new-keyring).
    pub new_keyring: bool,
    /// Each v1 hierarchy's `tasks` (and the cgroup2 `cgroup.procs` when the clone could not
    /// land in it): see cgroups::Cgroup::self_join_files.
    pub cgroup_join: Vec<(PathBuf, OwnedFd)>,
}

pub fn run(plan: &mut Plan, chan: Channel) -> ! {
    let failed = match setup(plan, &chan) {
        Ok(Some(program)) => {
            let p = &plan.process;
            let hold_admin = init::holds_sys_admin(p, plan.seccomp.as_ref());
            init::exec(p, plan.seccomp.as_ref(), hold_admin, &plan.lsm, &program)
        }
        Ok(None) => exit(1),
        Err(e) => e.to_string(),
    };
    let _ = chan.send_from_init(&FromInit::Failed(failed));
    exit(127)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process at once, without running the parent's atexit handlers or
    // flushing buffers this copy inherited.
    unsafe { libc::_exit(code) }
}

/// Sets the process up; `Ok(None)` if the parent went away.
fn setup(plan: &mut Plan, chan: &Channel) -> Result<Option<CString>, StepError> {
    for (path, fd) in std::mem::take(&mut plan.cgroup_join) {
        // "0" is the writer itself.
        rustix::io::write(&fd, b"0")
            .step(|| format!("joining the container's cgroup {}", path.display()))?;
    }
    if let Some(cpus) = plan.process.cpu_affinity.after_cgroup() {
        let set = rustix::thread::sched_setaffinity(None, &cpus);
        // Without execCPUAffinity this only widens berth's own affinity: best effort, as runc.
        if plan.process.cpu_affinity.last.is_some() {
            set.step(|| "setting process.execCPUAffinity.final".into())?;
        }
    }
    if let Some(adj) = plan.process.oom_score_adj {
        // Still the host's /proc: nothing of the container's can redirect the write. The
        // process is in the container's pid namespace already, so its host pid comes from the
        // host procfs's own `self` link.
        let what = || format!("setting process.oomScoreAdj to {adj}");
        let me = std::fs::read_link("/proc/self").step(what)?;
        ProcFs::mounted()
            .and_then(|p| {
                p.write(
                    &Path::new(&me).join("oom_score_adj"),
                    adj.to_string().as_bytes(),
                )
            })
            .step(what)?;
    }
    rustix::thread::move_into_thread_name_spaces(std::os::fd::AsFd::as_fd(&plan.init), plan.join)
        .step(|| "joining the container's namespaces".into())?;
    if let Some(root) = &plan.root {
        rustix::process::fchdir(root).step(|| "entering the container's root".into())?;
        rustix::process::chroot(".").step(|| "chroot into the container's root".into())?;
    }
    // Its own session, as under runc (and needed to take a terminal).
    rustix::process::setsid().step(|| "setsid".into())?;
    // The caller's session keyring is not the container's to read.
    if plan.new_keyring {
        sys::join_new_session_keyring().step(|| "joining a new session keyring".into())?;
    }

    let p = &mut plan.process;
    init::enter_cwd(p, "")?;
    if let Some(term) = &plan.terminal {
        terminal::setup(term, p.uid, false)?;
    }
    init::apply_limits(p, plan.personality, "")?;
    let program = p.find_program().map_err(StepError::msg)?;
    p.add_home();
    if !plan.lsm.is_empty() {
        // While still privileged, through a procfs no mount of the container can cover.
        let proc = ProcFs::private().step(|| "mounting a private procfs".into())?;
        plan.lsm.open(&proc)?;
    }
    let p = &plan.process;
    let hold_admin = init::holds_sys_admin(p, plan.seccomp.as_ref());
    init::apply_credentials(p, hold_admin)?;

    init::close_runtime_fds(p)?;

    // A filter that notifies is loaded now and its listener handed to the agent (through the
    // parent) before the exec; any other filter is loaded by init::exec, last.
    if let Some(s) = plan.seccomp.as_ref().filter(|s| s.listener.is_some()) {
        let fd = init::load_seccomp(p, s, hold_admin).map_err(StepError::msg)?;
        if let Some(fd) = &fd {
            chan.send_from_init(&FromInit::SeccompListener(fd.as_raw_fd()))
                .step(|| "handing over the seccomp listener".into())?;
            match chan
                .recv_in_init()
                .step(|| "waiting for the parent".into())?
            {
                Some(ToInit::Go) => {}
                _ => return Ok(None),
            }
        }
    }
    Ok(Some(program))
}
