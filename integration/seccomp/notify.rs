//! SCMP_ACT_NOTIFY: the listener fd and the state handed to a seccomp agent, whose answers the
//! container sees.

use super::{deny_mkdir, with_seccomp, EXDEV};
use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the test agent saw.
#[derive(Debug, Default)]
struct AgentReport {
    /// The JSON message that came with the fd.
    message: Value,
    fds: usize,
    /// (syscall number, whether the notifying process was in the container's cgroup).
    notified: Vec<(i32, bool)>,
}

/// A seccomp agent on `sock`: takes one connection, the state and the listener fd, then
/// answers notifications with -EXDEV first and a fake success after, until the filter has no
/// users left, `done` is set, or 20 s passed.
fn spawn_agent(
    sock: PathBuf,
    cgroup: String,
    done: Arc<AtomicBool>,
) -> JoinHandle<Result<AgentReport, String>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;
    let listener = UnixListener::bind(&sock).expect("bind the agent's socket");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let conn = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline || done.load(Ordering::Relaxed) {
                        return Err("no connection from the runtime".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let (data, fds) = recv_with_fds(&conn)?;
        let message: Value = serde_json::from_slice(&data)
            .map_err(|e| format!("not JSON ({e}): {:?}", String::from_utf8_lossy(&data)))?;
        let mut report = AgentReport {
            message,
            fds: fds.len(),
            notified: Vec::new(),
        };
        let Some(notify_fd) = fds.into_iter().next() else {
            return Ok(report);
        };
        let fd = notify_fd.as_raw_fd();
        while Instant::now() < deadline && !done.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n <= 0 {
                continue;
            }
            if pfd.revents & libc::POLLIN == 0 {
                // POLLHUP: every process of the filter is gone.
                break;
            }
            // SAFETY: all-zero is a valid seccomp_notif, and the kernel wants it zeroed.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: RECV fills the seccomp_notif it is given.
            if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
                // ENOENT: the caller died meanwhile.
                continue;
            }
            let in_container = fs::read_to_string(format!("/proc/{}/cgroup", req.pid))
                .is_ok_and(|cg| cg.lines().any(|l| l.ends_with(&format!(":{cgroup}"))));
            let first = report.notified.is_empty();
            report.notified.push((req.data.nr, in_container));
            let mut resp = libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: if first { -EXDEV } else { 0 },
                flags: 0,
            };
            // SAFETY: SEND reads the seccomp_notif_resp it is given.
            unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        }
        Ok(report)
    })
}

/// Reads one message with its SCM_RIGHTS fds, then the rest of the stream until EOF.
fn recv_with_fds(
    conn: &std::os::unix::net::UnixStream,
) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        conn,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    let mut data = buf[..msg.bytes].to_vec();
    let mut rest = conn;
    rest.read_to_end(&mut data)
        .map_err(|e| format!("reading the rest of the message: {e}"))?;
    Ok((data, fds))
}

#[test]
fn notify_agent_gets_the_fd_and_state_and_its_answers_are_seen() {
    need_root!();
    notify_agent(true);
}

/// Without no_new_privs the filter is loaded with CAP_SYS_ADMIN held, before the init's last
/// steps: the hand-over works the same.
#[test]
fn notify_agent_without_no_new_privileges() {
    need_root!();
    notify_agent(false);
}

fn notify_agent(no_new_privileges: bool) {
    let agent_dir = tempfile::tempdir().expect("tempdir");
    let sock = agent_dir.path().join("agent.sock");
    let script = "exec 2>&1; mkdir /dev/shm/n1; echo rc=$?; mkdir /dev/shm/n2 && echo made; \
                  [ -d /dev/shm/n2 ] && echo exists || echo absent";
    let mut seccomp = deny_mkdir("SCMP_ACT_NOTIFY", json!({}));
    seccomp["listenerPath"] = json!(sock);
    seccomp["listenerMetadata"] = json!("it-meta");
    let b = with_seccomp(Bundle::new(), seccomp)
        .set("/annotations", json!({"org.berth.test": "notify"}))
        .set("/process/noNewPrivileges", json!(no_new_privileges))
        .args(&["sh", "-c", script]);
    let done = Arc::new(AtomicBool::new(false));
    let agent = spawn_agent(sock, b.cgroup_path.clone(), done.clone());
    let mut c = Container::new(b);
    let created = c.create(&[]);
    if !created.status.success() {
        done.store(true, Ordering::Relaxed);
        let _ = agent.join();
        panic!("create failed:\n{created}");
    }
    let pid = c.pid_file_proc().pid;
    c.start().assert_ok();
    c.wait_status("stopped");
    done.store(true, Ordering::Relaxed);
    let report = agent.join().expect("agent thread").expect("agent");
    let out = c.output();
    c.delete(false).assert_ok();
    c.assert_no_leftovers();

    let m = &report.message;
    assert_eq!(report.fds, 1, "{m}");
    assert_eq!(m["fds"], json!(["seccompFd"]), "{m}");
    assert_eq!(m["pid"], json!(pid), "{m}");
    assert_eq!(m["metadata"], "it-meta", "{m}");
    assert!(m["ociVersion"].is_string(), "{m}");
    let state = &m["state"];
    assert_eq!(state["id"], json!(c.id), "{m}");
    assert_eq!(state["pid"], json!(pid), "{m}");
    assert_eq!(state["status"], "creating", "{m}");
    assert_eq!(state["bundle"], json!(c.bundle.path()), "{m}");
    assert_eq!(state["annotations"]["org.berth.test"], "notify", "{m}");

    // mkdir (83) or mkdirat (258), both from a process in the container.
    assert_eq!(report.notified.len(), 2, "{report:?}\n{out}");
    for (nr, in_container) in &report.notified {
        assert!(*nr == 83 || *nr == 258, "{report:?}");
        assert!(in_container, "{report:?}");
    }
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/n1': Invalid cross-device link\nrc=1\n\
         made\nabsent\n"
    );
}
