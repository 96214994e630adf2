//! `delete`: remove a stopped (or created) container; with `--force`, kill a running one first.
//! The container's mounts live only in its own mount namespace and vanish with its last
//! process; what remains on the host is the cgroup and the state dir.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::kill::{kill_all, signal_init};
use super::{Container, Error};
use crate::state::{State, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let c = Container::load(root, id)?;
    let _lock = c.dir.lock()?;
    let status = c.state.status(&c.dir);
    match status {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        _ => {
            return Err(Error::WrongStatus {
                id: id.into(),
                status,
                action: "cannot delete a container that is not stopped (use --force)",
            })
        }
    }
    if status != Status::Stopped {
        stop(&c.state);
    }
    // Without its own pid namespace, processes may outlive the init: the cgroup holds them all.
    if !c.state.own_pid_ns || status != Status::Stopped {
        kill_all(&c.state, libc::SIGKILL);
    }
    c.state.cgroup.remove()?;
    c.dir.remove()?;
    Ok(())
}

/// SIGKILLs the init and waits (through its pidfd) until it is gone.
fn stop(st: &State) {
    let pidfd = rustix::process::Pid::from_raw(st.pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    // A frozen container cannot die until thawed.
    for d in &st.cgroup.dirs {
        if d.hierarchy == "freezer" {
            let _ = std::fs::write(d.path.join("freezer.state"), "THAWED");
        }
    }
    let _ = signal_init(st, libc::SIGKILL);
    kill_all(st, libc::SIGKILL);
    if let Some(fd) = pidfd {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(
            &mut fds,
            Some(&rustix::event::Timespec {
                tv_sec: 10,
                tv_nsec: 0,
            }),
        );
        let _ = fd.as_fd();
    } else {
        let deadline = Instant::now() + Duration::from_secs(10);
        while st.init_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
