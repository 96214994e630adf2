//! `run`: create and start in one process, then (in the foreground) forward signals to the
//! container and exit with its status, as `runc run` does.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{create, delete, start, sys_err, CreateOptions, Error};

/// Runs the container; returns the exit code `berth run` should exit with.
pub fn run(o: &CreateOptions, detach: bool, keep: bool) -> Result<i32, Error> {
    // Every catchable signal (real-time ones included) is blocked before the clone, so none is
    // missed before the wait loop: SIGCHLD ends the wait, the rest go to the container. The
    // synchronous fault signals stay unblocked so that a crash of berth is still a crash.
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGTRAP,
        Signal::SIGABRT,
    ] {
        set.remove(s);
    }
    if !detach {
        set.thread_block()
            .map_err(|e| sys_err("blocking signals")(e.into()))?;
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
        // SAFETY: sigwaitinfo with a valid, initialised set; a NULL info pointer is allowed.
        let sig = unsafe { libc::sigwaitinfo(set.as_ref(), std::ptr::null_mut()) };
        if sig < 0 {
            continue; // EINTR
        }
        if sig != libc::SIGCHLD {
            if let Some(fd) = &created.pidfd {
                let _ = crate::sys::pidfd_send_signal(fd.as_fd(), sig);
            }
            continue;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => break 255,
            Err(e) => return Err(sys_err("waiting for the container")(e.into())),
        }
    };
    let _ =
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if !keep {
        delete(o.root, o.id, true)?;
    }
    Ok(code)
}
