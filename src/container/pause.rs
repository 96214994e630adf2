//! `pause` / `resume`: freeze or thaw every process of the container with the cgroup freezer
//! (cgroup.freeze on v2, freezer.state on v1). `state` then says `paused`, as under runc.

use std::path::Path;

use super::{Container, Error};
use crate::state::{StateDir, Status};

/// Loads the container under its lock, checks its status, and freezes or thaws it.
fn set(root: &Path, id: &str, frozen: bool) -> Result<(), Error> {
    // Read under the lock (see StateDir::lock).
    let _lock = StateDir::open(root, id)?.lock()?;
    let c = Container::load(root, id)?;
    let ok = if frozen {
        // runc pauses a created container too: its init is frozen before it execs.
        matches!(c.status, Status::Running | Status::Created)
    } else {
        c.status == Status::Paused
    };
    if !ok {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: c.status,
            action: if frozen {
                "only a running or created container can be paused"
            } else {
                "only a paused container can be resumed"
            },
        });
    }
    Ok(c.state.cgroup.set_frozen(frozen)?)
}

pub fn pause(root: &Path, id: &str) -> Result<(), Error> {
    set(root, id, true)
}

pub fn resume(root: &Path, id: &str) -> Result<(), Error> {
    set(root, id, false)
}
