//! Raw syscalls that neither nix nor rustix wrap: `clone3`, `close_range`, `mount_setattr`,
//! `keyctl`, `ioprio_set`, `sched_setattr`, `personality`, `seccomp`; `bpf` (bpf.rs); the sealed
//! re-exec (exe/) and the start of a hook program with a pidfd (spawn.rs).
//!
//! Each is wrapped exactly once here; the rest of berth calls these safe functions.

pub mod bpf;
pub mod exe;
pub mod spawn;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// What `clone3` returned in the calling process.
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid and (if asked for) this pidfd.
    Parent { pid: i32, pidfd: Option<OwnedFd> },
}

/// `clone3` without a new stack: the child continues on a copy of the caller's address space, like
/// `fork`, but with new namespaces and a pidfd from one syscall.
///
/// The caller must be single-threaded (berth's runtime path is): the child then inherits no lock
/// held by another thread. glibc's cached thread id is stale in the child, so the child must use
/// raw per-thread syscalls for credentials (rustix `set_thread_*`), never glibc's set*id.
pub fn clone3(flags: u64, want_pidfd: bool) -> io::Result<Forked> {
    clone3_with(flags, want_pidfd, None, libc::SIGCHLD as u64)
}

/// `clone3` as above; with `cgroup` (an fd of a cgroup v2 directory) the child starts inside that
/// cgroup (CLONE_INTO_CGROUP, Linux 5.7), never running a moment in the caller's.
pub fn clone3_into_cgroup(
    flags: u64,
    want_pidfd: bool,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<Forked> {
    clone3_with(flags, want_pidfd, cgroup, libc::SIGCHLD as u64)
}

/// `clone3` with CLONE_PARENT: the new process is a sibling of the caller, a child of the
/// caller's parent (which must wait for it), and signals it with the caller's exit signal.
pub fn clone3_sibling(flags: u64) -> io::Result<Forked> {
    // The kernel refuses an exit signal with CLONE_PARENT: the caller's own is used.
    clone3_with(flags | libc::CLONE_PARENT as u64, false, None, 0)
}

fn clone3_with(
    flags: u64,
    want_pidfd: bool,
    cgroup: Option<BorrowedFd<'_>>,
    exit_signal: u64,
) -> io::Result<Forked> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut pidfd: RawFd = -1;
    let mut args: libc::clone_args = unsafe_zeroed_clone_args();
    args.flags = flags
        | if want_pidfd {
            libc::CLONE_PIDFD as u64
        } else {
            0
        };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    args.pidfd = if want_pidfd {
        &mut pidfd as *mut RawFd as u64
    } else {
        0
    };
    args.exit_signal = exit_signal;
    // SAFETY: `args` is a fully initialised clone_args of the size we pass; with no stack given the
    // kernel duplicates the caller's stack like fork(), so both returns continue on valid memory.
    // `pidfd` outlives the call (the kernel writes it before returning in the parent).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned fd in `pidfd`.
            pidfd: want_pidfd.then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
        }),
    }
}

fn unsafe_zeroed_clone_args() -> libc::clone_args {
    // SAFETY: clone_args is a plain C struct of integers; all-zero is its documented default.
    unsafe { std::mem::zeroed() }
}

/// Marks every fd from `first` up close-on-exec, so nothing of the runtime leaks into the
/// container (CVE-2024-21626 class) while berth can still use its own fds until `execve`.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mount attributes for `mount_setattr`, named as the kernel names them.
pub mod attr {
    pub const RDONLY: u64 = libc::MOUNT_ATTR_RDONLY;
    pub const NOSUID: u64 = libc::MOUNT_ATTR_NOSUID;
    pub const NODEV: u64 = libc::MOUNT_ATTR_NODEV;
    pub const NOEXEC: u64 = libc::MOUNT_ATTR_NOEXEC;
    pub const ATIME_MASK: u64 = libc::MOUNT_ATTR__ATIME;
    pub const RELATIME: u64 = libc::MOUNT_ATTR_RELATIME;
    pub const NOATIME: u64 = libc::MOUNT_ATTR_NOATIME;
    pub const STRICTATIME: u64 = libc::MOUNT_ATTR_STRICTATIME;
    pub const NODIRATIME: u64 = libc::MOUNT_ATTR_NODIRATIME;
    pub const NOSYMFOLLOW: u64 = libc::MOUNT_ATTR_NOSYMFOLLOW;
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], ...)`: change the flags and propagation
/// of the mount `fd` refers to (attached or still detached), without a path a container could swap.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    setattr(fd, recursive, attr)
}

/// `mount_setattr` with MOUNT_ATTR_IDMAP: idmaps the detached mount `fd` (every mount of its
/// tree if `recursive`) with the mappings of the user namespace `userns`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    setattr(fd, recursive, attr)
}

fn setattr(fd: BorrowedFd<'_>, recursive: bool, mut attr: libc::mount_attr) -> io::Result<()> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is a valid NUL-terminated empty string, `attr` is initialised and its size
    // is passed; the kernel only reads it.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &mut attr as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
}

/// Makes sure fds 0, 1 and 2 are open (on /dev/null if the caller closed them), so that no socket
/// or file berth opens can land on a stdio number and be handed to the container as its stdio.
pub fn ensure_stdio() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: a constant NUL-terminated path; open returns the lowest free fd, which is
            // `fd` itself since every lower one is open.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a new anonymous session keyring for the caller.
pub fn join_new_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a NULL name asks for a new anonymous keyring; no memory of ours is read or written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn check(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level) for the calling process.
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    let prio = ((class << 13) | level) as libc::c_long;
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) })
}

/// sched_setattr(0, attr, 0) for the calling thread.
pub fn sched_setattr(attr: &libc::sched_attr) -> io::Result<()> {
    // SAFETY: `attr` is a fully initialised sched_attr whose `size` field names its size; the
    // kernel only reads it.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            attr as *const libc::sched_attr,
            0,
        )
    })
}

/// A zeroed sched_attr with its size set.
pub fn sched_attr() -> libc::sched_attr {
    // SAFETY: sched_attr is a plain C struct of integers; zero is valid for every field.
    let mut a: libc::sched_attr = unsafe { std::mem::zeroed() };
    a.size = std::mem::size_of::<libc::sched_attr>() as u32;
    a
}

/// personality(persona) for the calling process.
pub fn personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: an integer argument; personality only changes this process's execution domain.
    let ret = unsafe { libc::personality(persona) };
    check(ret as libc::c_long)
}

/// pidfd_send_signal with any signal number, real-time ones included (rustix's Signal type
/// has no real-time signals).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a pidfd, a signal number, no siginfo (NULL) and no flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
}

/// Fails unless fds first..first+count are all open (and the range is one an fd table can hold).
pub fn check_open_fds(first: i32, count: u32) -> io::Result<()> {
    let end = i32::try_from(count)
        .ok()
        .and_then(|c| first.checked_add(c))
        .filter(|&e| e <= 1 << 20)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{count} is more descriptors than a process can hold"
            ))
        })?;
    for fd in first..end {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(io::Error::other(format!("fd {fd} is not open")));
        }
    }
    Ok(())
}

/// Resets signal `sig` to its default disposition with the raw rt_sigaction syscall: glibc's
/// wrappers refuse the signals it reserves (32, 33), which would keep whatever the caller set.
pub fn reset_signal(sig: i32) -> io::Result<()> {
    // The kernel's struct sigaction on x86_64 and aarch64: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is a valid kernel sigaction that installs no handler; the old action is not
    // requested (NULL); the size is that of the kernel's 64-bit signal mask.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    })
}

/// The kernel's 64-bit signal mask: bit n-1 for signal n.
pub fn sigmask(signals: impl IntoIterator<Item = i32>) -> u64 {
    signals.into_iter().fold(0, |m, s| m | 1u64 << (s - 1))
}

/// rt_sigprocmask(how, mask) with the raw syscall: glibc leaves out the signals it reserves
/// (32, 33), which berth must block and forward like any other.
pub fn set_sigmask(how: libc::c_int, mask: u64) -> io::Result<()> {
    // SAFETY: `mask` is a valid 8-byte kernel sigset; the old mask is not requested.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &mask as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    })
}

/// Loads a seccomp filter into the calling thread. With SECCOMP_FILTER_FLAG_NEW_LISTENER the
/// kernel returns the notification fd (close-on-exec).
pub fn seccomp_set_filter(filter: &[libc::sock_filter], flags: u64) -> io::Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len())
            .map_err(|_| io::Error::other("seccomp program longer than 65535 instructions"))?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prog points at `filter`, which outlives the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd that nothing else owns.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as RawFd) }));
    }
    Ok(None)
}

/// Whether the kernel knows a SECCOMP_FILTER_FLAG_*: flags are checked before the program is
/// read, so an unknown flag fails with EINVAL and a known one with EFAULT on the NULL program
/// (libseccomp probes the same way). Nothing is loaded either way.
pub fn seccomp_flag_supported(flag: u64) -> bool {
    // WAIT_KILLABLE_RECV is refused without a listener.
    let flag = if flag & (1 << 5) != 0 {
        flag | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        flag
    };
    // SAFETY: a NULL program is never dereferenced: the call fails before or at copying it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// A signalfd for the (blocked) signals in `mask`, close-on-exec; read with `read_signal`.
/// Raw, because glibc's sigset helpers refuse the signals it reserves (32, 33).
pub fn signalfd(mask: u64) -> io::Result<OwnedFd> {
    // SAFETY: `mask` is a valid 8-byte kernel sigset; -1 asks for a new fd, returned owned.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &mask as *const u64,
            8usize,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd4 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The next pending signal of a signalfd, or `None` when none is pending.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    // struct signalfd_siginfo is 128 bytes; ssi_signo is its first u32.
    let mut info = [0u8; 128];
    match rustix::io::read(fd, &mut info) {
        Ok(n) if n == info.len() => Ok(Some(
            u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32,
        )),
        Ok(_) => Err(io::Error::other("short read from a signalfd")),
        Err(rustix::io::Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sets IFF_UP on the network interface `name` of the caller's network namespace (SIOCSIFFLAGS:
/// neither nix nor rustix wraps the interface ioctls).
pub fn link_up(name: &std::ffi::CStr) -> io::Result<()> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct (a name and a union of integers); all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in `req` and writes its flags into the
    // union; `req` is a valid, writable ifreq that outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled ifru_flags above; reading and setting it is plain integer access.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `req`, a valid ifreq naming the interface and its flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
