//! Container networking, as far as dock goes today: a private network namespace (made by
//! the runtime) with its loopback brought up here, whatever the runtime does about it, or the
//! host's network with `--network host`. Bridges and published ports are a later step.

use crate::dock::{Error, Result};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};

/// Sets `lo` up in the network namespace of process `pid` (from a short-lived thread, so
/// dock's own namespace never changes).
pub fn loopback_up(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| Error::new(format!("opening {path}: {e}")))?;
    let worker = std::thread::spawn(move || -> std::io::Result<()> {
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
        // Any AF_INET socket of the namespace serves for the ioctl.
        let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in ifr into ifr.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFFLAGS filled the ifru_flags member of the union.
        unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: SIOCSIFFLAGS reads ifr, whose name and flags are set.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    });
    match worker.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::new(format!(
            "bringing up the container's loopback: {e}"
        ))),
        Err(_) => Err(Error::new(
            "bringing up the container's loopback: the thread panicked",
        )),
    }
}
