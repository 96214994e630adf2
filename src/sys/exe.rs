//! CVE-2019-5736 defence: before berth clones a container's init, it re-executes itself from a
//! sealed memfd copy of its binary. The init (a clone of that process) and anything the container
//! reaches through /proc/<pid>/exe or /proc/self/exe then sees an immutable copy, never the host's
//! berth binary, which a container could otherwise reopen for writing once berth exits.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

/// Set in the environment of the sealed copy.
pub const MARKER: &str = "_BERTH_SEALED_COPY";

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether this process already runs from a sealed copy.
pub fn running_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: F_GET_SEALS only queries the file; it fails with EINVAL for non-memfd files.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Copies the running binary into a sealed memfd and executes it with the same arguments and
/// environment. Returns only on failure.
pub fn reexec_sealed() -> io::Error {
    match try_reexec() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_reexec() -> io::Result<std::convert::Infallible> {
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
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(io::Error::other)?;
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != MARKER)
        .chain([(MARKER.into(), "1".into())])
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
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
    // call; with AT_EMPTY_PATH the kernel executes the memfd itself (close-on-exec is fine for
    // an ELF binary). execveat returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}
