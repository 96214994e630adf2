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

use crate::bundle::Bundle;
use crate::common::{berth_specific_enabled, runtime_is_berth, Container, Out};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const EPERM: i32 = 1;
const EXDEV: i32 = 18;
/// What `run` reports for a container process killed by SIGSYS.
const KILLED_BY_SIGSYS: i32 = 128 + 31;

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
fn probe_bundle(bundle: Bundle, steps: &[&str]) -> Bundle {
    fs::copy(probe(), bundle.rootfs().join("probe")).expect("copy the probe into the rootfs");
    let mut args = vec!["/probe"];
    args.extend_from_slice(steps);
    bundle.args(&args)
}

/// A `linux.seccomp` object.
fn profile(default: &str, syscalls: Value) -> Value {
    json!({
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    })
}

/// A profile that allows everything but mkdir, which gets `action` (with `extra` fields).
fn deny_mkdir(action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let Value::Object(m) = extra {
        rule.as_object_mut().expect("rule").extend(m);
    }
    profile("SCMP_ACT_ALLOW", json!([rule]))
}

fn with_seccomp(bundle: Bundle, seccomp: Value) -> Bundle {
    bundle.set("/linux/seccomp", seccomp)
}

/// Runs the container in the foreground; asserts success and that nothing is left.
#[track_caller]
fn run_ok(c: &Container) -> Out {
    let out = c.run(&[]);
    out.assert_ok();
    c.assert_no_leftovers();
    out
}

/// Runs `sh -c script` (stderr folded into stdout) under `seccomp`; returns what it printed.
#[track_caller]
fn sh_under(seccomp: Value, script: &str) -> String {
    let script = format!("exec 2>&1; {script}");
    let b = with_seccomp(Bundle::new(), seccomp).args(&["sh", "-c", &script]);
    run_ok(&Container::new(b)).stdout
}

/// Runs the probe under `seccomp` (None: no profile); returns the run's result.
fn probe_under(seccomp: Option<Value>, steps: &[&str]) -> Out {
    let mut b = probe_bundle(Bundle::new(), steps);
    if let Some(s) = seccomp {
        b = with_seccomp(b, s);
    }
    probe_under_bundle(b)
}

/// Runs a bundle in the foreground and checks nothing is left; returns the run's result.
fn probe_under_bundle(b: Bundle) -> Out {
    let c = Container::new(b);
    let out = c.run(&[]);
    c.assert_no_leftovers();
    out
}

/// The probe's report for `step`: its return value or -errno.
#[track_caller]
fn result_of(out: &Out, step: &str) -> i64 {
    let prefix = format!("{step} = ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no result for {step}:\n{out}"))
}

/// Syscalls busybox sh and its applets need (and the runtime's last steps, runc's Go runtime
/// included); mkdir is not among them.
const BUSYBOX_SYSCALLS: &[&str] = &[
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

fn allow_list(extra: &[&str]) -> Value {
    let mut names: Vec<&str> = BUSYBOX_SYSCALLS.to_vec();
    names.extend_from_slice(extra);
    profile(
        "SCMP_ACT_ERRNO",
        json!([{"names": names, "action": "SCMP_ACT_ALLOW"}]),
    )
}

/// The /proc/self/status lines named, as "Name:\tvalue" (order of the file).
const STATUS_FIELDS: &str = "^(NoNewPrivs|Seccomp|Seccomp_filters|Cap(Inh|Prm|Eff|Bnd|Amb)):";

fn status_of(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

// ---- actions ----

#[test]
fn errno_action_denies_mkdir_with_eperm() {
    need_root!();
    let out = sh_under(
        // A name this kernel's table does not know is skipped, the rule's others still apply.
        profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["not_a_syscall", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]),
        ),
        "mkdir /dev/shm/d; echo rc=$?; [ -d /dev/shm/d ] && echo exists || echo absent; \
         touch /dev/shm/f && echo touched",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Operation not permitted\nrc=1\nabsent\n\
         touched\n"
    );
}

#[test]
fn errno_ret_is_the_errno_seen() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV})),
        "mkdir /dev/shm/d; echo rc=$?",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Invalid cross-device link\nrc=1\n"
    );
    // The same through the probe: the raw syscall returns -EXDEV.
    let out = probe_under(
        Some(deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV}))),
        &["mkdir64:/dev/shm/p"],
    );
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/p"), -i64::from(EXDEV));
}

#[test]
fn argument_filter_allows_one_value_and_denies_another() {
    need_root!();
    // personality(PER_LINUX32 = 8) is denied; any other persona, and the query, are allowed.
    let seccomp = profile(
        "SCMP_ACT_ALLOW",
        json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
        }]),
    );
    // sys32:88:8 is the i386 personality(8), through int 0x80.
    let steps = [
        "personality:8",
        "sys32:88:8",
        "personality:ffffffff",
        "personality:20000",
        "personality:0",
    ];
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        // The query shows 8 was never applied; 0x20000 (UNAME26) was.
        "personality:8 = -18\nsys32:88:8 = -18\npersonality:ffffffff = 0\n\
         personality:20000 = 0\npersonality:0 = 131072\n"
    );
}

#[test]
fn masked_eq_compares_the_masked_argument() {
    need_root!();
    // Denied when (persona & PER_MASK) == PER_LINUX32, whatever the flag bits.
    let seccomp = profile(
        "SCMP_ACT_ALLOW",
        json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 0xff, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]
        }]),
    );
    let steps = [
        "personality:8",
        "personality:40008",
        "personality:40000",
        "personality:ffffffff",
    ];
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        // 0x40000 (ADDR_NO_RANDOMIZE) masks to 0: allowed; the query masks to 0xff: allowed.
        "personality:8 = -18\npersonality:40008 = -18\npersonality:40000 = 0\n\
         personality:ffffffff = 262144\n"
    );
}

#[test]
fn kill_process_kills_the_container_with_sigsys() {
    need_root!();
    // SCMP_ACT_KILL is KILL_THREAD; the process is single-threaded, so it dies the same way;
    // SCMP_ACT_TRAP sends SIGSYS, whose default action kills too.
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
    ] {
        let b = with_seccomp(Bundle::new(), deny_mkdir(action, json!({}))).args(&[
            "sh",
            "-c",
            "echo before; exec mkdir /dev/shm/k; echo after",
        ]);
        let c = Container::new(b);
        let out = c.run(&[]);
        assert_eq!(out.code(), Some(KILLED_BY_SIGSYS), "{action}: {out}");
        assert_eq!(out.stdout, "before\n", "{action}: {out}");
        c.assert_no_leftovers();
    }
}

#[test]
fn trace_without_a_tracer_fails_the_call_with_enosys() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_TRACE", json!({})),
        "mkdir /dev/shm/t; echo rc=$?",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/t': Function not implemented\nrc=1\n"
    );
}

#[test]
fn default_errno_with_an_allow_list_runs_busybox_sh() {
    need_root!();
    let out = sh_under(
        allow_list(&[]),
        "echo hello; echo piped | cat; ls -d /dev/shm; mkdir /dev/shm/x; echo rc=$?",
    );
    assert_eq!(
        out,
        "hello\npiped\n/dev/shm\nmkdir: can't create directory '/dev/shm/x': \
         Operation not permitted\nrc=1\n"
    );
}

#[test]
fn default_errno_ret_is_the_errno_of_unlisted_calls() {
    need_root!();
    let mut seccomp = allow_list(&[]);
    seccomp["defaultErrnoRet"] = json!(EXDEV);
    let out = sh_under(seccomp, "echo hello; mkdir /dev/shm/x; echo rc=$?");
    assert_eq!(
        out,
        "hello\nmkdir: can't create directory '/dev/shm/x': Invalid cross-device link\nrc=1\n"
    );
}

#[test]
fn log_action_leaves_the_process_running() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_LOG", json!({})),
        "mkdir /dev/shm/l && echo made; [ -d /dev/shm/l ] && echo exists; echo still-running",
    );
    assert_eq!(out, "made\nexists\nstill-running\n");
}

/// berth-specific: runc 1.1.5 refuses any `flags` ("seccomp flags are not yet supported by
/// runc"; runc 1.2 takes them).
#[test]
fn filter_flag_log_is_accepted() {
    need_berth!();
    let mut seccomp = deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV}));
    seccomp["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let out = sh_under(seccomp, "mkdir /dev/shm/d; echo rc=$?");
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Invalid cross-device link\nrc=1\n"
    );
}

// ---- ABIs ----

#[test]
fn int80_calls_of_a_denied_syscall_are_denied_too() {
    need_root!();
    let steps = [
        "mkdir64:/dev/shm/a",
        "mkdir32:/dev/shm/b",
        "getpid32",
        "say:done",
    ];
    // Without a profile both calls work: the probe's i386 path is real.
    let out = probe_under(None, &steps);
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/a"), 0);
    assert_eq!(result_of(&out, "mkdir32:/dev/shm/b"), 0);

    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}]
    });
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/a"), -i64::from(EXDEV));
    assert_eq!(result_of(&out, "mkdir32:/dev/shm/b"), -i64::from(EXDEV));
    // The i386 ABI itself is allowed: its getpid answers (the probe is pid 1).
    assert_eq!(result_of(&out, "getpid32"), 1);
    assert!(out.stdout.ends_with("done\n"), "{out}");
}

#[test]
fn an_abi_not_listed_is_killed() {
    need_root!();
    let only_native = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    for step in ["getpid32", "getpidx32"] {
        let out = probe_under(
            Some(only_native.clone()),
            &["say:before", step, "say:after"],
        );
        assert_eq!(out.code(), Some(KILLED_BY_SIGSYS), "{step}: {out}");
        assert_eq!(out.stdout, "before\n", "{step}: {out}");
    }
    // Listed, x32 gets through the filter: the kernel answers (-ENOSYS when built without x32).
    let mut with_x32 = only_native.clone();
    with_x32["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]);
    let out = probe_under(Some(with_x32), &["say:before", "getpidx32", "say:after"]);
    out.assert_ok();
    let ret = result_of(&out, "getpidx32");
    assert!(ret == 1 || ret == -38, "{out}");
    assert!(out.stdout.ends_with("after\n"), "{out}");
}

#[test]
fn a_socket_rule_covers_i386_socketcall_too() {
    need_root!();
    let steps = ["socket64", "socket32", "socketcall32"];
    // Without a profile, each makes a socket (fds 3, 4, 5).
    let out = probe_under(None, &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout, "socket64 = 3\nsocket32 = 4\nsocketcall32 = 5\n",
        "{out}"
    );
    // Denying socket denies the multiplexed i386 socketcall(SYS_SOCKET, ...) as well, or a
    // deny-list could be bypassed through it.
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}]
    });
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout, "socket64 = -18\nsocket32 = -18\nsocketcall32 = -18\n",
        "{out}"
    );
}

// ---- the same answers as runc ----

/// Rule semantics where libseccomp has its own rules (several conditions, one argument named
/// twice, 64-bit values, 32-bit ABIs, rule precedence, multiplexed i386 calls): the probe sees
/// the same results under berth and under runc. Only when comparing berth with runc (skipped
/// when `$BERTH_TEST_RUNTIME` is set, like compare.rs).
#[test]
fn rule_semantics_match_runc() {
    need_root!();
    let Some(runc) = crate::common::runc_to_compare() else {
        return;
    };
    let errno = |names: &[&str], args: Value| {
        let rule = json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV});
        let mut rule = rule.as_object().expect("rule").clone();
        if !args.is_null() {
            rule.insert("args".into(), args);
        }
        Value::Object(rule)
    };
    let arg = |index: u32, op: &str, value: u64| json!({"index": index, "value": value, "op": op});
    // x86_64: getpriority 8c, getpgid 79, getsid 7c, sched_getscheduler 91, getuid 66,
    // personality 87; i386: getpriority 60, getpgid 84, getsid 93, sched_getscheduler 9d,
    // getuid 18, getuid32 c7, personality 88.
    // Steps are separated by spaces.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "two conditions on two arguments: both must hold",
            json!([errno(
                &["getpriority"],
                json!([arg(0, "SCMP_CMP_EQ", 0), arg(1, "SCMP_CMP_EQ", 5)])
            )]),
            "sys:8c:0:5 sys:8c:0:6 sys:8c:1:5 sys32:60:0:5 sys32:60:1:5",
        ),
        (
            "one argument named twice",
            json!([errno(
                &["getpgid"],
                json!([arg(0, "SCMP_CMP_EQ", 5), arg(0, "SCMP_CMP_EQ", 6)])
            )]),
            "sys:79:5 sys:79:6 sys:79:7 sys32:84:5 sys32:84:6",
        ),
        (
            "orderings",
            json!([
                errno(&["getpgid"], json!([arg(0, "SCMP_CMP_LT", 3)])),
                errno(&["getsid"], json!([arg(0, "SCMP_CMP_LE", 3)])),
                errno(&["sched_getscheduler"], json!([arg(0, "SCMP_CMP_GE", 3)])),
                errno(&["getpriority"], json!([arg(1, "SCMP_CMP_NE", 3)])),
            ]),
            "sys:79:2 sys:79:3 sys:7c:3 sys:7c:4 sys:91:2 sys:91:3 sys:8c:0:3 sys:8c:0:4 \
             sys32:84:2 sys32:84:3 sys32:93:3 sys32:93:4 sys32:9d:2 sys32:9d:3 sys32:60:0:3 \
             sys32:60:0:4",
        ),
        (
            "64-bit values",
            json!([
                errno(&["getpgid"], json!([arg(0, "SCMP_CMP_GT", 0xffff_ffff)])),
                errno(&["getsid"], json!([arg(0, "SCMP_CMP_EQ", 0x1_0000_0005)])),
                errno(
                    &["sched_getscheduler"],
                    json!([
                        {"index": 0, "value": 0xff_0000_00ff_u64, "valueTwo": 0x12_0000_0005_u64,
                         "op": "SCMP_CMP_MASKED_EQ"}
                    ])
                ),
            ]),
            "sys:79:100000000 sys:79:ffffffff sys:79:5 sys32:84:ffffffff sys:7c:100000005 \
             sys:7c:5 sys32:93:5 sys:91:1200000005 sys:91:1300000005 sys:91:5 sys32:9d:5",
        ),
        (
            "an unconditional rule beside a conditional one",
            json!([
                errno(&["getpgid"], json!([arg(0, "SCMP_CMP_EQ", 5)])),
                {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO"},
            ]),
            "sys:79:5 sys:79:0 sys32:84:5",
        ),
        // (With a mkdir rule beside them: see an_x32_profile_without_native_rules_runs.)
        (
            "names of one ABI only",
            json!([
                errno(&["getuid32"], json!(null)),
                errno(&["mkdir"], json!(null))
            ]),
            "sys:66 sys32:18 sys32:c7",
        ),
        (
            "errnoRet 0: the call is skipped and returns 0",
            json!([{"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]),
            "sys:7c:0 sys32:93:0",
        ),
        (
            "socketcall itself",
            json!([
                errno(&["socketcall"], json!(null)),
                errno(&["mkdir"], json!(null))
            ]),
            "socket64 socket32 socketcall32",
        ),
        (
            "a socket rule with a condition",
            json!([errno(&["socket"], json!([arg(0, "SCMP_CMP_EQ", 1)]))]),
            "socket64 socket32 socketcall32 sys:29:2:2:0 sys32:167:2:2:0",
        ),
    ];
    let mut diffs = Vec::new();
    for (what, rules, steps) in cases {
        let seccomp = profile("SCMP_ACT_ALLOW", rules);
        let results: Vec<(Option<i32>, String)> = std::thread::scope(|scope| {
            let run = |bin: PathBuf| {
                let steps: Vec<&str> = steps.split(' ').collect();
                let b = with_seccomp(probe_bundle(Bundle::new(), &steps), seccomp.clone());
                let c = Container::with_runtime(bin, b);
                let out = c.run(&[]);
                c.assert_no_leftovers();
                (out.code(), out.stdout)
            };
            let runc = runc.clone();
            let r = scope.spawn(move || run(runc));
            let b = scope.spawn(move || run(crate::common::berth_bin()));
            vec![r.join().expect("runc"), b.join().expect("berth")]
        });
        if results[0] != results[1] {
            diffs.push(format!(
                "{what}:\n  runc:  {:?} {:?}\n  berth: {:?} {:?}",
                results[0].0, results[0].1, results[1].0, results[1].1
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "berth and runc differ:\n{}",
        diffs.join("\n")
    );
}

/// A profile with no rule left for the native ABI (none at all, only rules with the default
/// action, or only names the ABI does not have) lists X32: every call must still get the
/// default action.
#[test]
fn an_x32_profile_without_native_rules_runs() {
    need_root!();
    for syscalls in [
        json!([]),
        json!([{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]),
        json!([{"names": ["getuid32"], "action": "SCMP_ACT_ERRNO"}]),
    ] {
        let b = with_seccomp(Bundle::new(), profile("SCMP_ACT_ALLOW", syscalls.clone())).args(&[
            "sh",
            "-c",
            "echo ran; grep '^Seccomp:' /proc/self/status",
        ]);
        let c = Container::new(b);
        let out = c.run(&[]);
        assert!(out.status.success(), "syscalls {syscalls}: {out}");
        assert_eq!(
            out.stdout, "ran\nSeccomp:\t2\n",
            "syscalls {syscalls}: {out}"
        );
        c.assert_no_leftovers();
    }
}

// ---- the process's state ----

#[test]
fn the_filter_is_in_force_for_the_process() {
    need_root!();
    let b = with_seccomp(Bundle::new(), deny_mkdir("SCMP_ACT_ERRNO", json!({}))).args(&[
        "grep",
        "-E",
        STATUS_FIELDS,
        "/proc/self/status",
    ]);
    let out = run_ok(&Container::new(b));
    let status = status_of(&out.stdout);
    for want in ["NoNewPrivs:\t1", "Seccomp:\t2", "Seccomp_filters:\t1"] {
        assert!(status.iter().any(|l| l == want), "{want}: {}", out.stdout);
    }
}

#[test]
fn without_no_new_privileges_caps_are_exactly_the_configured_ones() {
    need_root!();
    // The base capabilities (CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE; no CAP_SYS_ADMIN,
    // bit 21, which berth holds until the filter is loaded), inheritable too so that the
    // ambient set takes; as root and as another user.
    let caps = "0000000020000420";
    for user in [
        json!({"uid": 0, "gid": 0}),
        json!({"uid": 1000, "gid": 1000}),
    ] {
        let b = with_seccomp(Bundle::new(), deny_mkdir("SCMP_ACT_ERRNO", json!({})))
            .set("/process/noNewPrivileges", json!(false))
            .set("/process/user", user.clone())
            .set(
                "/process/capabilities/inheritable",
                json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            )
            .args(&[
                "sh",
                "-c",
                &format!(
                    "grep -E '{STATUS_FIELDS}' /proc/self/status; mkdir /dev/shm/d 2>&1; \
                     echo rc=$?"
                ),
            ]);
        let out = run_ok(&Container::new(b));
        assert_eq!(
            out.stdout,
            format!(
                "CapInh:\t{caps}\nCapPrm:\t{caps}\nCapEff:\t{caps}\nCapBnd:\t{caps}\n\
                 CapAmb:\t{caps}\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n\
                 mkdir: can't create directory '/dev/shm/d': Operation not permitted\nrc=1\n"
            ),
            "user {user}"
        );
    }
}

/// berth-specific: without noNewPrivileges the profile only has to allow capset and execve
/// besides what the program needs (runc 1.1 loads it before its own setup calls: setuid,
/// prctl, ... so it cannot start under this allow-list).
#[test]
fn without_no_new_privileges_only_capset_and_execve_are_needed() {
    need_berth!();
    let b = with_seccomp(Bundle::new(), allow_list(&["capset"]))
        .set("/process/noNewPrivileges", json!(false))
        .args(&[
            "sh",
            "-c",
            "grep -E '^(Seccomp|CapEff):' /proc/self/status; echo ok",
        ]);
    let out = run_ok(&Container::new(b));
    assert_eq!(
        out.stdout, "CapEff:\t0000000020000420\nSeccomp:\t2\nok\n",
        "{out}"
    );
}

#[test]
fn a_profile_denying_execve_fails_run_and_leaves_nothing() {
    need_root!();
    let seccomp = profile(
        "SCMP_ACT_ALLOW",
        json!([{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}]),
    );
    let b = with_seccomp(Bundle::new(), seccomp).args(&["echo", "should-not-run"]);
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_failed();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    c.assert_no_leftovers();
    // berth-specific: refused at create, before anything exists, naming the field and the
    // call (runc: "can't exec user process").
    if berth_specific_enabled() {
        assert!(
            out.stderr.contains("linux.seccomp") && out.stderr.contains("denies execve"),
            "{out}"
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
    }
}

/// An allow-list that forgets execve: the process cannot start, and `run` must say why rather
/// than pass for the program's own exit status.
#[test]
fn an_allow_list_without_execve_fails_run_with_a_message() {
    need_root!();
    let names: Vec<&str> = BUSYBOX_SYSCALLS
        .iter()
        .copied()
        .filter(|n| *n != "execve")
        .collect();
    let seccomp = profile(
        "SCMP_ACT_ERRNO",
        json!([{"names": names, "action": "SCMP_ACT_ALLOW"}]),
    );
    let b = with_seccomp(Bundle::new(), seccomp).args(&["echo", "should-not-run"]);
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_failed();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    let stderr = out.stderr.to_lowercase();
    if runtime_is_berth() {
        // Refused before anything exists: the init could not even report the exec failure.
        assert!(
            stderr.contains("linux.seccomp") && stderr.contains("denies execve"),
            "{out}"
        );
    } else {
        // runc 1.1.5: "exec /bin/echo: operation not permitted".
        assert!(
            stderr.contains("exec") && stderr.contains("operation not permitted"),
            "{out}"
        );
    }
    c.assert_no_leftovers();
}

/// berth-specific: the filter is loaded just before execve (and CAP_SYS_ADMIN dropped with one
/// capset without no_new_privs), so an allow-list of the program's own calls plus execve
/// (and capset) is enough, even with KILL_PROCESS as the default. runc 1.1.5 makes many calls
/// after loading (its Go runtime, the exec fifo...) and is killed.
#[test]
fn a_minimal_allow_list_is_enough() {
    need_berth!();
    for (nnp, runtime_needs) in [(true, vec!["execve"]), (false, vec!["execve", "capset"])] {
        // The probe itself only writes and exits.
        let mut names = runtime_needs;
        names.extend(["write", "exit_group"]);
        let seccomp = profile(
            "SCMP_ACT_KILL_PROCESS",
            json!([{"names": names, "action": "SCMP_ACT_ALLOW"}]),
        );
        let b = probe_bundle(Bundle::new(), &["say:started"])
            .set("/process/noNewPrivileges", json!(nnp));
        let out = probe_under_bundle(with_seccomp(b, seccomp));
        out.assert_ok();
        assert_eq!(out.stdout, "started\n", "noNewPrivileges {nnp}: {out}");
    }
}

// ---- SCMP_ACT_NOTIFY ----

/// What the test agent saw.
#[derive(Debug, Default)]
struct AgentReport {
    /// The JSON message that came with the fd.
    message: Value,
    fds: usize,
    /// (syscall number, whether the notifying process was in the container's cgroup).
    notified: Vec<(i32, bool)>,
}

/// A seccomp agent on `sock`: takes one connection, the state and the listener fd, then
/// answers notifications with -EXDEV first and a fake success after, until the filter has no
/// users left, `done` is set, or 20 s passed.
fn spawn_agent(
    sock: PathBuf,
    cgroup: String,
    done: Arc<AtomicBool>,
) -> JoinHandle<Result<AgentReport, String>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;
    let listener = UnixListener::bind(&sock).expect("bind the agent's socket");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let conn = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline || done.load(Ordering::Relaxed) {
                        return Err("no connection from the runtime".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let (data, fds) = recv_with_fds(&conn)?;
        let message: Value = serde_json::from_slice(&data)
            .map_err(|e| format!("not JSON ({e}): {:?}", String::from_utf8_lossy(&data)))?;
        let mut report = AgentReport {
            message,
            fds: fds.len(),
            notified: Vec::new(),
        };
        let Some(notify_fd) = fds.into_iter().next() else {
            return Ok(report);
        };
        let fd = notify_fd.as_raw_fd();
        while Instant::now() < deadline && !done.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n <= 0 {
                continue;
            }
            if pfd.revents & libc::POLLIN == 0 {
                // POLLHUP: every process of the filter is gone.
                break;
            }
            // SAFETY: all-zero is a valid seccomp_notif, and the kernel wants it zeroed.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: RECV fills the seccomp_notif it is given.
            if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
                // ENOENT: the caller died meanwhile.
                continue;
            }
            let in_container = fs::read_to_string(format!("/proc/{}/cgroup", req.pid))
                .is_ok_and(|cg| cg.lines().any(|l| l.ends_with(&format!(":{cgroup}"))));
            let first = report.notified.is_empty();
            report.notified.push((req.data.nr, in_container));
            let mut resp = libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: if first { -EXDEV } else { 0 },
                flags: 0,
            };
            // SAFETY: SEND reads the seccomp_notif_resp it is given.
            unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        }
        Ok(report)
    })
}

/// Reads one message with its SCM_RIGHTS fds, then the rest of the stream until EOF.
fn recv_with_fds(
    conn: &std::os::unix::net::UnixStream,
) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        conn,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    let mut data = buf[..msg.bytes].to_vec();
    let mut rest = conn;
    rest.read_to_end(&mut data)
        .map_err(|e| format!("reading the rest of the message: {e}"))?;
    Ok((data, fds))
}

#[test]
fn notify_agent_gets_the_fd_and_state_and_its_answers_are_seen() {
    need_root!();
    notify_agent(true);
}

/// Without no_new_privs the filter is loaded with CAP_SYS_ADMIN held, before the init's last
/// steps: the hand-over works the same.
#[test]
fn notify_agent_without_no_new_privileges() {
    need_root!();
    notify_agent(false);
}

fn notify_agent(no_new_privileges: bool) {
    let agent_dir = tempfile::tempdir().expect("tempdir");
    let sock = agent_dir.path().join("agent.sock");
    let script = "exec 2>&1; mkdir /dev/shm/n1; echo rc=$?; mkdir /dev/shm/n2 && echo made; \
                  [ -d /dev/shm/n2 ] && echo exists || echo absent";
    let mut seccomp = deny_mkdir("SCMP_ACT_NOTIFY", json!({}));
    seccomp["listenerPath"] = json!(sock);
    seccomp["listenerMetadata"] = json!("it-meta");
    let b = with_seccomp(Bundle::new(), seccomp)
        .set("/annotations", json!({"org.berth.test": "notify"}))
        .set("/process/noNewPrivileges", json!(no_new_privileges))
        .args(&["sh", "-c", script]);
    let done = Arc::new(AtomicBool::new(false));
    let agent = spawn_agent(sock, b.cgroup_path.clone(), done.clone());
    let mut c = Container::new(b);
    let created = c.create(&[]);
    if !created.status.success() {
        done.store(true, Ordering::Relaxed);
        let _ = agent.join();
        panic!("create failed:\n{created}");
    }
    let pid = c.pid_file_proc().pid;
    c.start().assert_ok();
    c.wait_status("stopped");
    done.store(true, Ordering::Relaxed);
    let report = agent.join().expect("agent thread").expect("agent");
    let out = c.output();
    c.delete(false).assert_ok();
    c.assert_no_leftovers();

    let m = &report.message;
    assert_eq!(report.fds, 1, "{m}");
    assert_eq!(m["fds"], json!(["seccompFd"]), "{m}");
    assert_eq!(m["pid"], json!(pid), "{m}");
    assert_eq!(m["metadata"], "it-meta", "{m}");
    assert!(m["ociVersion"].is_string(), "{m}");
    let state = &m["state"];
    assert_eq!(state["id"], json!(c.id), "{m}");
    assert_eq!(state["pid"], json!(pid), "{m}");
    assert_eq!(state["status"], "creating", "{m}");
    assert_eq!(state["bundle"], json!(c.bundle.path()), "{m}");
    assert_eq!(state["annotations"]["org.berth.test"], "notify", "{m}");

    // mkdir (83) or mkdirat (258), both from a process in the container.
    assert_eq!(report.notified.len(), 2, "{report:?}\n{out}");
    for (nr, in_container) in &report.notified {
        assert!(*nr == 83 || *nr == 258, "{report:?}");
        assert!(in_container, "{report:?}");
    }
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/n1': Invalid cross-device link\nrc=1\n\
         made\nabsent\n"
    );
}

// ---- Docker's default profile ----

#[test]
fn docker_default_profile_runs_a_busybox_shell() {
    need_root!();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integration/data/seccomp/docker-default.oci.json");
    let text = fs::read_to_string(&path).expect("read docker-default.oci.json");
    let seccomp: Value = serde_json::from_str(&text).expect("docker-default.oci.json is JSON");
    let script = "exec 2>&1; echo hello; echo piped | cat; mkdir /dev/shm/d && echo made; \
                  unshare -U true; echo unshare-rc=$?; \
                  /probe personality:40000 personality:8 personality:ffffffff getpid32";
    // Docker runs containers without no_new_privs: the profile allows capset.
    let b = probe_bundle(Bundle::new(), &[])
        .set("/process/noNewPrivileges", json!(false))
        .args(&["sh", "-c", script]);
    let out = run_ok(&Container::new(with_seccomp(b, seccomp)));
    let mut expected = String::from("hello\npiped\nmade\n");
    // unshare is not allowed without CAP_SYS_ADMIN: EPERM, the profile's default.
    expected += "unshare: unshare(0x10000000): Operation not permitted\nunshare-rc=1\n";
    // personality: only 0, 8, 0x20000, 0x20008 and the query are allowed.
    expected += &format!("personality:40000 = -{EPERM}\npersonality:8 = 0\n");
    expected += "personality:ffffffff = 8\n";
    // The i386 ABI is listed (as SCMP_ARCH_X86): its getpid answers (the shell is pid 1).
    assert!(out.stdout.starts_with(&expected), "{out}");
    let getpid = out.stdout[expected.len()..].trim();
    assert!(getpid.starts_with("getpid32 = "), "{out}");
}

// ---- bad profiles ----

/// The `create` of a bundle with `seccomp` must fail and leave nothing; under berth its error
/// is one line naming `path`.
#[track_caller]
fn refused(seccomp: Value, path: &str) {
    let b = with_seccomp(Bundle::new(), seccomp).args(&["echo", "should-not-run"]);
    let mut c = Container::new(b);
    let out = c.create(&[]);
    out.assert_failed();
    c.assert_no_leftovers();
    assert_eq!(c.output(), "", "{out}");
    if berth_specific_enabled() {
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{path}: {out}");
        let needle = format!("{path}:");
        assert!(lines[0].contains(&needle), "{path}: {out}");
    }
}

/// A profile whose fourth rule (`syscalls[3]`) is `rule`.
fn fourth_rule(rule: Value) -> Value {
    profile(
        "SCMP_ACT_ALLOW",
        json!([
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            rule
        ]),
    )
}

fn mkdir_arg(arg: Value) -> Value {
    fourth_rule(json!({"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [arg]}))
}

/// Refused by runc 1.1.5 as well (with its own wording).
#[test]
fn bad_profiles_are_refused() {
    need_root!();
    let p = "linux.seccomp.syscalls[3]";
    let rule = |r: Value| fourth_rule(r);
    let errno = "SCMP_ACT_ERRNO";
    let cases = [
        (
            rule(json!({"names": ["mkdirat"], "action": "SCMP_ACT_BOGUS"})),
            format!("{p}.action"),
        ),
        (
            mkdir_arg(json!({"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"})),
            format!("{p}.args[0].op"),
        ),
        (
            mkdir_arg(json!({"index": 6, "value": 1, "op": "SCMP_CMP_EQ"})),
            format!("{p}.args[0].index"),
        ),
        (
            mkdir_arg(json!({"index": "0", "value": 1, "op": "SCMP_CMP_EQ"})),
            format!("{p}.args[0].index"),
        ),
        (
            mkdir_arg(json!({"index": 0, "value": -1, "op": "SCMP_CMP_EQ"})),
            format!("{p}.args[0].value"),
        ),
        // Malformed entries: a string for a rule, a rule or an argument missing a field.
        (rule(json!("mkdirat")), p.to_string()),
        (rule(json!({"names": ["mkdirat"]})), p.to_string()),
        (
            mkdir_arg(json!({"index": 0, "value": 1})),
            format!("{p}.args[0]"),
        ),
        // runc: "two checks on same syscall argument" (libseccomp's error for the bad value).
        (
            rule(json!({"names": ["mkdirat"], "action": errno, "errnoRet": 70000})),
            format!("{p}.errnoRet"),
        ),
        (
            json!({"defaultAction": errno, "defaultErrnoRet": 70000}),
            "linux.seccomp.defaultErrnoRet".to_string(),
        ),
        (
            rule(json!({"names": ["mkdirat", ""], "action": errno})),
            format!("{p}.names[1]"),
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_BOGUS"]}),
            "linux.seccomp.architectures[1]".to_string(),
        ),
        (
            rule(json!({"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"})),
            "linux.seccomp.listenerPath".to_string(),
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/nonexistent.sock"}),
            "linux.seccomp.defaultAction".to_string(),
        ),
        // The runtime's own last write would notify, with nobody to answer yet.
        (
            {
                let mut s = rule(json!({"names": ["write"], "action": "SCMP_ACT_NOTIFY"}));
                s["listenerPath"] = json!("/nonexistent.sock");
                s
            },
            format!("{p}.names"),
        ),
    ];
    // Each case copies a rootfs: side by side, they take a fraction of the time.
    std::thread::scope(|scope| {
        for (seccomp, path) in cases {
            scope.spawn(move || refused(seccomp, &path));
        }
    });
    // Nothing runs either when the refusal comes at `run`.
    let b = with_seccomp(
        Bundle::new(),
        mkdir_arg(json!({"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"})),
    )
    .args(&["echo", "should-not-run"]);
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_failed();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    c.assert_no_leftovers();
    if berth_specific_enabled() {
        assert!(out.stderr.contains(&format!("{p}.args[0].op:")), "{out}");
    }
}

/// berth-specific: a rule with no names at all is refused (runc 1.1.5 skips it silently).
#[test]
fn a_rule_without_names_is_refused() {
    need_berth!();
    refused(
        fourth_rule(json!({"names": [], "action": "SCMP_ACT_ERRNO"})),
        "linux.seccomp.syscalls[3].names",
    );
}
