//! `kill`: signal the init, or with `--all` every process in the container's cgroup.

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::signal::Signal;

use super::{sys_err, Container, Error};
use crate::state::{State, Status};

/// `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    let bad = || Error::Usage(format!("invalid signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    // SIGRTMIN, SIGRTMIN+N, SIGRTMAX, SIGRTMAX-N: N unsigned, the sign required.
    let offset = |rest: &str, sign: char| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(sign)?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let rt = if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        offset(rest, '+').map(|o| min + o)
    } else if let Some(rest) = name.strip_prefix("SIGRTMAX") {
        offset(rest, '-').map(|o| max - o)
    } else {
        None
    };
    if name.starts_with("SIGRTM") {
        return rt.filter(|n| (min..=max).contains(n)).ok_or_else(bad);
    }
    name.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let c = Container::load(root, id)?;
    if c.status == Status::Creating || (c.status == Status::Stopped && !all) {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: c.status,
            action: "there is no process to signal",
        });
    }
    if all {
        kill_all(&c.state, signal);
        return Ok(());
    }
    signal_init(&c.state, signal).map_err(sys_err(format!("signalling the init of {id}")))
}

/// Signals the init through a pidfd opened while its start time still matched: a pid reused
/// by another process is never signalled.
pub fn signal_init(st: &State, signal: i32) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(st.pid)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
    if !st.init_alive() {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    crate::sys::pidfd_send_signal(pidfd.as_fd(), signal)
}

/// Signals every process in the container's cgroup.
pub fn kill_all(st: &State, signal: i32) {
    st.cgroup.signal_all(signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), 10);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("99").is_err());
        assert_eq!(parse_signal("37").unwrap(), 37);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("SIGRTMAX").unwrap(), libc::SIGRTMAX());
        assert_eq!(parse_signal("RTMAX-2").unwrap(), libc::SIGRTMAX() - 2);
        for bad in ["RTMIN-1", "RTMIN+-5", "RTMAX+2", "RTMIN+", "RTMIN+99"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
