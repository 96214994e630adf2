//! The foreground of `run` and `exec`: berth waits for the process, forwards every signal it
//! gets to it, exits with its status (128+N if signal N ended it), and with a terminal copies
//! between its own stdio and the pty (the terminal in raw mode, resized on SIGWINCH), as runc
//! does. One thread: a signalfd, stdin and the pty master under poll.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::OFlags;
use rustix::io::Errno;

use super::{sys_err, Error};
use crate::sys;
use crate::terminal::host;

/// Signals berth keeps its default reaction to: uncatchable, or a crash of berth itself.
const NOT_FORWARDED: [i32; 8] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGABRT,
];

/// Blocks every catchable signal (real-time ones and glibc's reserved 32/33 included) and
/// returns the mask. Called before the process is cloned, so that none is missed before the
/// wait starts: SIGCHLD ends the wait, the rest go to the process. The mask stays until berth
/// exits. The process itself starts with nothing blocked (the init and exec reset it).
pub fn block_signals() -> Result<u64, Error> {
    let mask = sys::sigmask((1..=64).filter(|s| !NOT_FORWARDED.contains(s)));
    sys::set_sigmask(libc::SIG_BLOCK, mask).map_err(sys_err("blocking signals"))?;
    Ok(mask)
}

/// Waits for `pid` (berth's child), forwarding signals through `pidfd`; with `pty` (the master
/// of the process's terminal) proxies it to berth's stdio. Returns the exit code to exit with.
pub fn wait(
    pid: i32,
    pidfd: Option<BorrowedFd<'_>>,
    mask: u64,
    pty: Option<OwnedFd>,
) -> Result<i32, Error> {
    let sigfd = sys::signalfd(mask).map_err(sys_err("waiting for signals"))?;
    let mut proxy = pty.map(Proxy::new).transpose()?;
    loop {
        let mut fds = vec![PollFd::new(&sigfd, PollFlags::IN)];
        let slots = proxy.as_ref().map(|p| p.poll_fds(&mut fds));
        match poll(&mut fds, None) {
            Err(Errno::INTR) => continue,
            r => r.map_err(|e| sys_err("waiting for the process")(e.into()))?,
        };
        let ready: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
        drop(fds);
        if let (Some(p), Some((stdin, master))) = (&mut proxy, slots) {
            p.copy(stdin.map(|i| ready[i]), master.map(|i| ready[i]));
        }
        if ready[0].is_empty() {
            continue;
        }
        while let Some(sig) = sys::read_signal(sigfd.as_fd()).map_err(sys_err("reading signals"))? {
            match sig {
                libc::SIGCHLD => {
                    if let Some(code) = reap(pid)? {
                        if let Some(p) = &mut proxy {
                            p.drain();
                        }
                        return Ok(code);
                    }
                }
                libc::SIGWINCH if proxy.is_some() => {
                    if let Some(p) = &proxy {
                        p.resize();
                    }
                }
                libc::SIGWINCH => {}
                sig => {
                    if let Some(fd) = pidfd {
                        let _ = sys::pidfd_send_signal(fd, sig);
                    }
                }
            }
        }
    }
}

/// The exit code of `pid` if it has ended.
fn reap(pid: i32) -> Result<Option<i32>, Error> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, s, _)) => Ok(Some(128 + s as i32)),
        Ok(_) => Ok(None),
        Err(nix::errno::Errno::ECHILD) => Ok(Some(255)),
        Err(e) => Err(sys_err("waiting for the process")(e.into())),
    }
}

/// berth's stdio ↔ the pty master.
struct Proxy {
    master: OwnedFd,
    console: Option<host::Console>,
    stdin_open: bool,
    master_open: bool,
    /// Read from stdin, not yet taken by the pty.
    pending: Vec<u8>,
}

impl Proxy {
    fn new(master: OwnedFd) -> Result<Proxy, Error> {
        rustix::fs::fcntl_setfl(&master, OFlags::NONBLOCK)
            .map_err(|e| sys_err("setting up the terminal")(e.into()))?;
        let mut console = host::Console::find();
        if let Some(c) = &mut console {
            c.resize(master.as_fd());
            c.make_raw()
                .map_err(sys_err("putting berth's terminal in raw mode"))?;
        }
        Ok(Proxy {
            master,
            console,
            stdin_open: true,
            master_open: true,
            pending: Vec::new(),
        })
    }

    fn resize(&self) {
        if let Some(c) = &self.console {
            c.resize(self.master.as_fd());
        }
    }

    /// Adds stdin (while there is room for more input) and the master (while a slave is open)
    /// to the poll set, and says where. An fd that is done is left out: it would report
    /// POLLHUP at every poll.
    fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) -> (Option<usize>, Option<usize>) {
        let stdin = (self.stdin_open && self.pending.is_empty()).then(|| {
            // SAFETY: fd 0 stays open while berth runs (main makes sure it is open at all).
            let fd = unsafe { BorrowedFd::borrow_raw(0) };
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
            fds.len() - 1
        });
        let master = self.master_open.then(|| {
            let mut m = PollFlags::IN;
            if !self.pending.is_empty() {
                m |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&self.master, m));
            fds.len() - 1
        });
        (stdin, master)
    }

    /// Moves what the poll found ready on stdin and the master.
    fn copy(&mut self, stdin: Option<PollFlags>, master: Option<PollFlags>) {
        let mut buf = [0u8; 8192];
        if stdin.is_some_and(|r| !r.is_empty()) {
            match rustix::io::read(std::io::stdin(), &mut buf) {
                Ok(0) => self.stdin_open = false,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => self.stdin_open = false,
            }
        }
        let master = master.unwrap_or(PollFlags::empty());
        if master.contains(PollFlags::OUT) && !self.pending.is_empty() {
            match rustix::io::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => self.pending.clear(),
            }
        }
        if master.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            self.read_master(&mut buf);
        }
    }

    /// Copies what the pty has to stdout; at EIO (no slave left) stops watching it.
    fn read_master(&mut self, buf: &mut [u8]) -> bool {
        match rustix::io::read(&self.master, &mut *buf) {
            Ok(0) | Err(Errno::IO) => {
                self.master_open = false;
                false
            }
            Ok(n) => {
                let mut out = std::io::stdout();
                let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                true
            }
            Err(Errno::INTR) => true,
            Err(_) => false,
        }
    }

    /// After the process ended: whatever it wrote is still in the pty.
    fn drain(&mut self) {
        let mut buf = [0u8; 8192];
        while self.master_open && self.read_master(&mut buf) {}
    }
}
