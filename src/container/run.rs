//! `run`: create and start in one process, then (in the foreground) forward signals to the
//! container and exit with its status, as `runc run` does.

use std::os::fd::AsFd;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{create, delete, start, sys_err, CreateOptions, Error};
use crate::sys;

/// Runs the container; returns the exit code `berth run` should exit with.
pub fn run(o: &CreateOptions, detach: bool, keep: bool) -> Result<i32, Error> {
    // Every catchable signal (real-time ones and glibc's reserved 32/33 included) is blocked
    // before the clone, so none is missed before the wait loop: SIGCHLD ends the wait, the rest
    // go to the container. The synchronous fault signals stay unblocked so that a crash of berth
    // is still a crash. The mask stays until berth exits, through the final delete.
    let unblocked = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGABRT,
    ];
    let mask = sys::sigmask((1..=64).filter(|s| !unblocked.contains(s)));
    if !detach {
        sys::set_sigmask(libc::SIG_BLOCK, mask).map_err(sys_err("blocking signals"))?;
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
        let sig = sys::wait_signal(mask).map_err(sys_err("waiting for signals"))?;
        if sig != libc::SIGCHLD {
            if let Some(fd) = &created.pidfd {
                let _ = sys::pidfd_send_signal(fd.as_fd(), sig);
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
    if !keep {
        delete(o.root, o.id, true)?;
    }
    Ok(code)
}
