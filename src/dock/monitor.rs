//! The per-container monitor, like podman's conmon: it is the subreaper of the container's
//! init, holds its stdio (pipes, or the pty master received over the console socket), writes
//! the log, reaps the exit status, tears the run down (runtime delete, rootfs unmount) and
//! removes a `--rm` container. A foreground `dock run` is its own monitor; `-d` and `start`
//! spawn `dock _monitor ID` in its own process group and wait for its "ok".

use crate::dock::console::{self, ConsoleSocket, RawMode};
use crate::dock::container::{self, Record};
use crate::dock::error::{IoContext, EXIT_DOCK};
use crate::dock::runtime::{self, Runtime};
use crate::dock::store::Store;
use crate::dock::{logs, rootfs, table, Error, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use rustix::event::{poll, PollFd, PollFlags};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the caller is attached to the container.
pub enum Attach {
    /// `dock run` without -d: output echoed, signals forwarded, stdin given with -i.
    Foreground,
    /// The detached monitor: tells the waiting `dock` "ok" (or the error) on `ready`.
    Detached(File),
}

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Blocks the signals the monitor reads from a signalfd (before any child exists, so no
/// SIGCHLD is missed). Children get an empty mask from std's spawn.
pub fn signals() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    for s in FORWARDED {
        set.add(*s);
    }
    set.thread_block()
        .map_err(|e| Error::new(format!("blocking signals: {e}")))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::new(format!("signalfd: {e}")))
}

/// Creates and starts the container and watches it to the end: returns its exit status.
pub fn run(store: &Store, rt: &Runtime, mut rec: Record, attach: Attach) -> Result<i32> {
    let rt = &rec.runtime(rt);
    // The record is ours now: if we are killed, the next dock finishes what we leave.
    if rec.state.monitor_pid != std::process::id() as i32 {
        if rec.state.status != "creating" {
            rec.state.status = "starting".into();
        }
        rec.state.claim();
        rec.save(store)?;
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| Error::new(format!("becoming a subreaper: {e}")))?;
    let sigfd = signals()?;
    let foreground = matches!(attach, Attach::Foreground);
    let (mut ready, started) = match attach {
        Attach::Detached(f) => (Some(f), start(store, rt, &mut rec, false)),
        Attach::Foreground => (None, start(store, rt, &mut rec, true)),
    };
    let io = match started {
        Ok(io) => io,
        Err(e) => {
            fail(store, rt, &mut rec, &e);
            if let Some(mut r) = ready {
                let _ = writeln!(r, "error {} {}", e.code.unwrap_or(EXIT_DOCK), e.msg);
            }
            return Err(e);
        }
    };
    // What the runtime warned about (a limit it does not apply) is the user's to know.
    for w in runtime::warnings(&rec.dirs(store).bundle()) {
        match ready.as_mut() {
            Some(r) => drop(writeln!(r, "warning {w}")),
            None => eprintln!("WARNING: {w}"),
        }
    }
    if let Some(mut r) = ready {
        let _ = writeln!(r, "ok");
    }
    let code = watch(rec.state.pid, io, &sigfd, foreground);
    finish(store, rt, &mut rec, code);
    Ok(code)
}

/// The fds the monitor pumps.
pub struct Io {
    /// (fd, 0 stdout | 1 stderr)
    pub outputs: Vec<(OwnedFd, usize)>,
    /// The pty master: our stdin is copied into it, SIGWINCH resizes it.
    pub master: Option<OwnedFd>,
    pub log: logs::Writer,
    pub raw: Option<RawMode>,
}

/// Mounts the rootfs, creates and starts the container; records it running.
fn start(store: &Store, rt: &Runtime, rec: &mut Record, foreground: bool) -> Result<Io> {
    let d = rec.dirs(store);
    if !rootfs::is_mounted(&d.rootfs()) {
        rootfs::mount_overlay(&rec.lowers, &d.upper(), &d.work(), &d.rootfs())?;
    }
    let tty = rec.settings.tty;
    let log_file = File::options()
        .create(true)
        .append(true)
        .open(d.log())
        .ctx("opening", &d.log())?;
    let mut outputs = Vec::new();
    let console = if tty {
        let path = store
            .root
            .join("sock")
            .join(format!("{}.sock", container::short(&rec.id)));
        Some(ConsoleSocket::bind(&path)?)
    } else {
        None
    };
    let stdin = if foreground && rec.interactive && !tty {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let stdio = if tty {
        [stdin, Stdio::null(), Stdio::null()]
    } else {
        let (or, ow) = pipe()?;
        let (er, ew) = pipe()?;
        outputs.push((or, 0));
        outputs.push((er, 1));
        [stdin, Stdio::from(ow), Stdio::from(ew)]
    };
    let _ = fs::remove_file(d.pid_file());
    rt.create(
        &rec.id,
        &d.bundle(),
        &d.pid_file(),
        console.as_ref().map(|c| c.path.as_path()),
        stdio,
    )
    .map_err(|e| Error {
        code: Some(runtime::exit_code_for(&e.msg)),
        ..e
    })?;
    let pid: i32 = fs::read_to_string(d.pid_file())
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::new("the runtime wrote no pid file"))?;
    rec.state.pid = pid;
    let mut raw = None;
    let master = match &console {
        Some(c) => {
            let m = c.receive()?;
            let stdin = std::io::stdin();
            if foreground && stdin.is_terminal() {
                console::copy_winsize(stdin.as_fd(), &m);
                if rec.interactive {
                    raw = RawMode::enter(stdin.as_fd());
                }
            }
            outputs.push((m.try_clone().ctx("dup", &d.dir)?, 0));
            Some(m)
        }
        None => None,
    };
    rt.start(&rec.id)?;
    rec.state.status = "running".into();
    rec.state.started_at = table::rfc3339_now();
    rec.state.error.clear();
    rec.save(store)?;
    let master = master.filter(|_| foreground && rec.interactive);
    Ok(Io {
        outputs,
        master,
        log: logs::Writer::new(Some(log_file)),
        raw,
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::new(format!("pipe: {e}")))
}

/// The run failed before the container ran: undo it, keep the error on the record.
fn fail(store: &Store, rt: &Runtime, rec: &mut Record, e: &Error) {
    if remove_if_auto(store, rt, rec) {
        return;
    }
    let _ = container::teardown(store, rt, rec);
    rec.state.status = if rec.state.started_at.is_empty() {
        "created".into()
    } else {
        "exited".into()
    };
    rec.state.error = e.msg.clone();
    rec.state.exit_code = e.code.unwrap_or(EXIT_DOCK);
    let _ = rec.save(store);
}

/// The container exited with `code`: tear the run down, record it, honour --rm.
fn finish(store: &Store, rt: &Runtime, rec: &mut Record, code: i32) {
    if remove_if_auto(store, rt, rec) {
        return;
    }
    let torn = container::teardown(store, rt, rec);
    // Re-read: `stop`/`kill` may have written meanwhile; our facts win.
    if let Ok(r) = Record::load(store, &rec.id) {
        *rec = r;
    }
    rec.state.status = "exited".into();
    rec.state.exit_code = code;
    rec.state.finished_at = table::rfc3339_now();
    rec.state.pid = 0;
    // A runtime that would not delete the container is the user's to know (inspect, rm).
    rec.state.error = torn.err().map(|e| e.msg).unwrap_or_default();
    let _ = rec.save(store);
}

/// A --rm container goes with its run: its files are removed while the runtime deletes it.
fn remove_if_auto(store: &Store, rt: &Runtime, rec: &Record) -> bool {
    if rec.auto_remove {
        let _ = container::teardown_and(store, rt, rec, || {
            drop(container::remove_files(store, rec, true))
        });
    }
    rec.auto_remove
}

/// Pumps output into the log (and our stdout/stderr in the foreground), forwards signals and
/// stdin, and reaps children until `pid` has exited and its output is drained.
pub fn watch(pid: i32, mut io: Io, sigfd: &SignalFd, foreground: bool) -> i32 {
    let mut exit: Option<i32> = None;
    let mut drain_until: Option<Instant> = None;
    let stdin = std::io::stdin();
    let mut stdin_open = io.master.is_some();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(code) = exit {
            let deadline =
                *drain_until.get_or_insert_with(|| Instant::now() + Duration::from_millis(500));
            if io.outputs.is_empty() || Instant::now() >= deadline {
                io.log.flush();
                drop(io.raw.take());
                return code;
            }
        }
        let mut fds: Vec<PollFd> = io
            .outputs
            .iter()
            .map(|(fd, _)| PollFd::new(fd, PollFlags::IN))
            .collect();
        fds.push(PollFd::new(sigfd, PollFlags::IN));
        if stdin_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        let timeout = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if poll(&mut fds, exit.map(|_| &timeout)).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let n_out = io.outputs.len();
        let mut closed = Vec::new();
        for (i, (fd, stream)) in io.outputs.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(_) => closed.push(i),
                Ok(n) => {
                    io.log.write(*stream, &buf[..n]);
                    if foreground {
                        let _ = if *stream == 0 {
                            std::io::stdout()
                                .write_all(&buf[..n])
                                .and_then(|_| std::io::stdout().flush())
                        } else {
                            std::io::stderr().write_all(&buf[..n])
                        };
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            io.outputs.remove(i);
        }
        if ready[n_out] {
            while let Ok(Some(si)) = sigfd.read_signal() {
                let sig = si.ssi_signo as i32;
                if sig == Signal::SIGCHLD as i32 {
                    if let Some(code) = reap(pid) {
                        exit.get_or_insert(code);
                    }
                } else if sig == Signal::SIGWINCH as i32 {
                    if let Some(m) = &io.master {
                        console::copy_winsize(stdin.as_fd(), m);
                    }
                } else if foreground && exit.is_none() {
                    if let Ok(s) = Signal::try_from(sig) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s);
                    }
                }
            }
        }
        if stdin_open && ready.get(n_out + 1) == Some(&true) {
            let mut b = [0u8; 4096];
            match stdin.lock().read(&mut b) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &io.master {
                        let _ = rustix::io::write(m, &b[..n]);
                    }
                }
            }
        }
    }
}

/// Reaps every exited child; the exit status of `pid` if it was among them.
fn reap(pid: i32) -> Option<i32> {
    let mut found = None;
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => found = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                found = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(_) => {}
        }
    }
}

/// Starts `dock _monitor ID` detached (own process group) and waits for it to report the
/// container started.
pub fn spawn_detached(store: &Store, rt: &Runtime, id: &str) -> Result<()> {
    let exe =
        std::env::current_exe().map_err(|e| Error::new(format!("finding dock itself: {e}")))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .arg("--root")
            .arg(&store.root)
            .arg("--runtime")
            .arg(&rt.bin)
            .args(["_monitor", id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            // Never pin the caller's working directory (a mount someone wants to unmount).
            .current_dir("/")
            .spawn()
            .map_err(|e| Error::new(format!("starting the monitor: {e}")))?
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let mut out = BufReader::new(out);
        while out.read_line(&mut line).is_ok_and(|n| n > 0) {
            match line.trim_end().strip_prefix("warning ") {
                Some(w) => eprintln!("WARNING: {w}"),
                None => break,
            }
            line.clear();
        }
    }
    let line = line.trim();
    if line == "ok" {
        // The monitor lives on; its exit is reaped by init once we are gone.
        std::mem::forget(child);
        return Ok(());
    }
    if !line.starts_with("error ") {
        // It died without a word (killed): finish what it left, as any later command would.
        let _ = child.wait();
        let rec = Record::load(store, id).ok();
        let now = rec.and_then(|r| container::reconcile(store, rt, r).ok().flatten());
        if now.is_some_and(|r| r.state.status == "running") {
            return Err(Error::new(
                "dock's monitor died after the container started: it runs unwatched (no logs)",
            ));
        }
    }
    let rest = line
        .strip_prefix("error ")
        .unwrap_or("dock's monitor died before the container started");
    let (code, msg) = match rest.split_once(' ') {
        Some((c, m)) if c.parse::<i32>().is_ok() => (c.parse().unwrap_or(EXIT_DOCK), m.to_string()),
        _ => (EXIT_DOCK, rest.to_string()),
    };
    Err(Error::with_code(code, msg))
}
