//! `linux.seccomp`: what a process in the container sees under a profile (errnos, argument
//! filters, kills, logging, foreign ABIs, a notify agent's answers, Docker's default profile),
//! and bad profiles refused with nothing created.
//!
//! Some checks use a tiny static probe built from C by the test (`gcc`, no libc needed): it
//! makes raw syscalls, including i386 ones through `int $0x80` and x32 ones (number | 0x40000000)
//! through `syscall`, and prints `<step> = <return value or -errno>` for each.
//!
//! x86_64 only: the probe, the syscall numbers and the ABIs tested are that machine's (berth's
//! seccomp compiler has tables for it alone so far).
#![cfg(target_arch = "x86_64")]

mod abis;
mod actions;
mod notify;
mod process;
mod profiles;
mod runc_semantics;

use crate::bundle::Bundle;
use crate::common::{Container, Out};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const EPERM: i32 = 1;
pub const EXDEV: i32 = 18;
/// What `run` reports for a container process killed by SIGSYS.
pub const KILLED_BY_SIGSYS: i32 = 128 + 31;

/// The probe's source. Steps: `say:TEXT`, `mkdir64:PATH`, `mkdir32:PATH` (i386 mkdir, 39),
/// `getpid32` (i386 getpid, 20), `getpidx32` (x32 getpid, 39 | 0x40000000), `personality:HEX`,
/// `socket64`, `socket32` (i386 socket, 359), `socketcall32` (i386 socketcall(SYS_SOCKET), 102),
/// `sys:NR:A0:A1:A2` and `sys32:NR:A0:A1:A2` (any call, hex; i386 through `int $0x80`).
const PROBE_C: &str = r#"
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
/* The i386 ABI from a 64-bit process: the kernel reads eax/ebx/ecx; pointers must fit 32 bits. */
static int int80(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return (int)r;
}
static char path32[256]; /* .bss of a static non-PIE binary: below 4 GiB */
static unsigned int sockargs32[3];
static void out(const char *s, long n) { sys3(1, 1, (long)s, n); }
static long len(const char *s) { long n = 0; while (s[n]) n++; return n; }
static int prefix(const char *s, const char *p, const char **rest) {
    while (*p) if (*s++ != *p++) return 0;
    *rest = s;
    return 1;
}
static void report(const char *step, long v) {
    char buf[32]; int i = sizeof buf; int neg = v < 0;
    unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
    buf[--i] = '\n';
    do { buf[--i] = '0' + u % 10; u /= 10; } while (u);
    if (neg) buf[--i] = '-';
    out(step, len(step)); out(" = ", 3); out(buf + i, sizeof buf - i);
}
static unsigned long hex(const char *s) {
    unsigned long v = 0;
    for (; *s && *s != ':'; s++) v = v * 16 + (*s <= '9' ? *s - '0' : (*s | 32) - 'a' + 10);
    return v;
}
/* "NR:A0:A1:A2" in hex, missing arguments 0. */
static void fields(const char *s, unsigned long v[4]) {
    for (int k = 0; k < 4; k++) {
        v[k] = *s ? hex(s) : 0;
        while (*s && *s != ':') s++;
        if (*s) s++;
    }
}
void cmain(long *sp) {
    long argc = sp[0]; char **argv = (char **)(sp + 1); const char *r;
    for (long i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (prefix(a, "mkdir64:", &r)) report(a, sys3(83, (long)r, 0755, 0));
        else if (prefix(a, "mkdir32:", &r)) {
            long n = 0; while (r[n] && n < 255) { path32[n] = r[n]; n++; } path32[n] = 0;
            report(a, int80(39, (long)path32, 0755, 0));
        }
        else if (prefix(a, "getpidx32", &r)) report(a, sys3(39 | 0x40000000, 0, 0, 0));
        else if (prefix(a, "getpid32", &r)) report(a, int80(20, 0, 0, 0));
        /* socket(AF_UNIX, SOCK_STREAM, 0): x86_64; i386 (359); i386 socketcall(SYS_SOCKET) */
        else if (prefix(a, "socket64", &r)) report(a, sys3(41, 1, 1, 0));
        else if (prefix(a, "socket32", &r)) report(a, int80(359, 1, 1, 0));
        else if (prefix(a, "socketcall32", &r)) {
            sockargs32[0] = 1; sockargs32[1] = 1; sockargs32[2] = 0;
            report(a, int80(102, 1, (long)sockargs32, 0));
        }
        else if (prefix(a, "personality:", &r)) report(a, sys3(135, (long)hex(r), 0, 0));
        else if (prefix(a, "sys:", &r)) {
            unsigned long v[4]; fields(r, v); report(a, sys3(v[0], v[1], v[2], v[3]));
        }
        else if (prefix(a, "sys32:", &r)) {
            unsigned long v[4]; fields(r, v); report(a, int80(v[0], v[1], v[2], v[3]));
        }
        else if (prefix(a, "say:", &r)) { out(r, len(r)); out("\n", 1); }
        else { out("bad step\n", 9); sys3(231, 2, 0, 0); }
    }
    sys3(231, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n"
        " and $-16, %rsp\n call cmain\n hlt\n");
"#;

/// The probe binary, built once per test run.
pub(crate) fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let tag = format!("seccomp-probe.{}", std::process::id());
        let src = dir.join(format!("{tag}.c"));
        let bin = dir.join(&tag);
        fs::write(&src, PROBE_C).expect("write the probe's source");
        // No libc at all: nothing to install but gcc, and no start-up calls of its own.
        let flags = "-static -no-pie -nostdlib -ffreestanding -fno-builtin -fno-stack-protector \
                     -fno-tree-loop-distribute-patterns -Os";
        let out = Command::new("gcc")
            .args(flags.split_whitespace())
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("run gcc (install it: apt-get install gcc): {e}"));
        let _ = fs::remove_file(&src);
        assert!(
            out.status.success(),
            "building the seccomp probe failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Test runs at once build the same bytes, and the rename is atomic.
        let probe = dir.join("seccomp-probe");
        fs::rename(&bin, &probe).expect("move the probe into place");
        probe
    })
}

/// `bundle` with the probe at /probe in its rootfs, run as `/probe STEPS...`.
pub fn probe_bundle(bundle: Bundle, steps: &[&str]) -> Bundle {
    fs::copy(probe(), bundle.rootfs().join("probe")).expect("copy the probe into the rootfs");
    let mut args = vec!["/probe"];
    args.extend_from_slice(steps);
    bundle.args(&args)
}

/// A `linux.seccomp` object.
pub fn profile(default: &str, syscalls: Value) -> Value {
    json!({
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    })
}

/// A profile that allows everything but mkdir, which gets `action` (with `extra` fields).
pub fn deny_mkdir(action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let Value::Object(m) = extra {
        rule.as_object_mut().expect("rule").extend(m);
    }
    profile("SCMP_ACT_ALLOW", json!([rule]))
}

pub fn with_seccomp(bundle: Bundle, seccomp: Value) -> Bundle {
    bundle.set("/linux/seccomp", seccomp)
}

/// Runs the container in the foreground; asserts success and that nothing is left.
#[track_caller]
pub fn run_ok(c: &Container) -> Out {
    let out = c.run(&[]);
    out.assert_ok();
    c.assert_no_leftovers();
    out
}

/// Runs `sh -c script` (stderr folded into stdout) under `seccomp`; returns what it printed.
#[track_caller]
pub fn sh_under(seccomp: Value, script: &str) -> String {
    let script = format!("exec 2>&1; {script}");
    let b = with_seccomp(Bundle::new(), seccomp).args(&["sh", "-c", &script]);
    run_ok(&Container::new(b)).stdout
}

/// Runs the probe under `seccomp` (None: no profile); returns the run's result.
pub fn probe_under(seccomp: Option<Value>, steps: &[&str]) -> Out {
    let mut b = probe_bundle(Bundle::new(), steps);
    if let Some(s) = seccomp {
        b = with_seccomp(b, s);
    }
    probe_under_bundle(b)
}

/// Runs a bundle in the foreground and checks nothing is left; returns the run's result.
pub fn probe_under_bundle(b: Bundle) -> Out {
    let c = Container::new(b);
    let out = c.run(&[]);
    c.assert_no_leftovers();
    out
}

/// The probe's report for `step`: its return value or -errno.
#[track_caller]
pub fn result_of(out: &Out, step: &str) -> i64 {
    let prefix = format!("{step} = ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no result for {step}:\n{out}"))
}

/// Syscalls busybox sh and its applets need (and the runtime's last steps, runc's Go runtime
/// included); mkdir is not among them.
pub const BUSYBOX_SYSCALLS: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "chdir",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "clone3",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fork",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "gettid",
    "gettimeofday",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "lstat",
    "madvise",
    "mmap",
    "mprotect",
    "mremap",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prlimit64",
    "pread64",
    "pselect6",
    "read",
    "readlink",
    "readlinkat",
    "readv",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigsuspend",
    "sched_getaffinity",
    "sched_yield",
    "select",
    "set_robust_list",
    "set_tid_address",
    "setpgid",
    "sigaltstack",
    "stat",
    "statfs",
    "statx",
    "sysinfo",
    "tgkill",
    "time",
    "times",
    "umask",
    "uname",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
];

pub fn allow_list(extra: &[&str]) -> Value {
    let mut names: Vec<&str> = BUSYBOX_SYSCALLS.to_vec();
    names.extend_from_slice(extra);
    profile(
        "SCMP_ACT_ERRNO",
        json!([{"names": names, "action": "SCMP_ACT_ALLOW"}]),
    )
}

/// The /proc/self/status lines named, as "Name:\tvalue" (order of the file).
pub const STATUS_FIELDS: &str = "^(NoNewPrivs|Seccomp|Seccomp_filters|Cap(Inh|Prm|Eff|Bnd|Amb)):";

pub fn status_of(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
