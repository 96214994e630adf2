//! `exec`: run one more process in a created or running container.
//!
//! One process and no helper: berth (running from its sealed copy, see sys::exe) joins the
//! container's pid namespace itself (a pid namespace applies to children), then clones once,
//! straight into the container's cgroup2 directory where there is one (CLONE_INTO_CGROUP).
//! The child (child.rs) joins the v1 hierarchies by writing "0" to their `tasks` (no wait on
//! the kernel's threadgroup lock: see cgroups::Cgroup::self_join_files), then every namespace of the init in one setns through the init's pidfd
//! (the kernel enters a user namespace first), and sets the process up with the init's code
//! (process::Plan, init::apply_credentials, the seccomp loader) before it execs. The parent
//! learns the outcome from the channel: end-of-file at the exec (it is close-on-exec), or the
//! error. Then it writes the pid file and returns (`--detach`), or waits, forwarding signals
//! and proxying the terminal, and exits with the process's status.

mod child;
mod process;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::thread::ThreadNameSpaceType as Ns;

use super::{foreground, sys_err, Container, Error};
use crate::channel::{self, FromInit, ToInit};
use crate::state::Status;
use crate::sys::{self, Forked};
use crate::{personality, seccomp, terminal};

/// What shapes the process when there is no `--process` file (runc's exec flags).
#[derive(Default)]
pub struct Overrides<'a> {
    pub tty: bool,
    pub env: &'a [String],
    pub cwd: Option<&'a Path>,
    pub user: Option<&'a str>,
    pub additional_gids: &'a [i64],
    pub caps: &'a [String],
    pub no_new_privs: bool,
    pub apparmor: Option<&'a str>,
    pub process_label: Option<&'a str>,
}

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    /// `--process FILE`: the whole process (the overrides are not used then, as in runc).
    pub process_file: Option<&'a Path>,
    pub args: &'a [String],
    pub overrides: Overrides<'a>,
    pub console_socket: Option<&'a Path>,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

/// Runs the process; returns the exit code `berth exec` should exit with.
pub fn exec(o: &ExecOptions) -> Result<i32, Error> {
    let c = Container::load(o.root, o.id)?;
    let refuse = |action| Error::WrongStatus {
        id: o.id.into(),
        status: c.status,
        action,
    };
    match c.status {
        Status::Stopped | Status::Creating => return Err(refuse("cannot exec in it")),
        Status::Paused if !o.ignore_paused => {
            return Err(refuse(
                "cannot exec in a paused container (use --ignore-paused to override)",
            ))
        }
        _ => {}
    }
    let config = c.config()?;
    let mut built = process::build(o, &config)?;
    let origin = crate::process::Origin {
        file: &built.file,
        prefix: built.prefix,
    };
    let linux = config.spec.linux().as_ref();
    let mut plan = child::Plan {
        process: crate::process::Plan::from_process(&built.process, &origin, o.preserve_fds)?,
        seccomp: linux
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| seccomp::plan(&config, s))
            .transpose()?,
        personality: linux
            .and_then(|l| l.personality().as_ref())
            .map(personality::persona)
            .transpose()
            .map_err(|e| config.invalid("linux.personality", e))?,
        terminal: None,
        lsm: std::mem::take(&mut built.lsm),
        init: init_pidfd(&c)?,
        root: None,
        join: Ns::empty(),
        new_keyring: !c.state.no_new_keyring,
        cgroup_join: Vec::new(),
    };
    let size = terminal::size_from_spec(built.process.console_size())
        .map_err(|e| origin.invalid("consoleSize", e))?;
    let terminal = built.process.terminal().unwrap_or(false);
    let console_rx = match terminal::prepare(terminal, o.console_socket, o.detach, size)
        .map_err(Error::Usage)?
    {
        Some((t, rx)) => {
            plan.terminal = Some(t);
            rx
        }
        None => None,
    };
    let (join_pid, join) = namespaces_to_join(c.state.pid)?;
    plan.join = join;
    if c.state.shared_root.is_some() {
        plan.root = Some(init_root(&c)?);
    }
    let into_cgroup = c.state.cgroup.clone_into_fd();
    cgroup_target(&c, &mut plan, into_cgroup.is_some())?;
    let (parent_end, child_end) = channel::pair().map_err(sys_err("creating the exec channel"))?;
    let mask = if o.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    if let Some(initial) = &plan.process.cpu_affinity.initial {
        // Before the clone: the child starts on these CPUs, and keeps them until it joins the
        // container's cgroup.
        rustix::thread::sched_setaffinity(None, initial)
            .map_err(|e| origin.invalid("execCPUAffinity.initial", e.to_string()))?;
    }
    // Born not dumpable: no process of the container can ptrace the child or open its /proc
    // files while it still holds berth's fds (the exec resets it).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| sys_err("prctl PR_SET_DUMPABLE")(e.into()))?;
    if join_pid {
        rustix::thread::move_into_thread_name_spaces(plan.init.as_fd(), Ns::PROCESS_ID)
            .map_err(|e| sys_err(format!("joining the pid namespace of {}", o.id))(e.into()))?;
    }
    let mut forked = sys::clone3_into_cgroup(0, true, into_cgroup.as_ref().map(|f| f.as_fd()));
    if forked.is_err() && into_cgroup.is_some() && c.state.init_alive() {
        // A kernel without CLONE_INTO_CGROUP (before 5.7): the child joins the cgroup2
        // directory through cgroup.procs too.
        cgroup_target(&c, &mut plan, false)?;
        forked = sys::clone3(0, true);
    }
    let forked = match forked {
        // A pid namespace whose init died takes no new process (ENOMEM).
        Err(_) if !c.state.init_alive() => {
            return Err(Error::WrongStatus {
                id: o.id.into(),
                status: Status::Stopped,
                action: "cannot exec in it",
            })
        }
        r => r.map_err(sys_err(format!("cloning the process to run in {}", o.id)))?,
    };
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_end);
            child::run(&mut plan, child_end)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    let mut guard = Child {
        pid,
        pidfd,
        armed: true,
    };
    // The child's copies: ours would keep a receiver (or our own wait) from seeing it go.
    drop(child_end);
    drop(plan.terminal.take());
    drop(std::mem::take(&mut plan.cgroup_join));
    wait_for_exec(&parent_end, &c, &plan, &guard)?;
    let console = console_rx
        .map(|rx| terminal::recv_master(rx.as_fd()))
        .transpose()
        .map_err(sys_err("receiving the process's terminal"))?;
    if let Some(pf) = o.pid_file {
        super::create::write_pid_file(pf, pid)?;
    }
    guard.armed = false;
    let Some(mask) = mask else { return Ok(0) };
    foreground::wait(pid, guard.pidfd.as_ref().map(|f| f.as_fd()), mask, console)
}

/// Until the exec succeeded: kills and reaps the child on any error.
struct Child {
    pid: i32,
    pidfd: Option<OwnedFd>,
    armed: bool,
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(fd) = &self.pidfd {
            let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// Reads the channel until it closes at the exec, handing a seccomp listener to the agent on
/// the way; the child's error otherwise.
fn wait_for_exec(
    chan: &channel::Channel,
    c: &Container,
    plan: &child::Plan,
    child: &Child,
) -> Result<(), Error> {
    loop {
        match chan
            .recv_from_init()
            .map_err(sys_err("waiting for the process"))?
        {
            None => return Ok(()),
            Some(FromInit::Failed(msg)) => return Err(Error::Init(msg)),
            Some(FromInit::SeccompListener(fd)) => {
                hand_to_seccomp_agent(c, plan, child, fd)?;
                chan.send_to_init(ToInit::Go)
                    .map_err(sys_err("signalling the process"))?;
            }
            Some(FromInit::Ready(_)) | Some(FromInit::RuntimeHooks) => {}
        }
    }
}

fn hand_to_seccomp_agent(
    c: &Container,
    plan: &child::Plan,
    child: &Child,
    fd: i32,
) -> Result<(), Error> {
    let who = seccomp::notify::Container {
        id: &c.state.id,
        pid: c.state.pid,
        status: c.status.as_str(),
        process_pid: child.pid,
        bundle: &c.state.bundle,
        annotations: &c.state.annotations,
    };
    let pidfd = child.pidfd.as_ref().map(|p| p.as_fd());
    seccomp::notify::hand_over(plan.seccomp.as_ref(), pidfd, fd, &who).map_err(Error::Init)
}

/// A pidfd of the container's init, opened while its start time still matched (a pid reused
/// by another process is never joined).
fn init_pidfd(c: &Container) -> Result<OwnedFd, Error> {
    let stopped = || Error::WrongStatus {
        id: c.state.id.clone(),
        status: Status::Stopped,
        action: "cannot exec in it",
    };
    let pid = rustix::process::Pid::from_raw(c.state.pid).ok_or_else(stopped)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|_| stopped())?;
    if !c.state.init_alive() {
        return Err(stopped());
    }
    Ok(fd)
}

/// The init's root, for a container without a mount namespace of its own: it lives chrooted
/// in its rootfs bind (rootfs::shared), which joining its mount namespace does not enter.
fn init_root(c: &Container) -> Result<OwnedFd, Error> {
    let path = format!("/proc/{}/root", c.state.pid);
    let root = rustix::fs::open(
        path.as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys_err(format!("opening the root of {}", c.state.id))(e.into()))?;
    // Opened while the start time still matched: the root of the init, not of a reused pid.
    if !c.state.init_alive() {
        return Err(Error::WrongStatus {
            id: c.state.id.clone(),
            status: Status::Stopped,
            action: "cannot exec in it",
        });
    }
    Ok(root)
}

/// The namespaces of the init that differ from berth's: (the pid namespace, the others).
fn namespaces_to_join(pid: i32) -> Result<(bool, Ns), Error> {
    let kinds = [
        ("user", Ns::USER),
        ("mnt", Ns::MOUNT),
        ("pid", Ns::PROCESS_ID),
        ("net", Ns::NETWORK),
        ("ipc", Ns::INTER_PROCESS_COMMUNICATION),
        ("uts", Ns::HOST_NAME_AND_NIS_DOMAIN_NAME),
        ("cgroup", Ns::CONTROL_GROUP),
        ("time", Ns::TIME),
    ];
    let id = |path: PathBuf| rustix::fs::stat(&path).ok().map(|s| (s.st_dev, s.st_ino));
    let mut join = Ns::empty();
    for (name, flag) in kinds {
        let theirs = id(PathBuf::from(format!("/proc/{pid}/ns/{name}")));
        let ours = id(PathBuf::from(format!("/proc/self/ns/{name}")));
        if theirs.is_some() && theirs != ours {
            join |= flag;
        }
    }
    let pid_ns = join.contains(Ns::PROCESS_ID);
    Ok((pid_ns, join - Ns::PROCESS_ID))
}

/// How the child enters the container's cgroup: cloned into its cgroup2 directory where there is
/// one (`in_v2`, CLONE_INTO_CGROUP), and through the files of `Cgroup::self_join_files` for
/// the rest (each v1 hierarchy's `tasks`), opened here on the host, which the child writes "0"
/// to before it joins the container's namespaces.
fn cgroup_target(c: &Container, plan: &mut child::Plan, in_v2: bool) -> Result<(), Error> {
    plan.cgroup_join.clear();
    for file in c.state.cgroup.self_join_files(in_v2) {
        let fd = rustix::fs::open(&file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
            |e| sys_err(format!("opening the container's cgroup {}", file.display()))(e.into()),
        )?;
        plan.cgroup_join.push((file, fd));
    }
    Ok(())
}
