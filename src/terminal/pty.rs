//! The pty pair, made inside the container: the master from the container's own /dev/ptmx (so
//! the slave lives in the container's devpts, never the host's), both ends checked to be what
//! they claim before use.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{fstat, fstatfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions, OutputModes, Winsize};

use super::{console, send_master, Plan};
use crate::init::{Context, StepError};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
/// Unix98 pty slaves have majors 136 to 143.
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// Makes the pty, sends the master to `plan.socket`, and makes the slave the process's stdio
/// and controlling terminal. Runs in the process that will exec, inside the container, after
/// setsid (it must lead a session without a terminal). The slave is given to `uid` so that the
/// process can reopen its own terminal; with `mount_console` (the init) it also becomes
/// /dev/console.
pub fn setup(plan: &Plan, uid: u32, mount_console: bool) -> Result<(), StepError> {
    let (master, slave) = open_pair()?;
    if let Some((rows, cols)) = plan.size {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(&master, ws).step(|| "setting process.consoleSize".into())?;
    }
    if plan.no_onlcr {
        // Termios requests on the master act on the slave's settings.
        let mut t = termios::tcgetattr(&master).step(|| "reading the terminal's modes".into())?;
        t.output_modes.remove(OutputModes::ONLCR);
        termios::tcsetattr(&master, OptionalActions::Now, &t)
            .step(|| "setting the terminal's modes".into())?;
    }
    if uid != 0 {
        // As runc: the process may reopen its terminal; a refusal (read-only /dev) is harmless.
        let _ = rustix::fs::fchown(&slave, Some(rustix::fs::Uid::from_raw(uid)), None);
    }
    if mount_console {
        console::mount(slave.as_fd())?;
    }
    send_master(plan.socket.as_fd(), master.as_fd())
        .step(|| "sending the terminal to the console socket".into())?;
    drop(master);
    for n in 0..3 {
        // SAFETY: dup2 onto the stdio numbers; both fds are open, nothing else refers to 0-2
        // by number in this process.
        if unsafe { libc::dup2(slave.as_raw_fd(), n) } < 0 {
            return Err(StepError {
                step: format!("making the terminal fd {n}"),
                source: Some(std::io::Error::last_os_error()),
            });
        }
    }
    rustix::process::ioctl_tiocsctty(std::io::stdin())
        .step(|| "making the terminal the controlling terminal".into())
}

/// Opens a new master through the container's /dev/ptmx and its slave with TIOCGPTPEER (no
/// path to swap between the two).
fn open_pair() -> Result<(OwnedFd, OwnedFd), StepError> {
    let what = || "opening the container's /dev/ptmx".to_string();
    // Non-blocking, so that a FIFO planted there cannot hang us; no magic links, so that it
    // cannot lead to a file of berth's through /proc/self/fd.
    let master = rustix::fs::openat2(
        rustix::fs::CWD,
        "/dev/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::NO_MAGICLINKS,
    )
    .step(what)?;
    let st = fstat(&master).step(what)?;
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice || (major, minor) != (5, 2)
    {
        return Err(StepError::msg(
            "the container's /dev/ptmx is not the pty multiplexer (character device 5:2)",
        ));
    }
    rustix::fs::fcntl_setfl(&master, OFlags::empty()).step(what)?;
    rustix::pty::unlockpt(&master).step(|| "unlocking the pty".into())?;
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .step(|| "opening the pty's slave".into())?;
    check_slave(slave.as_fd())?;
    Ok((master, slave))
}

fn check_slave(slave: BorrowedFd<'_>) -> Result<(), StepError> {
    let what = || "checking the pty's slave".to_string();
    let st = fstat(slave).step(what)?;
    let fs = fstatfs(slave).step(what)?;
    let ok = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && PTY_SLAVE_MAJORS.contains(&rustix::fs::major(st.st_rdev))
        && fs.f_type as i64 == DEVPTS_SUPER_MAGIC;
    if ok {
        Ok(())
    } else {
        Err(StepError::msg(
            "the pty's slave is not a pty on devpts: /dev/ptmx does not lead to the container's devpts",
        ))
    }
}
