//! OOM kills in the container's cgroup, for `events`: on v1 an eventfd registered for
//! memory.oom_control through cgroup.event_control; on v2 memory.events (its oom_kill count)
//! watched with inotify. Either way one fd to poll.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::event::{eventfd, EventfdFlags};
use rustix::fs::inotify;

use super::stats::keyed;
use super::{io_err, Cgroup, CgroupError};

pub struct OomWatch {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    V1 {
        /// Kept open: the registration lives as long as the eventfd and this file.
        _control: File,
        dir: PathBuf,
    },
    V2 {
        events: PathBuf,
        seen: u64,
    },
}

fn oom_kills(events: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(events).ok()?;
    keyed(&text).get("oom_kill").copied()
}

impl Cgroup {
    /// Starts watching for OOM kills; `None` when the host has no memory controller.
    pub fn watch_oom(&self) -> Result<Option<OomWatch>, CgroupError> {
        let Some((dir, v2)) = self.memory_dir() else {
            return Ok(None);
        };
        if v2 {
            let events = dir.join("memory.events");
            let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                .map_err(|e| io_err("inotify for", &events)(e.into()))?;
            inotify::add_watch(&fd, &events, inotify::WatchFlags::MODIFY)
                .map_err(|e| io_err("watching", &events)(e.into()))?;
            let seen = oom_kills(&events).unwrap_or(0);
            return Ok(Some(OomWatch {
                fd,
                kind: Kind::V2 { events, seen },
            }));
        }
        let control_path = dir.join("memory.oom_control");
        let control = File::open(&control_path).map_err(io_err("opening", &control_path))?;
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| io_err("eventfd for", &control_path)(e.into()))?;
        let reg = dir.join("cgroup.event_control");
        let line = format!("{} {}", fd.as_raw_fd(), control.as_raw_fd());
        std::fs::write(&reg, line).map_err(io_err("registering for OOM events in", &reg))?;
        Ok(Some(OomWatch {
            fd,
            kind: Kind::V1 {
                _control: control,
                dir: dir.to_path_buf(),
            },
        }))
    }
}

impl OomWatch {
    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// After the fd polled readable: how many OOM events happened since the last call, or
    /// `None` once the cgroup is gone.
    pub fn take(&mut self) -> Option<u64> {
        match &mut self.kind {
            Kind::V1 { dir, .. } => {
                let mut buf = [0u8; 8];
                let n = match rustix::io::read(&self.fd, &mut buf) {
                    Ok(8) => u64::from_ne_bytes(buf),
                    _ => 0,
                };
                // The kernel also signals the eventfd when the cgroup is removed.
                dir.exists().then_some(n)
            }
            Kind::V2 { events, seen } => {
                let mut buf = [0u8; 4096];
                while matches!(rustix::io::read(&self.fd, &mut buf), Ok(n) if n > 0) {}
                let now = oom_kills(events)?;
                let new = now.saturating_sub(*seen);
                *seen = now;
                Some(new)
            }
        }
    }
}
