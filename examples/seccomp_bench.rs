//! Compile time and program size of Docker's default seccomp profile: berth's compiler
//! against libseccomp driven the way runc drives it.
//!
//!     cargo run --release --example seccomp_bench [iterations]
//!
//! Both sides start from the JSON text (a `linux.seccomp` object) and end with the BPF
//! program in memory: berth with `berth::seccomp::compile_json`; libseccomp with a serde
//! parse, then runc's InitSeccomp up to the load (new filter, architectures, optimize level
//! 2 as runc sets for more than 32 syscalls, no_new_privs off, one rule per name as runc's
//! matchCall adds it) and seccomp_export_bpf into a memfd. Also printed: how many BPF
//! instructions each program runs for a few common x86_64 calls.

use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch as SpecArch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompOperator as O,
};

const PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/integration/data/seccomp/docker-default.oci.json"
);

fn scmp_action(a: A, errno_ret: Option<u32>) -> ScmpAction {
    let data = errno_ret.unwrap_or(libc::EPERM as u32);
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(data as i32),
        A::ScmpActTrace => ScmpAction::Trace(data as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActAllow => ScmpAction::Allow,
    }
}

fn scmp_op(op: O, value: u64) -> ScmpCompareOp {
    match op {
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        O::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

/// runc's filter for the profile text, exported into `out` (rewound first).
fn libseccomp_compile(json: &[u8], out: &mut std::fs::File) -> Vec<libc::sock_filter> {
    let s: LinuxSeccomp = serde_json::from_slice(json).expect("profile");
    let default = scmp_action(s.default_action(), s.default_errno_ret());
    let mut f = ScmpFilterContext::new(default).expect("seccomp_init");
    for a in s.architectures().iter().flatten() {
        let a = match a {
            SpecArch::ScmpArchX86 => ScmpArch::X86,
            SpecArch::ScmpArchX32 => ScmpArch::X32,
            SpecArch::ScmpArchX86_64 => ScmpArch::X8664,
            a => panic!("{a:?} is not an x86 ABI"),
        };
        if !f.is_arch_present(a).unwrap() {
            f.add_arch(a).expect("seccomp_arch_add");
        }
    }
    let calls: usize = s.syscalls().iter().flatten().map(|c| c.names().len()).sum();
    if calls > 32 {
        f.set_ctl_optimize(2).expect("optimize");
    }
    f.set_ctl_nnp(false).unwrap();
    for call in s.syscalls().iter().flatten() {
        let action = scmp_action(call.action(), call.errno_ret());
        for name in call.names() {
            if action == default {
                continue;
            }
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = call.args().clone().unwrap_or_default();
            let conds: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| match a.op() {
                    O::ScmpCmpMaskedEq => ScmpArgCompare::new(
                        a.index() as u32,
                        scmp_op(a.op(), a.value()),
                        a.value_two().unwrap_or(0),
                    ),
                    op => ScmpArgCompare::new(a.index() as u32, scmp_op(op, 0), a.value()),
                })
                .collect();
            let repeated = (0..6).any(|i| args.iter().filter(|a| a.index() == i).count() > 1);
            if conds.is_empty() {
                f.add_rule(action, nr).expect("rule");
            } else if repeated {
                for c in &conds {
                    f.add_rule_conditional(action, nr, &[*c]).expect("rule");
                }
            } else {
                f.add_rule_conditional(action, nr, &conds).expect("rule");
            }
        }
    }
    out.set_len(0).unwrap();
    out.seek(SeekFrom::Start(0)).unwrap();
    f.export_bpf(&*out).expect("seccomp_export_bpf");
    out.seek(SeekFrom::Start(0)).unwrap();
    let mut raw = Vec::new();
    out.read_to_end(&mut raw).unwrap();
    raw.chunks(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// The filter's return for a call with all arguments zero, and the instructions it ran.
fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> (u32, usize) {
    let d = berth::seccomp::interp::Data {
        nr,
        arch,
        ..Default::default()
    };
    berth::seccomp::interp::run(prog, &d).expect("a valid program")
}

/// Median and minimum of `n` timed runs of `f`, in microseconds.
fn time(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(t[n / 2]), us(t[0]))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("iterations"))
        .unwrap_or(200);
    let json = std::fs::read(PROFILE).expect(PROFILE);
    let mut memfd = tempfile::tempfile().expect("temporary file");

    let ours = berth::seccomp::compile_json(&json).expect("berth").filter;
    let theirs = libseccomp_compile(&json, &mut memfd);

    // Warm up, then measure.
    for _ in 0..10 {
        std::hint::black_box(berth::seccomp::compile_json(&json).unwrap());
        std::hint::black_box(libseccomp_compile(&json, &mut memfd));
    }
    let (b_med, b_min) = time(n * 10, || {
        std::hint::black_box(berth::seccomp::compile_json(std::hint::black_box(&json)).unwrap());
    });
    let (p_med, p_min) = time(n * 10, || {
        let s: LinuxSeccomp = serde_json::from_slice(std::hint::black_box(&json)).unwrap();
        std::hint::black_box(s);
    });
    let (l_med, l_min) = time(n, || {
        std::hint::black_box(libseccomp_compile(std::hint::black_box(&json), &mut memfd));
    });

    println!(
        "Docker's default profile ({} bytes), x86_64 + x86 + x32, JSON to BPF:",
        json.len()
    );
    println!(
        "{:<28}{:>12}{:>12}{:>14}",
        "", "median µs", "min µs", "instructions"
    );
    println!(
        "{:<28}{:>12.1}{:>12.1}{:>14}",
        "berth",
        b_med,
        b_min,
        ours.len()
    );
    println!(
        "{:<28}{:>12.1}{:>12.1}",
        "  of which the JSON parse", p_med, p_min
    );
    println!(
        "{:<28}{:>12.1}{:>12.1}{:>14}",
        "libseccomp (runc's way)",
        l_med,
        l_min,
        theirs.len()
    );
    println!(
        "berth / libseccomp: {:.3} of the median time, {:.3} of the length",
        b_med / l_med,
        ours.len() as f64 / theirs.len() as f64
    );
    println!();
    println!("instructions run for a native call (arguments zero):");
    println!("{:<10}{:>8}{:>12}", "syscall", "berth", "libseccomp");
    let arch = berth::seccomp::Arch::X86_64;
    for name in [
        "read",
        "write",
        "futex",
        "openat",
        "execve",
        "clone",
        "personality",
    ] {
        let nr = arch.syscall(name).expect(name);
        let (rb, sb) = run(&ours, arch.audit(), nr);
        let (rl, sl) = run(&theirs, arch.audit(), nr);
        assert_eq!(rb, rl, "{name}: the two programs disagree");
        println!("{name:<10}{sb:>8}{sl:>12}");
    }
}
