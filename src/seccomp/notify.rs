//! SCMP_ACT_NOTIFY's hand-off: the filter's listener fd goes to the seccomp agent listening on
//! `listenerPath`, with the container's state, in the shape runc sends (one message: the
//! runtime-spec's ContainerProcessState as JSON, the fd as SCM_RIGHTS), so agents written for
//! runc work unchanged.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use super::Listener;

/// What the agent learns about the container.
pub struct Container<'a> {
    pub id: &'a str,
    /// The container's init.
    pub pid: i32,
    /// "creating" while create runs; "running" (or "created") for an `exec`.
    pub status: &'a str,
    /// The process whose filter this is: the init, or an `exec`'d process.
    pub process_pid: i32,
    pub bundle: &'a Path,
    pub annotations: &'a HashMap<String, String>,
}

/// The runtime-spec ContainerProcessState for `c`.
pub fn state_json(l: &Listener, c: &Container<'_>) -> String {
    let mut state = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "id": c.id,
        "status": c.status,
        "pid": c.pid,
        "bundle": c.bundle,
    });
    if !c.annotations.is_empty() {
        state["annotations"] = serde_json::json!(c.annotations);
    }
    let mut msg = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": c.process_pid,
        "state": state,
    });
    if !l.metadata.is_empty() {
        msg["metadata"] = serde_json::json!(l.metadata);
    }
    msg.to_string()
}

/// What the init or an `exec`'d process reported after loading `program` (the filter it was
/// given): its listener is `fd` in that process, reached through `process`, its pidfd. Copies
/// the listener out and sends it to the agent at `listenerPath`.
pub fn hand_over(
    program: Option<&super::Program>,
    process: Option<BorrowedFd<'_>>,
    fd: RawFd,
    c: &Container<'_>,
) -> Result<(), String> {
    let l = program
        .and_then(|p| p.listener.as_ref())
        .ok_or("the container's process sent a seccomp listener nobody asked for")?;
    let process = process.ok_or("no pidfd for the container's process")?;
    rustix::process::pidfd_getfd(process, fd, rustix::process::PidfdGetfdFlags::empty())
        .map_err(io::Error::from)
        .and_then(|copy| send(l, c, copy.as_fd()))
        .map_err(|e| {
            format!(
                "handing the seccomp listener to the agent at linux.seccomp.listenerPath {}: {e}",
                l.path.display()
            )
        })
}

/// Connects to the agent and sends it the state and the listener fd.
pub fn send(l: &Listener, c: &Container<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let sock = UnixStream::connect(&l.path)?;
    let json = state_json(l, c);
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    let sent = rustix::net::sendmsg(
        &sock,
        &[IoSlice::new(json.as_bytes())],
        &mut anc,
        SendFlags::NOSIGNAL,
    )?;
    if sent != json.len() {
        return Err(io::Error::other("the agent took only part of the state"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_has_runc_shape() {
        let l = Listener {
            path: "/run/agent.sock".into(),
            metadata: "m1".into(),
        };
        let ann = HashMap::from([("a".to_string(), "b".to_string())]);
        let c = Container {
            id: "c1",
            pid: 42,
            status: "creating",
            process_pid: 42,
            bundle: Path::new("/b"),
            annotations: &ann,
        };
        let v: serde_json::Value = serde_json::from_str(&state_json(&l, &c)).unwrap();
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "m1");
        assert_eq!(v["state"]["id"], "c1");
        assert_eq!(v["state"]["pid"], 42);
        assert_eq!(v["state"]["bundle"], "/b");
        assert_eq!(v["state"]["annotations"]["a"], "b");
    }
}
