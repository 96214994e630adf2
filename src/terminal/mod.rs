//! `process.terminal`: the process's stdio is a pseudo-terminal made inside the container (from
//! its own devpts), and the master end goes to whoever drives it:
//! - a `--console-socket` (containerd's shim, podman's conmon): the master is sent over that
//!   unix socket as runc sends it, one message holding a name and the fd in SCM_RIGHTS;
//! - berth itself, for `run` and `exec -t` in the foreground: berth proxies the pty to its own
//!   terminal (raw mode, window size), as `runc run` does (see `host` and container::foreground).
//!
//! `pty` runs inside the container (after pivot_root, or after exec's setns), `console` bind
//! mounts the pty on /dev/console for the init, `host` is berth's own terminal.

pub mod console;
pub mod host;
mod pty;

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::net::{
    self, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

pub use pty::setup;

/// The name sent with the master, as runc 1.1 sends it (receivers use it only as a label).
const MASTER_NAME: &str = "/dev/ptmx";

/// The process's terminal, prepared before clone.
pub struct Plan {
    /// Where the master goes: a connected `--console-socket`, or one end of berth's own pair.
    pub socket: OwnedFd,
    /// `process.consoleSize` (rows, columns), or berth's own terminal's size when it proxies.
    pub size: Option<(u16, u16)>,
    /// berth proxies the terminal itself: output newlines are not turned into CR LF, as under
    /// `runc run` (set in the container, before the process can write anything).
    pub no_onlcr: bool,
}

/// A terminal for a process, as the command line and config ask for it. `size` is
/// `process.consoleSize`. Returns the plan and, when berth proxies the terminal itself, the end
/// of the pair on which the master will arrive. The checks are runc's.
pub fn prepare(
    terminal: bool,
    console_socket: Option<&Path>,
    detached: bool,
    size: Option<(u16, u16)>,
) -> Result<Option<(Plan, Option<OwnedFd>)>, String> {
    if detached && terminal && console_socket.is_none() {
        return Err(
            "process.terminal is set, but no --console-socket was given to receive \
                    the terminal (a detached container needs one)"
                .into(),
        );
    }
    if let Some(path) = console_socket {
        if !terminal {
            return Err(format!(
                "--console-socket {}: the process has no terminal (process.terminal or --tty)",
                path.display()
            ));
        }
        if !detached {
            return Err(format!(
                "--console-socket {}: only a detached process hands its terminal to a socket \
                 (use --detach)",
                path.display()
            ));
        }
    }
    if !terminal {
        return Ok(None);
    }
    if let Some(path) = console_socket {
        let socket =
            connect(path).map_err(|e| format!("--console-socket {}: {e}", path.display()))?;
        return Ok(Some((
            Plan {
                socket,
                size,
                no_onlcr: false,
            },
            None,
        )));
    }
    let (ours, theirs) = net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| format!("creating the terminal's socket pair: {e}"))?;
    // berth's own terminal decides the size, as `runc run` resizes the pty to it.
    let size = host::Console::find().and_then(|c| c.size()).or(size);
    Ok(Some((
        Plan {
            socket: theirs,
            size,
            no_onlcr: true,
        },
        Some(ours),
    )))
}

/// `process.consoleSize` as (rows, columns); a zero dimension means "not set", as in runc.
pub fn size_from_spec(b: Option<oci_spec::runtime::Box>) -> Result<Option<(u16, u16)>, String> {
    let Some(b) = b else { return Ok(None) };
    if b.height() == 0 || b.width() == 0 {
        return Ok(None);
    }
    let dim = |v: u64, what: &str| {
        u16::try_from(v).map_err(|_| format!("{what} {v} is larger than a terminal can be"))
    };
    Ok(Some((dim(b.height(), "height")?, dim(b.width(), "width")?)))
}

/// Connects to a console socket: a stream socket as runc dials it, or a seqpacket one.
pub fn connect(path: &Path) -> io::Result<OwnedFd> {
    let addr = SocketAddrUnix::new(path)?;
    let mut last = io::Error::from_raw_os_error(libc::EPROTOTYPE);
    for typ in [SocketType::STREAM, SocketType::SEQPACKET] {
        let sock = net::socket_with(AddressFamily::UNIX, typ, SocketFlags::CLOEXEC, None)?;
        match net::connect(&sock, &addr) {
            Ok(()) => return Ok(sock),
            Err(rustix::io::Errno::PROTOTYPE) => last = rustix::io::Errno::PROTOTYPE.into(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last)
}

/// Sends the master: one message, the name as data and the fd as SCM_RIGHTS (runc's SendFd).
pub fn send_master(socket: BorrowedFd<'_>, master: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [master];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    let n = net::sendmsg(
        socket,
        &[IoSlice::new(MASTER_NAME.as_bytes())],
        &mut anc,
        SendFlags::NOSIGNAL,
    )?;
    if n != MASTER_NAME.len() {
        return Err(io::Error::other(
            "the console socket took only part of the message",
        ));
    }
    Ok(())
}

/// Receives a master sent by `send_master` (for berth's own proxy).
pub fn recv_master(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut name = [0u8; 256];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut name)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for f in fds {
                fd.get_or_insert(f);
            }
        }
    }
    match fd {
        Some(fd) => Ok(fd),
        None if msg.bytes == 0 => Err(io::Error::other(
            "the container's process exited before sending its terminal",
        )),
        None => Err(io::Error::other("no terminal came with the message")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(terminal: bool, socket: Option<&str>, detached: bool) -> String {
        match prepare(terminal, socket.map(Path::new), detached, None) {
            Err(e) => e,
            Ok(_) => panic!("accepted: {terminal} {socket:?} {detached}"),
        }
    }

    #[test]
    fn runcs_checks_of_terminal_and_console_socket() {
        assert!(refusal(true, None, true).contains("--console-socket"));
        assert!(refusal(false, Some("/s"), true).contains("no terminal"));
        assert!(refusal(true, Some("/s"), false).contains("--detach"));
        assert!(prepare(false, None, true, None).unwrap().is_none());
        assert!(prepare(false, None, false, None).unwrap().is_none());
        let missing = refusal(true, Some("/nonexistent/berth-test.sock"), true);
        assert!(missing.starts_with("--console-socket /nonexistent/berth-test.sock"));
    }

    #[test]
    fn console_size() {
        use oci_spec::runtime::BoxBuilder;
        let b = |h: u64, w: u64| Some(BoxBuilder::default().height(h).width(w).build().unwrap());
        assert_eq!(size_from_spec(b(30, 100)).unwrap(), Some((30, 100)));
        assert_eq!(size_from_spec(b(0, 100)).unwrap(), None);
        assert_eq!(size_from_spec(None).unwrap(), None);
        assert!(size_from_spec(b(70_000, 1)).is_err());
    }

    #[test]
    fn the_master_travels_with_a_name() {
        use std::os::fd::AsFd;
        let (a, b) = net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send_master(a.as_fd(), file.as_fd()).unwrap();
        let got = recv_master(b.as_fd()).unwrap();
        let st = rustix::fs::fstat(&got).unwrap();
        assert_eq!(rustix::fs::major(st.st_rdev), 1);
        drop(a);
        assert!(recv_master(b.as_fd()).is_err());
    }
}
