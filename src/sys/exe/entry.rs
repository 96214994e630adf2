//! berth's ELF entry point (`berth_entry`, set by build.rs with `-e`): before the C library
//! starts, a command that must run sealed (see the parent module) re-executes itself sealed
//! right away, with raw syscalls, and the first process never starts glibc at all.
//!
//! Why: glibc's start-up asks the CPU about its features and caches with some thirty CPUID
//! instructions, and under a hypervisor each one traps (about 20 µs each on the VMs berth is
//! benchmarked on): 0.65 ms of a static binary's 0.7 ms start, paid again by the sealed copy.
//! In a static binary this entry runs first; in a dynamic one the loader has already started
//! glibc, so it only saves the Rust runtime's start-up, but the same code runs (and is tested).
//!
//! What runs here cannot use the C library or Rust's std: no allocation, no errno, no TLS, and
//! no call the compiler might emit to memcpy/memset/strlen (glibc's are IFUNCs, not resolved
//! yet in a static binary), hence volatile byte loops; nor pointer tables in data, which a
//! static-PIE binary relocates only later. Whatever fails here (a long environment, no
//! overlayfs, an odd path) just continues into glibc's `_start`, and `reexec_early` or
//! `ensure_sealed` then do the same job the ordinary way, with the memfd fallback and error
//! messages.

use core::arch::asm;
use core::mem::MaybeUninit;
use core::ptr::{null, read_volatile, write_volatile};

use super::{bytes_eq, sealed_command};

// At entry the stack holds argc, argv, NULL, envp, NULL, auxv, and rdx the function glibc's
// `_start` registers with atexit: both are handed on untouched. The pushes keep the stack
// 16-byte aligned for the call.
core::arch::global_asm!(
    ".globl berth_entry",
    ".type berth_entry, @function",
    "berth_entry:",
    "mov rdi, rsp",
    "push rdx",
    "sub rsp, 8",
    "call {pre_main}",
    "add rsp, 8",
    "pop rdx",
    "jmp _start",
    ".size berth_entry, . - berth_entry",
    pre_main = sym pre_main,
);

/// The environment of the re-executed copy gains this (the parent module's MARKER).
const MARKER_ENV: &[u8] = b"_BERTH_SEALED_COPY=1\0";
/// `:` and the parent module's SECOND_LAYER, NUL-terminated.
const SECOND_LAYER_ARG: &[u8] = b":/dev\0";
/// Environments longer than this take the ordinary path.
const ENV_MAX: usize = 1024;
const PATH_MAX: usize = 4096;
const LOWER_MAX: usize = 2 * PATH_MAX + 8;

/// The bytes of a NUL-terminated string, without the NUL.
///
/// # Safety
/// `s` points at a NUL-terminated string that lives as long as the result is used.
unsafe fn c_bytes<'a>(s: *const u8) -> &'a [u8] {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated: every byte up to the NUL is readable.
    while unsafe { read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    // SAFETY: n bytes from s were just read.
    unsafe { core::slice::from_raw_parts(s, n) }
}

/// A raw syscall; returns the kernel's result (a negative errno on failure).
///
/// # Safety
/// The arguments must be valid for syscall `n`.
unsafe fn syscall(n: i64, a: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the syscall instruction with the System V syscall convention; rcx and r11 are
    // clobbered by it, memory the arguments point at is the caller's concern.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

fn close(fd: isize) {
    // SAFETY: closing an fd this code opened.
    unsafe { syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0]) };
}

/// Runs on the initial stack `sp`, before the C library; returns to let it start.
///
/// # Safety
/// `sp` is the process's initial stack pointer, as the kernel (or the dynamic loader) left it.
unsafe extern "C" fn pre_main(sp: *const usize) {
    // SAFETY: the kernel's initial stack layout: argc, then argc argv pointers and a NULL, then
    // the envp pointers and a NULL.
    unsafe {
        let argc = read_volatile(sp);
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        let mut wanted = false;
        let mut i = 1;
        while i < argc {
            if sealed_command(c_bytes(read_volatile(argv.add(i)))) {
                wanted = true;
                break;
            }
            i += 1;
        }
        if !wanted {
            return;
        }
        let mut n = 0;
        loop {
            let e = read_volatile(envp.add(n));
            if e.is_null() {
                break;
            }
            let e = c_bytes(e);
            // Already the sealed copy (or a loop): the ordinary path checks and says so.
            let prefix = &MARKER_ENV[..MARKER_ENV.len() - 2];
            if e.len() >= prefix.len() && bytes_eq(&e[..prefix.len()], prefix) {
                return;
            }
            n += 1;
            if n + 2 > ENV_MAX {
                return;
            }
        }
        let Some(exe) = overlay_exe() else {
            return;
        };
        // Raw pointer writes within the checked bounds: no bounds-check panic path here.
        let mut env = [MaybeUninit::<*const u8>::uninit(); ENV_MAX];
        let out = env.as_mut_ptr() as *mut *const u8;
        let mut k = 0;
        while k < n && k < ENV_MAX - 2 {
            write_volatile(out.add(k), read_volatile(envp.add(k)));
            k += 1;
        }
        write_volatile(out.add(k), MARKER_ENV.as_ptr());
        write_volatile(out.add(k + 1), null());
        syscall(
            libc::SYS_execveat,
            [
                exe as usize,
                c"".as_ptr() as usize,
                argv as usize,
                env.as_ptr() as usize,
                libc::AT_EMPTY_PATH as usize,
            ],
        );
        close(exe);
    }
}

/// The running binary opened through a detached read-only overlayfs (as the parent module's
/// `overlay_copy`), or None.
///
/// # Safety
/// Runs before the C library starts: it may only make raw system calls on its own stack
/// buffers (no allocation, no TLS, no libc function).
unsafe fn overlay_exe() -> Option<isize> {
    const FSOPEN_CLOEXEC: usize = 1;
    const FSCONFIG_SET_STRING: usize = 1;
    const FSCONFIG_CMD_CREATE: usize = 6;
    const FSMOUNT_CLOEXEC: usize = 1;
    const MOUNT_ATTR_RDONLY_NOSUID_NODEV: usize = 0x1 | 0x2 | 0x4;
    let mut path = [MaybeUninit::<u8>::uninit(); PATH_MAX];
    let mut lower = [MaybeUninit::<u8>::uninit(); LOWER_MAX];
    // SAFETY: raw syscalls on buffers of the sizes passed, and fds this function owns.
    unsafe {
        let len = syscall(
            libc::SYS_readlink,
            [
                c"/proc/self/exe".as_ptr() as usize,
                path.as_mut_ptr() as usize,
                PATH_MAX - 1,
                0,
                0,
            ],
        );
        if len <= 1 || len as usize >= PATH_MAX - 1 {
            return None;
        }
        let len = len as usize;
        write_volatile((path.as_mut_ptr() as *mut u8).add(len), 0);
        let p = core::slice::from_raw_parts(path.as_ptr() as *const u8, len);
        let deleted = b" (deleted)";
        if read_volatile(p.as_ptr()) != b'/'
            || (len > deleted.len() && bytes_eq(&p[len - deleted.len()..], deleted))
        {
            return None;
        }
        let mut slash = len - 1;
        while slash > 0 && read_volatile(p.as_ptr().add(slash)) != b'/' {
            slash -= 1;
        }
        if slash == 0 {
            return None;
        }
        // lowerdir: the binary's directory, ':' and '\\' escaped, then the second layer. At
        // most two bytes per byte of a path shorter than PATH_MAX, plus the suffix: it fits.
        let dst = lower.as_mut_ptr() as *mut u8;
        let mut o = 0;
        let mut i = 0;
        while i < slash && o + 2 + SECOND_LAYER_ARG.len() <= LOWER_MAX {
            let b = read_volatile(p.as_ptr().add(i));
            if b == b':' || b == b'\\' {
                write_volatile(dst.add(o), b'\\');
                o += 1;
            }
            write_volatile(dst.add(o), b);
            o += 1;
            i += 1;
        }
        let mut j = 0;
        while j < SECOND_LAYER_ARG.len() {
            write_volatile(dst.add(o), read_volatile(SECOND_LAYER_ARG.as_ptr().add(j)));
            o += 1;
            j += 1;
        }
        let fs = syscall(
            libc::SYS_fsopen,
            [c"overlay".as_ptr() as usize, FSOPEN_CLOEXEC, 0, 0, 0],
        );
        if fs < 0 {
            return None;
        }
        let set = |key: &core::ffi::CStr, value: usize| {
            syscall(
                libc::SYS_fsconfig,
                [
                    fs as usize,
                    FSCONFIG_SET_STRING,
                    key.as_ptr() as usize,
                    value,
                    0,
                ],
            )
        };
        let created = set(c"lowerdir", lower.as_ptr() as usize) >= 0 && {
            set(c"xino", c"off".as_ptr() as usize);
            syscall(
                libc::SYS_fsconfig,
                [fs as usize, FSCONFIG_CMD_CREATE, 0, 0, 0],
            ) >= 0
        };
        let mnt = if created {
            syscall(
                libc::SYS_fsmount,
                [
                    fs as usize,
                    FSMOUNT_CLOEXEC,
                    MOUNT_ATTR_RDONLY_NOSUID_NODEV,
                    0,
                    0,
                ],
            )
        } else {
            -1
        };
        close(fs);
        if mnt < 0 {
            return None;
        }
        let exe = syscall(
            libc::SYS_openat,
            [
                mnt as usize,
                path.as_ptr().add(slash + 1) as usize,
                (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as usize,
                0,
                0,
            ],
        );
        close(mnt);
        if exe < 0 {
            return None;
        }
        // The same file as the one running, not something of that name in the second layer.
        let mut a = MaybeUninit::<libc::stat>::uninit();
        let mut b = MaybeUninit::<libc::stat>::uninit();
        let ok = syscall(
            libc::SYS_newfstatat,
            [
                exe as usize,
                c"".as_ptr() as usize,
                a.as_mut_ptr() as usize,
                libc::AT_EMPTY_PATH as usize,
                0,
            ],
        ) == 0
            && syscall(
                libc::SYS_newfstatat,
                [
                    libc::AT_FDCWD as usize,
                    c"/proc/self/exe".as_ptr() as usize,
                    b.as_mut_ptr() as usize,
                    0,
                    0,
                ],
            ) == 0;
        if ok {
            let (a, b) = (a.assume_init_ref(), b.assume_init_ref());
            if a.st_ino == b.st_ino
                && a.st_size == b.st_size
                && a.st_mtime == b.st_mtime
                && a.st_mtime_nsec == b.st_mtime_nsec
            {
                return Some(exe);
            }
        }
        close(exe);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_ordinary_path() {
        let marker = format!("{}=1\0", super::super::MARKER);
        assert_eq!(MARKER_ENV, marker.as_bytes());
        let layer = format!(":{}\0", super::super::SECOND_LAYER);
        assert_eq!(SECOND_LAYER_ARG, layer.as_bytes());
    }
}
