//! `delete`: remove a stopped container; with `--force`, kill a created or running one first.
//! Without it, a container that is not stopped is refused and left as it was, as the
//! runtime-spec requires (runc 1.1 kills a created one; youki refuses it too).
//! The container's mounts live only in its own mount namespace and vanish with its last
//! process; what remains on the host is the cgroup and the state dir (and, for a container
//! without a mount namespace of its own, the rootfs bind: rootfs::shared).

use std::path::Path;
use std::time::{Duration, Instant};

use super::kill::{kill_all, signal_init};
use super::{Container, Error};
use crate::hooks::{self, Kind};
use crate::logging;
use crate::state::{self, State, StateDir, StateError, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let dir = match StateDir::open(root, id) {
        Err(StateError::NotFound(_)) => return remove_remains(root, id, force),
        r => r?,
    };
    let _lock = dir.lock()?;
    // Read under the lock: another delete may have come first.
    let c = Container::load(root, id)?;
    let status = c.state.status(&c.dir);
    if status == Status::Creating {
        return Err(Error::WrongStatus {
            id: id.into(),
            status,
            action: "it is still being set up by its berth create",
        });
    }
    if status != Status::Stopped && !force {
        return Err(Error::WrongStatus {
            id: id.into(),
            status,
            action: "only a stopped container can be deleted (kill it first, or use --force)",
        });
    }
    if status != Status::Stopped {
        stop(&c.state);
    }
    // Read before the state dir (and the config saved in it) goes.
    let poststop = c.hooks().map(|h| h.poststop);
    remove(&c.dir, &c.state, status, poststop)
}

/// `run`'s delete of the container it created and whose init it reaped: the state is known and
/// stopped, and the poststop hooks are the created config's, so neither is read again.
pub(super) fn delete_reaped(
    dir: &StateDir,
    state: &State,
    poststop: Vec<hooks::Hook>,
) -> Result<(), Error> {
    // Still under the lock (which also sees a delete and new create of the id meanwhile).
    let _lock = dir.lock()?;
    remove(dir, state, Status::Stopped, Ok(poststop))
}

/// Removes what is left of a container whose init is gone (`status` as it was found).
fn remove(
    dir: &StateDir,
    st: &State,
    status: Status,
    poststop: Result<Vec<hooks::Hook>, Error>,
) -> Result<(), Error> {
    // Without its own pid namespace, processes may outlive the init: the cgroup holds them all.
    // So may a program whose init was never recorded (pid 0: its create or run was killed after
    // the init was told to go on, before the state was saved).
    if !st.own_pid_ns || status != Status::Stopped || st.pid == 0 {
        kill_all(st, libc::SIGKILL);
    }
    st.cgroup.remove()?;
    if let Some(root) = &st.shared_root {
        // The container is gone either way; a bind this berth cannot reach is reported.
        if let Err(e) = root.release() {
            crate::logging::warn(&format!("delete {}: detaching its rootfs: {e}", st.id));
        }
    }
    dir.remove()?;
    // Deleted: the poststop hooks, whose failures are only warnings.
    match poststop {
        Ok(h) if h.is_empty() => {}
        Ok(h) => {
            let state = hooks::state_json(&st.to_oci(Status::Stopped));
            hooks::run_warning_only(Kind::Poststop, &h, &state);
        }
        Err(e) => logging::warn(&format!("poststop hooks not run: {e}")),
    }
    Ok(())
}

/// SIGKILLs the init and waits (through its pidfd) until it is gone.
fn stop(st: &State) {
    let pidfd = rustix::process::Pid::from_raw(st.pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    // A frozen container cannot die until thawed.
    if st.cgroup.frozen() {
        let _ = st.cgroup.set_frozen(false);
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
    } else {
        let deadline = Instant::now() + Duration::from_secs(10);
        while st.init_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// No state.json: a create killed before it wrote one may have left its directory. As runc,
/// `--force` on an id that does not exist at all is not an error.
fn remove_remains(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    state::validate_id(id)?;
    let dir = root.join(id);
    if dir.is_dir() {
        std::fs::remove_dir_all(&dir)
            .map_err(super::sys_err(format!("removing {}", dir.display())))?;
        return Ok(());
    }
    if force {
        return Ok(());
    }
    Err(StateError::NotFound(id.into()).into())
}
