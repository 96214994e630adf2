//! `process.user`: groups, gid, uid, umask. Raw per-thread syscalls (rustix `set_thread_*`),
//! because after a raw clone3 glibc's setxid broadcast works from stale thread state.

use rustix::process::{Gid, Uid};
use rustix::thread;

pub fn switch(uid: u32, gid: u32, groups: &[u32]) -> Result<(), String> {
    let gids: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
    thread::set_thread_groups(&gids).map_err(|e| format!("setgroups {groups:?}: {e}"))?;
    let g = Gid::from_raw(gid);
    thread::set_thread_res_gid(g, g, g).map_err(|e| format!("setgid {gid}: {e}"))?;
    let u = Uid::from_raw(uid);
    thread::set_thread_res_uid(u, u, u).map_err(|e| format!("setuid {uid}: {e}"))
}

/// Gives the container's user the pipes and sockets it has as stdio, as runc does: a program
/// running as that user may reopen /dev/stdout or /proc/self/fd/1 (a web server's access log,
/// say), which a pipe made by root for a shim or conmon would refuse. Unlike runc, a regular
/// file or a device (a host terminal, /dev/null) keeps its owner: `berth run > host.log` must
/// not hand a host file to the container's user. A uid the user namespace does not map
/// (EINVAL) or a read-only filesystem (EPERM) leaves the fd as it is, as runc does.
pub fn give_stdio(uid: u32, gid: u32) -> Result<(), String> {
    use rustix::fs::FileType;
    for n in 0..3 {
        // SAFETY: fds 0-2 are only borrowed for fstat/fchown; a closed one fails with EBADF.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(n) };
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        let kind = FileType::from_raw_mode(st.st_mode);
        if st.st_uid == uid || !matches!(kind, FileType::Fifo | FileType::Socket) {
            continue;
        }
        match rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::PERM) => {}
            Err(e) => return Err(format!("giving fd {n} to uid {uid}: {e}")),
        }
    }
    Ok(())
}

/// HOME from the container's /etc/passwd for `uid` ("/" if it has none), as runc sets it.
pub fn home(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn home_from_passwd() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n";
        assert_eq!(super::home(p, 1000), "/home/bob");
        assert_eq!(super::home(p, 0), "/root");
        assert_eq!(super::home(p, 7), "/");
    }
}
