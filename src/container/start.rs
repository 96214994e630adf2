//! `start`: tell a created container's init to exec the user's program.

use std::path::Path;

use rustix::net::{RecvFlags, SendFlags};

use super::create::connect_start_socket;
use super::{sys_err, Container, Error};
use crate::hooks::{self, Kind};
use crate::logging;
use crate::state::{StateDir, Status};

pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let _lock = dir.lock()?;
    // Read under the lock: another start may have won.
    let state = dir.load()?;
    let refuse = |status| Error::WrongStatus {
        id: id.into(),
        status,
        action: "only a created container can be started",
    };
    // The init listens on the start socket exactly while the container is created (see
    // State::status): connecting is the check, and the whole status is computed only to explain
    // a refusal (computing it first would probe the socket too: one more wake-up of the init).
    let sock_path = dir.start_socket();
    let sock = match connect_start_socket(&sock_path) {
        Ok(sock) => sock,
        Err(e) => {
            let status = state.status(&dir);
            if status != Status::Created {
                return Err(refuse(status));
            }
            return Err(sys_err(format!("connecting to the init of {id}"))(e));
        }
    };
    // A frozen init would take the connection and never answer: paused, as under runc.
    if state.cgroup.frozen() {
        return Err(refuse(Status::Paused));
    }
    rustix::net::send(&sock, b"s", SendFlags::NOSIGNAL)
        .map_err(|e| sys_err(format!("starting {id}"))(e.into()))?;
    // End-of-file: the exec happened (the socket is close-on-exec). Anything else is the error.
    let mut buf = [0u8; 4096];
    let n = loop {
        match rustix::net::recv(&sock, &mut buf, RecvFlags::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
            r => {
                break r
                    .map_err(|e| sys_err(format!("starting {id}"))(e.into()))?
                    .0
            }
        }
    };
    let _ = std::fs::remove_file(&sock_path);
    if n > 0 {
        return Err(Error::Init(
            String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned(),
        ));
    }
    poststart(Container {
        dir,
        state,
        status: Status::Running,
    });
    Ok(())
}

/// The program runs: the poststart hooks, whose failures are only warnings.
fn poststart(c: Container) {
    match c.hooks() {
        Ok(h) if !h.poststart.is_empty() => {
            let state = hooks::state_json(&c.state.to_oci(Status::Running));
            hooks::run_warning_only(Kind::Poststart, &h.poststart, &state);
        }
        Ok(_) => {}
        Err(e) => logging::warn(&format!("poststart hooks not run: {e}")),
    }
}
