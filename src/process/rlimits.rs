//! `process.rlimits`.

use rustix::process::{setrlimit, Resource, Rlimit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

pub fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_CPU" => Resource::Cpu,
        "RLIMIT_FSIZE" => Resource::Fsize,
        "RLIMIT_DATA" => Resource::Data,
        "RLIMIT_STACK" => Resource::Stack,
        "RLIMIT_CORE" => Resource::Core,
        "RLIMIT_RSS" => Resource::Rss,
        "RLIMIT_NPROC" => Resource::Nproc,
        "RLIMIT_NOFILE" => Resource::Nofile,
        "RLIMIT_MEMLOCK" => Resource::Memlock,
        "RLIMIT_AS" => Resource::As,
        "RLIMIT_LOCKS" => Resource::Locks,
        "RLIMIT_SIGPENDING" => Resource::Sigpending,
        "RLIMIT_MSGQUEUE" => Resource::Msgqueue,
        "RLIMIT_NICE" => Resource::Nice,
        "RLIMIT_RTPRIO" => Resource::Rtprio,
        "RLIMIT_RTTIME" => Resource::Rttime,
        _ => return None,
    })
}

pub fn apply(limits: &[Limit]) -> Result<(), String> {
    for l in limits {
        let lim = Rlimit {
            current: (l.soft != u64::MAX).then_some(l.soft),
            maximum: (l.hard != u64::MAX).then_some(l.hard),
        };
        setrlimit(l.resource, lim).map_err(|e| {
            let hint = if e == rustix::io::Errno::PERM {
                " (raising a hard limit above berth's own needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            format!(
                "setting {:?} to {}/{}: {e}{hint}",
                l.resource, l.soft, l.hard
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(
            super::resource("RLIMIT_NOFILE"),
            Some(rustix::process::Resource::Nofile)
        );
        assert_eq!(super::resource("RLIMIT_BOGUS"), None);
    }
}
