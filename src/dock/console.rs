//! Terminals: the console socket a runtime sends the container's pty master over (as
//! containerd and conmon receive it: SCM_RIGHTS on a unix socket), and the caller's terminal
//! in raw mode while it is attached.

use crate::dock::error::IoContext;
use crate::dock::{Error, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use rustix::termios::{self, OptionalActions, Termios};
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A listening console socket; the file is removed when dropped.
pub struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> Result<ConsoleSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ctx("creating", dir)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).ctx("binding the console socket", path)?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The pty master the runtime sent while `create` ran (it is queued on the socket).
    pub fn receive(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .ctx("console socket", &self.path)?;
        let (conn, _) = self.listener.accept().map_err(|e| {
            Error::new(format!(
                "the runtime sent no terminal over {}: {e}",
                self.path.display()
            ))
        })?;
        conn.set_nonblocking(false)
            .ctx("console socket", &self.path)?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::new(format!("receiving the terminal: {e}")))?;
        let cmsgs = msg
            .cmsgs()
            .map_err(|e| Error::new(format!("receiving the terminal: {e}")))?;
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this descriptor in our table for us
                    // (SCM_RIGHTS); nothing else owns it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(Error::new(
            "the runtime's console message carried no file descriptor",
        ))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The caller's terminal in raw mode; restored when dropped.
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    pub fn enter(tty: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = termios::tcgetattr(tty).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(tty, OptionalActions::Now, &raw).ok()?;
        Some(RawMode {
            fd: tty.try_clone_to_owned().ok()?,
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Gives the container's terminal the caller's window size.
pub fn copy_winsize(from: impl AsFd, to: impl AsFd) {
    if let Ok(ws) = termios::tcgetwinsize(from) {
        let _ = termios::tcsetwinsize(to, ws);
    }
}
