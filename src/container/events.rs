//! `events`: the container's stats and OOM kills as JSON lines, in runc's shapes
//! (`{"type":"stats","id":…,"data":{…}}`, `{"type":"oom","id":…}`). With `--stats` one stats
//! line and exit; otherwise stats every interval and each OOM kill as it happens, until the
//! container stops.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{sys_err, Container, Error};
use crate::state::Status;

/// runc's event: type, id, and data (left out when there is none).
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a crate::cgroups::stats::Stats>,
}

fn line(kind: &str, id: &str, data: Option<&crate::cgroups::stats::Stats>) -> Result<(), Error> {
    let v = serde_json::to_string(&Event { kind, id, data })
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")
        .and_then(|()| out.flush())
        .map_err(sys_err("writing events"))
}

fn stats(c: &Container) -> Result<(), Error> {
    line("stats", &c.state.id, Some(&c.state.cgroup.stats()))
}

pub fn events(root: &Path, id: &str, interval: Duration, once: bool) -> Result<(), Error> {
    let c = Container::load(root, id)?;
    if matches!(c.status, Status::Stopped | Status::Creating) {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: c.status,
            action: "there is nothing to report on",
        });
    }
    if once {
        return stats(&c);
    }
    let mut oom = c.state.cgroup.watch_oom()?;
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let ready = match &oom {
            Some(w) => {
                let fd = w.fd();
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let ts = rustix::event::Timespec {
                    tv_sec: wait.as_secs() as i64,
                    tv_nsec: i64::from(wait.subsec_nanos()),
                };
                matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
            }
            None => {
                std::thread::sleep(wait);
                false
            }
        };
        if ready {
            match oom.as_mut().and_then(|w| w.take()) {
                Some(n) => {
                    for _ in 0..n {
                        line("oom", id, None)?;
                    }
                }
                // The cgroup is gone: so is the container.
                None => return Ok(()),
            }
        }
        if Instant::now() >= next {
            let c = match Container::load(root, id) {
                Ok(c) if !matches!(c.status, Status::Stopped) => c,
                _ => return Ok(()),
            };
            stats(&c)?;
            next += interval;
        }
    }
}
