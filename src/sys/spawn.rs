//! Starting a helper program (an OCI hook) from berth's single-threaded runtime path, the
//! container's init included. std::process::Command is not used because the child must also
//! leave the caller's signal mask and dispositions (`run` blocks every signal; glibc's wrappers
//! skip 32/33), close every fd of the runtime, and hand back a pidfd to wait on with a
//! timeout; clone3 gives that pidfd atomically. The child only makes async-signal-safe raw
//! calls on memory prepared before the clone.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::{clone3, Forked};

/// A program and its argv and environment, converted before any clone.
pub struct Program {
    path: CString,
    // Pointers into `_args` and `_env`, NULL-terminated, for execve.
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _args: Vec<CString>,
    _env: Vec<CString>,
}

impl Program {
    pub fn new(path: CString, args: Vec<CString>, env: Vec<CString>) -> Program {
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Program {
            argv: ptrs(&args),
            envp: ptrs(&env),
            path,
            _args: args,
            _env: env,
        }
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }
}

/// Where the child's stdio goes, and what else it starts with.
pub struct Stdio<'a> {
    pub stdin: BorrowedFd<'a>,
    /// Both stdout and stderr.
    pub output: BorrowedFd<'a>,
    /// Working directory, if not the caller's.
    pub cwd: Option<&'a CStr>,
    pub umask: Option<u32>,
}

/// A started child: its pid (it is the leader of its own process group) and pidfd. `report` is
/// readable once the child has exec'd or failed: empty (end-of-file) after a successful exec,
/// else the errno of the failed step as 4 bytes.
pub struct Child {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub report: OwnedFd,
}

/// Forks and execs `prog`. Every fd of the caller except the given stdio is closed at the exec.
pub fn spawn(prog: &Program, stdio: &Stdio<'_>) -> io::Result<Child> {
    // A caller that ignores SIGCHLD would have the child reaped by the kernel, and its exit
    // status lost; berth never relies on ignoring it.
    super::reset_signal(libc::SIGCHLD)?;
    let (report, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    match clone3(0, true)? {
        Forked::Child => child(prog, stdio, report_w.as_raw_fd()),
        Forked::Parent { pid, pidfd } => {
            drop(report_w);
            let pidfd = pidfd.ok_or_else(|| io::Error::other("clone3 returned no pidfd"))?;
            Ok(Child { pid, pidfd, report })
        }
    }
}

/// The child side: never returns.
fn child(prog: &Program, stdio: &Stdio<'_>, report: i32) -> ! {
    let fail = |step_errno: i32| -> ! {
        let bytes = step_errno.to_ne_bytes();
        // SAFETY: writes 4 bytes from a live stack array to our own pipe, then ends the process
        // without running any of the parent's atexit handlers or destructors.
        unsafe {
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127)
        }
    };
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: dup2, setpgid, chdir and umask take plain integers and a NUL-terminated path that
    // outlives the calls; they only change this process's own state.
    unsafe {
        if libc::dup2(stdio.stdin.as_raw_fd(), 0) < 0
            || libc::dup2(stdio.output.as_raw_fd(), 1) < 0
            || libc::dup2(stdio.output.as_raw_fd(), 2) < 0
        {
            fail(errno());
        }
        // Its own process group, so a timeout kills whatever it started too.
        if libc::setpgid(0, 0) < 0 {
            fail(errno());
        }
        if let Some(dir) = stdio.cwd {
            if libc::chdir(dir.as_ptr()) < 0 {
                fail(errno());
            }
        }
        if let Some(mask) = stdio.umask {
            libc::umask(mask as libc::mode_t);
        }
    }
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            let _ = super::reset_signal(sig);
        }
    }
    if super::set_sigmask(libc::SIG_SETMASK, 0).is_err() || super::cloexec_from(3).is_err() {
        fail(errno());
    }
    // SAFETY: path, argv and envp are NUL-terminated strings and NULL-terminated pointer arrays
    // built before the clone, alive in this copy of the caller's memory; execve returns only
    // on failure.
    unsafe { libc::execve(prog.path.as_ptr(), prog.argv.as_ptr(), prog.envp.as_ptr()) };
    fail(errno())
}

/// What became of a waited-for child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Still running at the deadline: its process group was killed.
    TimedOut,
}

/// Waits for `child` to end, at most until `deadline` (then SIGKILLs its process group), and
/// reaps it. Returns the exec error if the program could not be started.
pub fn wait(child: &Child, deadline: Option<std::time::Instant>) -> io::Result<Exit> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut timed_out = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            timed_out = true;
            break;
        }
        let ts = left.map(|l| Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: l.subsec_nanos() as i64,
        });
        let mut fds = [PollFd::new(&child.pidfd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => continue,
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if timed_out {
        // The pid is still ours (not reaped), so neither it nor its group id can have been reused.
        // SAFETY: kill with a negative pid signals that process group; no memory is involved.
        unsafe { libc::kill(-child.pid, libc::SIGKILL) };
        let _ = super::pidfd_send_signal(child.pidfd.as_fd(), libc::SIGKILL);
    }
    let status = loop {
        let mut st = 0;
        // SAFETY: waits for our own child; `st` is a valid int to store its status in.
        let r = unsafe { libc::waitpid(child.pid, &mut st, 0) };
        if r == child.pid {
            break st;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    let mut errno = [0u8; 4];
    if let Ok(4) = rustix::io::read(&child.report, &mut errno) {
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    Ok(if timed_out {
        Exit::TimedOut
    } else if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    })
}
