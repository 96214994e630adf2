//! berth's own terminal, when `run` or `exec -t` proxies the container's pty in the foreground:
//! found among stderr, stdout and stdin (or /dev/tty), put in raw mode while the process runs
//! and restored afterwards, and its size copied to the pty (on start and on SIGWINCH).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, OptionalActions, Termios};

enum Fd {
    Stdio(i32),
    Opened(OwnedFd),
}

/// The terminal berth runs on.
pub struct Console {
    fd: Fd,
    /// The modes to restore, once raw mode is on.
    saved: Option<Termios>,
}

impl Console {
    /// The first of stderr, stdout, stdin that is a terminal, else the controlling terminal;
    /// `None` when berth has no terminal at all (the proxy then only copies bytes).
    pub fn find() -> Option<Console> {
        for n in [2, 1, 0] {
            // SAFETY: 0-2 are always open in berth (main makes sure of it) and stay open for
            // the process's life; the borrow does not outlive this check.
            let fd = unsafe { BorrowedFd::borrow_raw(n) };
            if termios::isatty(fd) {
                return Some(Console {
                    fd: Fd::Stdio(n),
                    saved: None,
                });
            }
        }
        rustix::fs::open(
            "/dev/tty",
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(|fd| Console {
            fd: Fd::Opened(fd),
            saved: None,
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match &self.fd {
            // SAFETY: as in `find`: stdio stays open while berth runs.
            Fd::Stdio(n) => unsafe { BorrowedFd::borrow_raw(*n) },
            Fd::Opened(f) => f.as_fd(),
        }
    }

    /// (rows, columns), if the terminal reports a size.
    pub fn size(&self) -> Option<(u16, u16)> {
        termios::tcgetwinsize(self.fd())
            .ok()
            .filter(|w| w.ws_row > 0 && w.ws_col > 0)
            .map(|w| (w.ws_row, w.ws_col))
    }

    /// Copies this terminal's size to `pty` (the container's master).
    pub fn resize(&self, pty: BorrowedFd<'_>) {
        if let Ok(ws) = termios::tcgetwinsize(self.fd()) {
            let _ = termios::tcsetwinsize(pty, ws);
        }
    }

    /// Raw mode: keys reach the container's terminal unchanged (^C included); restored on drop.
    pub fn make_raw(&mut self) -> std::io::Result<()> {
        let saved = termios::tcgetattr(self.fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(self.fd(), OptionalActions::Now, &raw)?;
        self.saved = Some(saved);
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(self.fd(), OptionalActions::Drain, &saved);
        }
    }
}
