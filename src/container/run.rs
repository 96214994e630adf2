//! `run`: create and start in one process, then (in the foreground) forward signals to the
//! container and exit with its status, as `runc run` does.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{create, delete, start, CreateOptions, Error};

/// Signals a foreground `run` passes on to the container (the rest keep their default action).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
    Signal::SIGURG,
    Signal::SIGIO,
    Signal::SIGPWR,
];

/// Runs the container; returns the exit code `berth run` should exit with.
pub fn run(o: &CreateOptions, detach: bool) -> Result<i32, Error> {
    let mut set = SigSet::empty();
    if !detach {
        // Blocked before the clone, so no signal and no SIGCHLD can be missed before the wait.
        for s in FORWARDED {
            set.add(*s);
        }
        set.add(Signal::SIGCHLD);
        set.thread_block()
            .map_err(|e| super::sys_err("blocking signals")(e.into()))?;
    }
    let created = create(o)?;
    if let Err(e) = start(o.root, o.id) {
        let _ = delete(o.root, o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let pid = Pid::from_raw(created.state.pid);
    let code = loop {
        let sig = set
            .wait()
            .map_err(|e| super::sys_err("waiting for signals")(e.into()))?;
        if sig != Signal::SIGCHLD {
            if let Some(fd) = &created.pidfd {
                if let Some(s) = rustix::process::Signal::from_named_raw(sig as i32) {
                    let _ = rustix::process::pidfd_send_signal(fd.as_fd(), s);
                }
            }
            continue;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => break 255,
            Err(e) => return Err(super::sys_err("waiting for the container")(e.into())),
        }
    };
    let _ =
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    delete(o.root, o.id, true)?;
    Ok(code)
}
