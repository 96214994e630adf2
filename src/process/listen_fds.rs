//! Socket activation: when systemd (or anything speaking its protocol) started berth with
//! `LISTEN_FDS=N` and `LISTEN_PID=<berth's pid>`, fds 3..3+N are listening sockets meant for the
//! service. `create` and `run` hand them to the container's process, before the
//! `--preserve-fds` ones, with LISTEN_FDS=N and LISTEN_PID set to that process's own pid, as
//! runc does (`exec` does not, as in runc).

/// The number of socket-activation fds passed to this process (0 if they are not for us).
pub fn from_env() -> u32 {
    let var = |n| std::env::var(n).ok();
    count(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        std::process::id(),
    )
}

fn count(listen_pid: Option<&str>, listen_fds: Option<&str>, me: u32) -> u32 {
    match (listen_pid.and_then(|p| p.parse::<u32>().ok()), listen_fds) {
        (Some(pid), Some(n)) if pid == me => n.parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_fds_addressed_to_us() {
        assert_eq!(super::count(Some("42"), Some("2"), 42), 2);
        assert_eq!(super::count(Some("41"), Some("2"), 42), 0);
        assert_eq!(super::count(None, Some("2"), 42), 0);
        assert_eq!(super::count(Some("42"), Some("x"), 42), 0);
        assert_eq!(super::count(Some("42"), None, 42), 0);
    }
}
