//! `process.terminal`: the pty master handed to a console socket (as containerd's shim and
//! podman's conmon receive it), consoleSize, /dev/console, `run` proxying the pty to its own
//! terminal under `script`, and the /dev/console defence against a hostile rootfs.

use crate::common::{Bundle, Container, CMD_TIMEOUT};
use crate::host;
use serde_json::json;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A console socket like a shim's: accepts one connection and takes the master from it.
struct Receiver {
    path: PathBuf,
    thread: JoinHandle<Result<(String, OwnedFd), String>>,
}

impl Receiver {
    fn new(dir: &Path) -> Receiver {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind the console socket");
        let thread = std::thread::spawn(move || {
            let conn = accept(&listener, Duration::from_secs(30))?;
            recv_fd(&conn)
        });
        Receiver { path, thread }
    }

    fn arg(&self) -> String {
        self.path.display().to_string()
    }

    /// The name and the master the runtime sent.
    fn master(self) -> (String, OwnedFd) {
        self.thread
            .join()
            .expect("receiver thread")
            .expect("the console socket got the terminal")
    }
}

/// One connection, within `timeout` (a runtime that never connects fails the test, not hangs).
pub fn accept(
    listener: &UnixListener,
    timeout: Duration,
) -> Result<std::os::unix::net::UnixStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let conn = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("no connection from the runtime".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// runc's wire format: one message, a name as data, one fd as SCM_RIGHTS (also the shape of
/// the seccomp agent's message).
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> Result<(String, OwnedFd), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = [0u8; 4096];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
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
    if fds.len() != 1 {
        return Err(format!("{} fds in the message", fds.len()));
    }
    let name = String::from_utf8_lossy(&buf[..msg.bytes]).into_owned();
    Ok((name, fds.remove(0)))
}

/// Types `input` into the terminal and reads what it shows until the last process holding it
/// is gone (EIO) or 20 s passed.
fn talk(master: &OwnedFd, input: &str) -> String {
    rustix::io::write(master, input.as_bytes()).expect("write to the terminal");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let mut fds = [rustix::event::PollFd::new(
            master,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) == 0 {
            continue;
        }
        match rustix::io::read(master.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_a_pty_slave_line(out: &str, path: &str) -> bool {
    out.lines()
        .any(|l| l.contains(path) && l.trim_start().starts_with('c') && l.contains("136,"))
}

#[test]
fn console_socket_gets_the_master_with_the_configured_size() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = Receiver::new(dir.path());
    let b = Bundle::new()
        .set("/process/terminal", json!(true))
        .set("/process/consoleSize", json!({"height": 30, "width": 100}))
        .args(&["sh"]);
    let mut c = Container::new(b);
    c.create(&["--console-socket", &rx.arg()]).assert_ok();
    let (name, master) = rx.master();
    assert!(!name.is_empty(), "runc sends a name with the fd");
    c.start().assert_ok();
    let shown = talk(
        &master,
        "stty size; tty; test -t 0 && echo stdin-tty; ls -l /dev/console; exit 7\n",
    );
    assert!(shown.contains("\n30 100\r\n"), "{shown:?}");
    assert!(shown.contains("/dev/pts/0\r\n"), "{shown:?}");
    assert!(shown.contains("stdin-tty\r\n"), "{shown:?}");
    // /dev/console is the pty's slave (major 136), bind-mounted.
    assert!(is_a_pty_slave_line(&shown, "/dev/console"), "{shown:?}");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// `exec --tty --detach --console-socket` with a process file, as containerd's shim runs it.
#[test]
fn exec_with_a_tty_sends_its_master_to_the_console_socket() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    c.create_and_start();
    c.wait_output("ready");
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = Receiver::new(dir.path());
    let process = json!({
        "terminal": true,
        "consoleSize": {"height": 24, "width": 60},
        "args": ["sh"],
        "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0}
    });
    let file = dir.path().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let pid_file = dir.path().join("exec.pid");
    c.rt(&[
        "exec",
        "--detach",
        "--console-socket",
        &rx.arg(),
        "--pid-file",
        &pid_file.display().to_string(),
        "--process",
        &file.display().to_string(),
        &c.id,
    ])
    .assert_ok();
    let (_, master) = rx.master();
    // The pid file names the shell (its pid on the host), in the container's cgroup.
    let pid: u32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cmdline")).expect("the shell's cmdline"),
        "sh\0"
    );
    assert!(host::procs_in_cgroup(&c.bundle.cgroup_path)
        .iter()
        .any(|p| p.pid == pid));
    let shown = talk(&master, "stty size; tty; exit 0\n");
    assert!(shown.contains("\n24 60\r\n"), "{shown:?}");
    assert!(shown.contains("/dev/pts/0\r\n"), "{shown:?}");
    host::wait_until(crate::common::STATE_TIMEOUT, "the shell to exit", || {
        (!host::procs_in_cgroup(&c.bundle.cgroup_path)
            .iter()
            .any(|p| p.pid == pid))
        .then_some(())
    });
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// `run` of a container with a terminal, in the foreground: the runtime proxies the pty to
/// its own terminal (here the one `script` gives it), at that terminal's size.
#[test]
fn run_with_a_terminal_proxies_it_under_script() {
    need_root!();
    let script =
        "tty; test -t 0 && echo stdin-tty; test -t 1 && echo stdout-tty; stty size; exit 5";
    let c = Container::new(
        Bundle::new()
            .set("/process/terminal", json!(true))
            .args(&["sh", "-c", script]),
    );
    let cmdline = format!(
        "stty rows 33 cols 77; {} --root {} run --bundle {} {}",
        c.bin.display(),
        c.root().display(),
        c.bundle.path().display(),
        c.id
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run script (util-linux)");
    let status = host::wait_child(&mut child, CMD_TIMEOUT, "script");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read");
    assert_eq!(status.code(), Some(5), "{out}");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("stdin-tty"), "{out:?}");
    assert!(out.contains("stdout-tty"), "{out:?}");
    // berth sizes the pty before the exec; runc resizes it once the process runs (a race).
    if crate::common::berth_specific_enabled() {
        assert!(out.contains("33 77"), "{out:?}");
    }
    c.assert_no_leftovers();
}

#[test]
fn a_terminal_needs_a_console_socket_to_create() {
    need_root!();
    let mut c = Container::new(Bundle::new().set("/process/terminal", json!(true)));
    let out = c.create(&[]);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert!(out.stderr.contains("--console-socket"), "{out}");
    }
    c.assert_no_leftovers();
}

#[test]
fn a_console_socket_needs_a_terminal() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let _sock = UnixListener::bind(dir.path().join("s.sock")).expect("bind");
    let mut c = Container::new(Bundle::new());
    let sock = dir.path().join("s.sock").display().to_string();
    let out = c.create(&["--console-socket", &sock]);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert!(out.stderr.contains("process.terminal"), "{out}");
    }
    c.assert_no_leftovers();
}

#[test]
fn a_missing_console_socket_fails_create_and_leaves_nothing() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.sock");
    let mut c = Container::new(Bundle::new().set("/process/terminal", json!(true)));
    let out = c.create(&["--console-socket", &missing.display().to_string()]);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        assert!(out.stderr.contains("missing.sock"), "{out}");
    }
    assert!(!missing.exists());
    c.assert_no_leftovers();
}

/// The bundle with the image's own /dev (no tmpfs over it), so the rootfs decides what
/// /dev/console is.
fn image_dev(b: Bundle) -> Bundle {
    let mut mounts = b.config["mounts"].as_array().expect("mounts").clone();
    mounts.retain(|m| m["destination"] != "/dev");
    b.set("/mounts", json!(mounts))
        .set("/process/terminal", json!(true))
}

/// CVE-2025-52565 class: a /dev/console that is a symlink (to a host path, or to a procfs
/// file of the container) must not redirect the console's bind mount: berth refuses it.
#[test]
fn a_dev_console_symlink_does_not_redirect_the_mount() {
    need_berth!();
    let host_dir = tempfile::tempdir().expect("tempdir");
    let host_target = host_dir.path().join("target");
    fs::write(&host_target, "host file\n").expect("write the host file");
    for link in [
        host_target.display().to_string(),
        "/proc/sysrq-trigger".to_string(),
    ] {
        let b = image_dev(Bundle::new());
        let dev = b.rootfs().join("dev");
        fs::create_dir_all(&dev).expect("mkdir dev");
        let _ = fs::remove_file(dev.join("console"));
        std::os::unix::fs::symlink(&link, dev.join("console")).expect("plant the symlink");
        let dir = tempfile::tempdir().expect("tempdir");
        let rx = Receiver::new(dir.path());
        let mut c = Container::new(b);
        let out = c.create(&["--console-socket", &rx.arg()]);
        out.assert_failed();
        assert!(out.stderr.contains("/dev/console"), "{link}: {out}");
        assert!(out.stderr.contains("symlink"), "{link}: {out}");
        c.assert_no_leftovers();
        assert_eq!(
            fs::read_to_string(&host_target).expect("host file"),
            "host file\n"
        );
        assert!(
            host::mounts_under(host_dir.path()).is_empty(),
            "something was mounted on the host file"
        );
        drop(rx);
    }
}

/// With the image's /dev, a plain /dev/console file is where the pty goes.
#[test]
fn an_image_dev_console_file_gets_the_pty() {
    need_root!();
    let b = image_dev(Bundle::new()).args(&["sh", "-c", "ls -l /dev/console; tty"]);
    let dev = b.rootfs().join("dev");
    fs::create_dir_all(&dev).expect("mkdir dev");
    fs::write(dev.join("console"), "").expect("an empty /dev/console");
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = Receiver::new(dir.path());
    let mut c = Container::new(b);
    c.create(&["--console-socket", &rx.arg()]).assert_ok();
    let (_, master) = rx.master();
    c.start().assert_ok();
    let shown = talk(&master, "");
    assert!(is_a_pty_slave_line(&shown, "/dev/console"), "{shown:?}");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
    assert_eq!(
        fs::read(dev.join("console")).expect("the image's file"),
        b"",
        "the mount stayed in the container"
    );
}
