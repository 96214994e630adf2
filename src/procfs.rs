//! Writes to procfs files (`/proc/self/oom_score_adj`, `/proc/sys/...`) through an fd checked to
//! be on procfs, so that a container cannot redirect the write by swapping what the path leads
//! to (CVE-2025-52881 class).

use std::io::{self, Write};
use std::path::Path;

use rustix::fs::{fstatfs, Mode, OFlags, ResolveFlags};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

pub fn write(path: &Path, value: &str) -> io::Result<()> {
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?;
    if fstatfs(&fd)?.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(io::Error::other(format!(
            "{} is not on procfs",
            path.display()
        )));
    }
    std::fs::File::from(fd).write_all(value.as_bytes())
}
