//! The messages between `berth create` (the parent) and the container's init (the child), over
//! one SOCK_SEQPACKET socketpair. Each direction has its own message type, and each message is one
//! packet: a tag byte and a payload. If the parent dies, the child reads end-of-file and exits,
//! so an abandoned init never lingers.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// Parent → init.
#[derive(Debug, PartialEq, Eq)]
pub enum ToInit {
    /// The init is in its cgroup: it may set up the container.
    Go,
    /// state.json and the pid file are written: the init now belongs to the container.
    Commit,
    /// As Commit, and exec the program right away (`run`): the result comes back on this
    /// channel (end-of-file at the exec, or the error), and the start socket is not used.
    Start,
    /// The prestart and createRuntime hooks ran: the init may go on to pivot_root.
    HooksDone,
}

/// Init → parent.
#[derive(Debug, PartialEq, Eq)]
pub enum FromInit {
    /// Set up, waiting for `start`. Carries the duration of each phase, for `--debug`.
    Ready(String),
    /// Setup failed; the message names the step ("mount proc on /proc: EPERM").
    Failed(String),
    /// The seccomp filter is loaded and its notify listener is this fd of the init: the parent
    /// copies it (pidfd_getfd) for the seccomp agent.
    SeccompListener(i32),
    /// The mounts are built and the init waits before pivot_root: time for the prestart and
    /// createRuntime hooks.
    RuntimeHooks,
}

const GO: u8 = 1;
const COMMIT: u8 = 2;
const READY: u8 = 3;
const FAILED: u8 = 4;
const SECCOMP_LISTENER: u8 = 5;
const RUNTIME_HOOKS: u8 = 20;
const HOOKS_DONE: u8 = 21;
const START: u8 = 6;

/// One end of the channel.
pub struct Channel(pub OwnedFd);

/// A connected pair: (parent's end, init's end), both close-on-exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    fn send(&self, tag: u8, payload: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload);
        net::send(self.0.as_fd(), &buf, SendFlags::NOSIGNAL)?;
        Ok(())
    }

    /// A packet, or `None` at end-of-file (the other side is gone).
    fn recv(&self) -> io::Result<Option<(u8, String)>> {
        let mut buf = [0u8; 8192];
        let n = loop {
            match net::recv(self.0.as_fd(), &mut buf, RecvFlags::empty()) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r?.0,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some((
            buf[0],
            String::from_utf8_lossy(&buf[1..n.min(buf.len())]).into_owned(),
        )))
    }

    pub fn send_to_init(&self, m: ToInit) -> io::Result<()> {
        match m {
            ToInit::Go => self.send(GO, &[]),
            ToInit::Commit => self.send(COMMIT, &[]),
            ToInit::Start => self.send(START, &[]),
            ToInit::HooksDone => self.send(HOOKS_DONE, &[]),
        }
    }

    pub fn recv_in_init(&self) -> io::Result<Option<ToInit>> {
        Ok(match self.recv()? {
            Some((GO, _)) => Some(ToInit::Go),
            Some((COMMIT, _)) => Some(ToInit::Commit),
            Some((START, _)) => Some(ToInit::Start),
            Some((HOOKS_DONE, _)) => Some(ToInit::HooksDone),
            Some((tag, _)) => return Err(unexpected(tag)),
            None => None,
        })
    }

    pub fn send_from_init(&self, m: &FromInit) -> io::Result<()> {
        match m {
            FromInit::Ready(t) => self.send(READY, t.as_bytes()),
            FromInit::RuntimeHooks => self.send(RUNTIME_HOOKS, &[]),
            // Long messages are cut to fit one packet.
            FromInit::Failed(msg) => self.send(FAILED, &msg.as_bytes()[..msg.len().min(8000)]),
            // One write(2) and no allocation: until the agent holds this fd, nobody could
            // answer a notified syscall, and a profile may not notify write (see seccomp).
            FromInit::SeccompListener(fd) => {
                let mut buf = [0u8; 12];
                buf[0] = SECCOMP_LISTENER;
                // Decimal digits, last first.
                let (mut v, mut n) = (fd.unsigned_abs(), buf.len());
                loop {
                    n -= 1;
                    buf[n] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
                buf.copy_within(n.., 1);
                let len = 1 + buf.len() - n;
                rustix::io::write(&self.0, &buf[..len])?;
                Ok(())
            }
        }
    }

    pub fn recv_from_init(&self) -> io::Result<Option<FromInit>> {
        Ok(match self.recv()? {
            Some((READY, t)) => Some(FromInit::Ready(t)),
            Some((FAILED, msg)) => Some(FromInit::Failed(msg)),
            Some((RUNTIME_HOOKS, _)) => Some(FromInit::RuntimeHooks),
            Some((SECCOMP_LISTENER, fd)) => Some(FromInit::SeccompListener(
                fd.parse().map_err(|_| unexpected(SECCOMP_LISTENER))?,
            )),
            Some((tag, _)) => return Err(unexpected(tag)),
            None => None,
        })
    }
}

fn unexpected(tag: u8) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected message {tag}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (p, c) = pair().unwrap();
        p.send_to_init(ToInit::Go).unwrap();
        assert_eq!(c.recv_in_init().unwrap(), Some(ToInit::Go));
        c.send_from_init(&FromInit::Failed("mount /proc: EPERM".into()))
            .unwrap();
        assert_eq!(
            p.recv_from_init().unwrap(),
            Some(FromInit::Failed("mount /proc: EPERM".into()))
        );
        c.send_from_init(&FromInit::Ready("mounts=12us".into()))
            .unwrap();
        assert_eq!(
            p.recv_from_init().unwrap(),
            Some(FromInit::Ready("mounts=12us".into()))
        );
        for fd in [0, 7, 1234] {
            c.send_from_init(&FromInit::SeccompListener(fd)).unwrap();
            assert_eq!(
                p.recv_from_init().unwrap(),
                Some(FromInit::SeccompListener(fd))
            );
        }
        c.send_from_init(&FromInit::RuntimeHooks).unwrap();
        assert_eq!(p.recv_from_init().unwrap(), Some(FromInit::RuntimeHooks));
        p.send_to_init(ToInit::HooksDone).unwrap();
        assert_eq!(c.recv_in_init().unwrap(), Some(ToInit::HooksDone));
        p.send_to_init(ToInit::Start).unwrap();
        assert_eq!(c.recv_in_init().unwrap(), Some(ToInit::Start));
        drop(p);
        assert_eq!(c.recv_in_init().unwrap(), None);
    }
}
