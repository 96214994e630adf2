//! CVE-2019-5736 defence: a command that clones a process into a container (create, run, exec)
//! first re-executes berth from a copy of its binary that nothing can write. The container's
//! processes that come from berth (the init until its exec, an exec'd process until its exec)
//! are clones of that process, so their /proc/<pid>/exe, and a container program that executes
//! /proc/self/exe, reach that copy and never the host's binary, which a container could
//! otherwise reopen for writing once berth exits.
//!
//! The copy, cheapest first:
//! 1. The binary seen through a private overlayfs with two lower layers and no upper layer,
//!    created with fsopen/fsmount and never attached anywhere: berth opens the binary through it
//!    and closes the mount. Such an overlay is read-only in its superblock, not just in a mount
//!    flag, so no one can make it writable (unlike a read-only bind mount); nothing is copied,
//!    and the mount vanishes with the last process executing it. Needs CAP_SYS_ADMIN and
//!    overlayfs; runc 1.2 seals its binary the same way.
//! 2. A sealed memfd copy of the binary (3 MB copied per start), where overlayfs is not possible
//!    (rootless, no overlay module, a binary on a filesystem overlayfs cannot stack on). Under
//!    `vm.memfd_noexec=2` the kernel refuses executable memfds and the error says so.
//!
//! The re-exec happens before argument parsing, so the first process touches as little as it can;
//! on x86_64 it happens before the C library even starts (entry.rs).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

/// Set in the environment of the re-executed process (and removed again once it has checked that
/// it runs sealed, so that nothing it starts inherits it). It only stops a loop where the copy
/// cannot see its own seals; whether the binary is sealed is always asked of the kernel.
pub const MARKER: &str = "_BERTH_SEALED_COPY";

#[cfg(target_arch = "x86_64")]
mod entry;

const MEMFD_SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// The second, empty-for-our-purpose lower layer: overlayfs needs two lower layers to run
/// without an upper one. The binary's directory is the top layer, so nothing here can shadow the
/// binary (and the binary opened through the overlay is checked against /proc/self/exe anyway).
/// /dev exists everywhere, and no binary directory lies inside it in practice (overlapping
/// layers are refused, and berth then falls back on the memfd).
const SECOND_LAYER: &str = "/dev";

/// Whether the raw command line (without argv[0]) runs one of the commands that must run sealed.
/// Decided before parsing, so it may say yes too often (an id named "run"), which only costs a
/// re-exec; the parsed command is checked again afterwards.
pub fn needs_sealed<I: IntoIterator<Item = OsString>>(args: I) -> bool {
    args.into_iter().any(|a| sealed_command(a.as_bytes()))
}

/// Subcommands that clone a process into a container. Written for the entry point too, which
/// runs before the C library: no pointer table, no memcmp.
fn sealed_command(arg: &[u8]) -> bool {
    bytes_eq(arg, b"create") || bytes_eq(arg, b"run") || bytes_eq(arg, b"exec")
}

/// Byte equality with volatile reads, so that the compiler emits no memcmp call.
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        // SAFETY: i < a.len() == b.len().
        if unsafe {
            std::ptr::read_volatile(a.as_ptr().add(i)) != std::ptr::read_volatile(b.as_ptr().add(i))
        } {
            return false;
        }
        i += 1;
    }
    true
}

/// Called first thing in main with the raw arguments: re-executes sealed right away when they
/// name a command that must run sealed, so that the first process does next to nothing. Any
/// failure just returns: `ensure_sealed`, after parsing, tries again and says what failed.
pub fn reexec_early<I: IntoIterator<Item = OsString>>(args: I) {
    if !needs_sealed(args) {
        return;
    }
    if running_sealed() {
        // Nothing this process starts needs the marker. At the start of main, before berth
        // starts any thread.
        std::env::remove_var(MARKER);
    } else if std::env::var_os(MARKER).is_none() {
        let _ = reexec_sealed();
    }
}

/// For a parsed command that must run sealed: returns if this process runs sealed, else
/// re-executes it sealed, or exits with a message and `code` if that fails.
pub fn ensure_sealed(code: i32) {
    if running_sealed() {
        std::env::remove_var(MARKER);
        return;
    }
    // A marker without seals: the copy cannot see its own seals (an LSM policy); stop the loop.
    if std::env::var_os(MARKER).is_some() {
        eprintln!("berth: running from a sealed copy of the binary failed: its seals are not visible (CVE-2019-5736 defence)");
        std::process::exit(code);
    }
    let e = reexec_sealed();
    eprintln!("berth: re-executing from a sealed copy of the binary (CVE-2019-5736 defence): {e}");
    std::process::exit(code);
}

/// Whether this process runs from a read-only overlayfs or a sealed memfd (asked once).
pub fn running_sealed() -> bool {
    static SEALED: OnceLock<bool> = OnceLock::new();
    *SEALED.get_or_init(|| {
        let Ok(exe) = rustix::fs::open(
            "/proc/self/exe",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        on_sealed_overlay(exe.as_fd()) || memfd_sealed(exe.as_fd())
    })
}

fn on_sealed_overlay(fd: BorrowedFd<'_>) -> bool {
    const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
    // statfs reports ST_RDONLY for a read-only superblock or mount; berth's overlay has both.
    rustix::fs::fstatfs(fd).is_ok_and(|s| {
        s.f_type as u64 == OVERLAYFS_SUPER_MAGIC && s.f_flags as u64 & libc::ST_RDONLY != 0
    })
}

fn memfd_sealed(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GET_SEALS only queries the file; it fails with EINVAL for non-memfd files.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & MEMFD_SEALS == MEMFD_SEALS
}

/// Executes berth again, with the same arguments and environment (plus the marker), from a copy
/// that nothing can write. Returns only on failure.
pub fn reexec_sealed() -> io::Error {
    let sealed = match overlay_copy() {
        Ok(fd) => fd,
        Err(overlay_err) => match memfd_copy() {
            Ok(fd) => fd,
            Err(e) => {
                return io::Error::other(format!(
                    "no read-only overlayfs ({overlay_err}), and no sealed memfd copy ({e}{})",
                    if noexec_memfds() {
                        "; vm.memfd_noexec=2 forbids executable memfds"
                    } else {
                        ""
                    }
                ))
            }
        },
    };
    match exec_fd(sealed.as_fd()) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// The binary opened through a detached overlayfs whose top lower layer is its directory.
fn overlay_copy() -> io::Result<OwnedFd> {
    let link = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (link.parent(), link.file_name()) else {
        return Err(io::Error::other("/proc/self/exe has no directory"));
    };
    // A binary replaced while running reads "(deleted)": its directory holds another file now.
    if !link.is_absolute() || link.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(io::Error::other("the binary was replaced since it started"));
    }
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let mut lower = escape_layer(dir.as_os_str());
    lower.push(b':');
    lower.extend_from_slice(SECOND_LAYER.as_bytes());
    rustix::mount::fsconfig_set_string(fs.as_fd(), "lowerdir", OsStr::from_bytes(&lower))?;
    // Inode-number mapping is of no use here and logs to dmesg on some layer combinations.
    let _ = rustix::mount::fsconfig_set_string(fs.as_fd(), "xino", "off");
    rustix::mount::fsconfig_create(fs.as_fd())?;
    let mnt = rustix::mount::fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )?;
    let exe = rustix::fs::openat(
        mnt.as_fd(),
        Path::new(name),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The same file as the one running: not something of the same name in the second layer.
    let a = rustix::fs::fstat(exe.as_fd())?;
    let b = rustix::fs::stat("/proc/self/exe")?;
    let same = a.st_ino == b.st_ino
        && a.st_size == b.st_size
        && (a.st_mtime, a.st_mtime_nsec) == (b.st_mtime, b.st_mtime_nsec);
    if !same {
        return Err(io::Error::other(
            "the binary seen through overlayfs is not the running one",
        ));
    }
    Ok(exe)
}

/// overlayfs splits lowerdir on ':' and unescapes '\'.
fn escape_layer(path: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 8);
    for &b in path.as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A sealed memfd copy of the binary.
fn memfd_copy() -> io::Result<OwnedFd> {
    let mut src = File::open("/proc/self/exe")?;
    // MFD_EXEC asks for an executable memfd where vm.memfd_noexec would otherwise refuse one;
    // kernels before 6.3 do not know the flag (EINVAL), and make every memfd executable.
    const MFD_EXEC: libc::c_uint = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a constant NUL-terminated name and flags; returns a new fd or -1.
    let mut fd = unsafe { libc::memfd_create(c"berth".as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c"berth".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    let mut mem = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    io::copy(&mut src, &mut mem)?;
    // SAFETY: F_ADD_SEALS with constant seals on our own memfd.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, MEMFD_SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(mem.into())
}

fn noexec_memfds() -> bool {
    std::fs::read_to_string("/proc/sys/vm/memfd_noexec").is_ok_and(|v| v.trim() == "2")
}

/// execveat(fd, "", argv, envp + MARKER, AT_EMPTY_PATH). Returns only on failure.
fn exec_fd(fd: BorrowedFd<'_>) -> io::Result<std::convert::Infallible> {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_vec()))
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)?;
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != MARKER)
        .chain([(MARKER.into(), "1".into())])
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)?;
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings alive across the
    // call; with AT_EMPTY_PATH the kernel executes the file `fd` refers to (an O_PATH fd or a
    // memfd; close-on-exec is fine for an ELF binary). execveat returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_commands_are_found_anywhere_in_the_arguments() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(needs_sealed(a(&["--root", "/r", "run", "-b", "b", "x"])));
        assert!(needs_sealed(a(&["create", "x"])));
        assert!(needs_sealed(a(&["exec", "x", "sh"])));
        assert!(!needs_sealed(a(&["state", "x"])));
        assert!(!needs_sealed(a(&["delete", "--force", "running"])));
        assert!(!needs_sealed(a(&["runs", "", "execs", "creat"])));
    }

    #[test]
    fn layer_paths_are_escaped() {
        assert_eq!(escape_layer(OsStr::new("/a:b\\c")), b"/a\\:b\\\\c".to_vec());
    }
}
