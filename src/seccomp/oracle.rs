//! Differential tests: berth's program against libseccomp's for the same profile.
//!
//! libseccomp's filter is built as runc builds it (libcontainer/seccomp/seccomp_linux.go,
//! InitSeccomp and matchCall), and both programs run in the test interpreter over the same
//! seccomp_data: every syscall number of every ABI, argument values at and around each
//! condition's edges, random ones. Every input must get the same return value (action and
//! errno) from both. Profiles: Docker's default, hand-written ones for each action, operator
//! and ABI corner, and seeded random ones (a failure prints the seed, the profile, a
//! minimized profile, the inputs, both answers and the rules for that syscall).
//!
//! Where the two legitimately differ, each difference has a test of its own that asserts
//! both answers, and the comparison is narrowed only there:
//! - the order of conditional rules with different actions on one syscall (berth: profile
//!   order; libseccomp: its own sort, or EEXIST): random profiles avoid it, see `Limits`;
//! - libseccomp bugs: wrong BPF for range tests of one argument in several rules (avoided,
//!   see `Limits`); a lost syscall-number load at optimize level 1 (compared at level 2);
//! - by design: x32 arguments are compared over 64 bits by berth, over 32 by libseccomp
//!   (compared against libseccomp's x86_64 answer where that matters); errno 4095 (refused
//!   by libseccomp, not generated).
//!
//! Names libseccomp 2.5 does not know are removed from a profile before both compile it
//! (runc skips them; berth's newer tables would not). The ignored tests are tools:
//! `unrestricted_random_profiles` lists the classes of difference without the restrictions,
//! `profile_file_matches_libseccomp` checks any profile, `dump_programs` prints both programs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch as SpecArch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompOperator as O,
};
use serde_json::{json, Value};

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::interp::{self, Data};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// xorshift64*: deterministic, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len())]
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

// ---------------------------------------------------------------------------------------------
// libseccomp, the way runc drives it

fn scmp_action(a: A, errno_ret: Option<u32>) -> ScmpAction {
    // runc: ActErrno/ActTrace .SetReturnCode(int16(errnoRet)), EPERM when unset.
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

fn scmp_arch(a: SpecArch) -> ScmpArch {
    match a {
        SpecArch::ScmpArchX86_64 => ScmpArch::X8664,
        SpecArch::ScmpArchX86 => ScmpArch::X86,
        SpecArch::ScmpArchX32 => ScmpArch::X32,
        SpecArch::ScmpArchNative => ScmpArch::Native,
        a => panic!("the oracle covers the x86 ABIs only, not {a:?}"),
    }
}

fn scmp_cond(index: usize, op: O, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
    let op = match op {
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        // runc: MakeCondition(index, op, value, valueTwo): value is the mask.
        O::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index as u32,
                ScmpCompareOp::MaskedEqual(value),
                value_two.unwrap_or(0),
            )
        }
    };
    ScmpArgCompare::new(index as u32, op, value)
}

/// The filter runc would load for `s` (less patchbpf's ENOSYS stub for syscalls newer than
/// libseccomp, which runc prepends and which is not libseccomp's). Err when libseccomp
/// refuses a rule, as runc's create then fails.
fn runc_filter(s: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    let e = |what: &str, err: libseccomp::error::SeccompError| format!("{what}: {err}");
    let default = scmp_action(s.default_action(), s.default_errno_ret());
    let mut f = ScmpFilterContext::new(default).map_err(|x| e("new filter", x))?;
    for a in s.architectures().iter().flatten() {
        let a = scmp_arch(*a);
        // libseccomp-golang's AddArch ignores EEXIST (the native arch is always there).
        if !f.is_arch_present(a).map_err(|x| e("arch", x))? {
            f.add_arch(a).map_err(|x| e("add arch", x))?;
        }
    }
    // runc: one configs.Syscall per name; SetOptimize(2) when there are more than 32.
    let calls: usize = s.syscalls().iter().flatten().map(|c| c.names().len()).sum();
    if calls > 32 {
        f.set_ctl_optimize(2).map_err(|x| e("optimize", x))?;
    }
    f.set_ctl_nnp(false).map_err(|x| e("nnp", x))?;
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let action = scmp_action(call.action(), call.errno_ret());
        for name in call.names() {
            // libseccomp refuses a rule whose action is the default one.
            if action == default {
                continue;
            }
            // Unknown to this libseccomp: runc logs it and goes on.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = call.args().clone().unwrap_or_default();
            let conds: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| scmp_cond(a.index(), a.op(), a.value(), a.value_two()))
                .collect();
            let r = if conds.is_empty() {
                f.add_rule(action, nr)
            } else if (0..6).any(|x| args.iter().filter(|a| a.index() == x).count() > 1) {
                // runc: one rule per condition when an argument is named twice.
                conds
                    .iter()
                    .try_for_each(|c| f.add_rule_conditional(action, nr, &[*c]).map(|_| ()))
                    .map(|_| &mut f)
            } else {
                f.add_rule_conditional(action, nr, &conds)
            };
            r.map_err(|x| e(&format!("syscalls[{i}] {name}"), x))?;
        }
    }
    Ok(f)
}

/// Whether a call of the ABI with AUDIT_ARCH `arch` through a libseccomp program ever loads
/// the syscall number.
fn loads_nr(prog: &[libc::sock_filter], arch: u32) -> bool {
    // A path walk for one input of that arch: until it loads the number, A holds the arch
    // (or an argument word, never reached here), all the program can branch on.
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = prog[pc];
        let code = u32::from(i.code);
        pc += 1;
        match code & 0x07 {
            libc::BPF_LD if i.k == 0 => return true,
            libc::BPF_LD if i.k == 4 => a = arch,
            libc::BPF_LD => a = 0,
            libc::BPF_ALU => a &= i.k,
            libc::BPF_RET => return false,
            libc::BPF_JMP if code & 0xf0 == libc::BPF_JA => pc += i.k as usize,
            libc::BPF_JMP => {
                let taken = match code & 0xf0 {
                    libc::BPF_JEQ => a == i.k,
                    libc::BPF_JGT => a > i.k,
                    libc::BPF_JGE => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            _ => panic!(
                "unexpected instruction {:#x} in libseccomp's program",
                i.code
            ),
        }
    }
}

/// A libseccomp filter as raw BPF (export_bpf_mem needs libseccomp 2.6; Debian 12 has 2.5.4).
fn export(f: &ScmpFilterContext) -> Vec<libc::sock_filter> {
    let mut file = tempfile::tempfile().expect("temporary file");
    f.export_bpf(&file).expect("export_bpf");
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).unwrap();
    assert_eq!(raw.len() % 8, 0, "a BPF program is whole instructions");
    raw.chunks(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// Drops the names this libseccomp does not know (runc skips them; berth's newer tables would
/// not), and entries left without names.
fn known_to_libseccomp(profile: &Value) -> Value {
    let mut p = profile.clone();
    if let Some(calls) = p.get_mut("syscalls").and_then(Value::as_array_mut) {
        for c in calls.iter_mut() {
            if let Some(names) = c.get_mut("names").and_then(Value::as_array_mut) {
                names.retain(|n| ScmpSyscall::from_name(n.as_str().unwrap_or("")).is_ok());
            }
        }
        calls.retain(|c| c["names"].as_array().is_some_and(|n| !n.is_empty()));
    }
    p
}

/// The ABIs berth's filter dispatches on, and where an input's syscall number belongs.
fn abi_of(arch: u32, nr: u32) -> Option<Arch> {
    match arch {
        AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Some(Arch::X32),
        AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
        AUDIT_ARCH_I386 => Some(Arch::X86),
        _ => None,
    }
}

fn scmp_abi(a: Arch) -> ScmpArch {
    match a {
        Arch::X86_64 => ScmpArch::X8664,
        Arch::X86 => ScmpArch::X86,
        Arch::X32 => ScmpArch::X32,
    }
}

/// One condition as written in the profile.
#[derive(Clone, Copy, Debug)]
struct SpecCond {
    index: usize,
    op: O,
    value: u64,
    value_two: u64,
}

/// The profile's entries by the (ABI, syscall number) they may decide, by berth's tables, by
/// libseccomp's, and through i386's socketcall/ipc.
fn entries_by_syscall(s: &LinuxSeccomp) -> BTreeMap<(u32, u32), BTreeSet<usize>> {
    let mut m: BTreeMap<(u32, u32), BTreeSet<usize>> = BTreeMap::new();
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        for name in call.names() {
            for abi in [Arch::X86_64, Arch::X86, Arch::X32] {
                let key = |nr: u32| (abi.audit(), nr);
                if let Some(nr) = abi.syscall(name) {
                    m.entry(key(nr)).or_default().insert(i);
                }
                if let Ok(nr) = ScmpSyscall::from_name_by_arch(name, scmp_abi(abi)) {
                    let nr = i32::from(nr);
                    if nr >= 0 {
                        m.entry(key(nr as u32)).or_default().insert(i);
                    }
                }
                if let Some((mux, _)) = abi.multiplexed(name) {
                    m.entry(key(mux)).or_default().insert(i);
                }
            }
        }
    }
    m
}

fn conds_of(s: &LinuxSeccomp, entry: usize) -> Vec<SpecCond> {
    s.syscalls().as_ref().unwrap()[entry]
        .args()
        .iter()
        .flatten()
        .map(|a| SpecCond {
            index: a.index(),
            op: a.op(),
            value: a.value(),
            value_two: a.value_two().unwrap_or(0),
        })
        .collect()
}

/// Values at and around the edge of one condition.
fn edges(c: &SpecCond) -> Vec<u64> {
    const HI: u64 = 1 << 32;
    let mut v = Vec::new();
    match c.op {
        O::ScmpCmpMaskedEq => {
            let (m, w) = (c.value, c.value_two);
            let hit = w & m;
            v.extend([w, hit, hit | !m, m, !0, 0]);
            if m != 0 {
                let low = m & m.wrapping_neg();
                let high = 1u64 << (63 - m.leading_zeros());
                v.extend([hit ^ low, hit ^ high, (hit | !m) ^ low]);
            }
            if m >> 32 != 0 {
                let low_hi = (m >> 32) & (m >> 32).wrapping_neg();
                v.push(hit ^ (low_hi << 32));
            }
        }
        _ => {
            let x = c.value;
            let lo = x & 0xffff_ffff;
            v.extend([
                x,
                x.wrapping_sub(1),
                x.wrapping_add(1),
                x ^ HI,
                x.wrapping_add(HI),
                x.wrapping_sub(HI),
                lo,
                lo | 0xffff_ffff_0000_0000,
                (x & !0xffff_ffff) | (lo + 1) & 0xffff_ffff,
                (x & !0xffff_ffff) | lo.wrapping_sub(1) & 0xffff_ffff,
                !x,
            ]);
        }
    }
    v
}

/// Argument vectors for one syscall: zeros, each edge alone, and random mixes of edges.
fn arg_vectors(rng: &mut Rng, conds: &[SpecCond], narrow: bool, out: &mut Vec<[u64; 6]>) {
    let fit = |x: u64| if narrow { x & 0xffff_ffff } else { x };
    let random = |rng: &mut Rng| match rng.below(4) {
        0 => rng.next() & 0xff,
        1 => rng.next() & 0xffff_ffff,
        _ => rng.next(),
    };
    out.push([0; 6]);
    if conds.is_empty() {
        let mut a = [0; 6];
        a.iter_mut().for_each(|x| *x = fit(random(rng)));
        out.push(a);
        return;
    }
    let mut pool: [Vec<u64>; 6] = Default::default();
    for c in conds {
        pool[c.index].extend(edges(c));
    }
    for p in pool.iter_mut() {
        p.iter_mut().for_each(|x| *x = fit(*x));
        p.push(0);
        p.sort_unstable();
        p.dedup();
    }
    for (i, p) in pool.iter().enumerate() {
        for &x in p {
            let mut a = [0; 6];
            a[i] = x;
            out.push(a);
        }
    }
    let mixes = 8 + 4 * pool.iter().map(Vec::len).sum::<usize>();
    for _ in 0..mixes {
        let mut a = [0; 6];
        for (i, p) in pool.iter().enumerate() {
            a[i] = if p.len() > 1 && !rng.one_in(8) {
                *rng.pick(p)
            } else {
                fit(random(rng))
            };
        }
        out.push(a);
    }
}

/// Which syscall numbers to try.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Every number of every table and past them.
    Full,
    /// The numbers the profile names, their neighbours and a random sample.
    Sample,
}

fn syscall_numbers(
    rng: &mut Rng,
    arch: u32,
    named: &BTreeMap<(u32, u32), BTreeSet<usize>>,
    sweep: Sweep,
) -> Vec<u32> {
    let mut n = BTreeSet::new();
    n.extend([0, u32::MAX, u32::MAX - 1, 0x7fff_ffff, 0x8000_0000, 1000]);
    n.extend((0..4).map(|_| rng.next() as u32));
    if arch == AUDIT_ARCH_AARCH64 {
        n.extend(0..=20);
        return n.into_iter().collect();
    }
    let x32 = arch == AUDIT_ARCH_X86_64;
    if x32 {
        n.extend([X32_SYSCALL_BIT - 1, X32_SYSCALL_BIT, X32_SYSCALL_BIT + 1]);
    }
    match sweep {
        Sweep::Full => {
            n.extend(0..=520);
            if x32 {
                n.extend((0..=550).map(|x| X32_SYSCALL_BIT | x));
            }
        }
        Sweep::Sample => {
            for (&(a, nr), _) in named.range((arch, 0)..=(arch, u32::MAX)) {
                debug_assert_eq!(a, arch);
                n.extend([nr.saturating_sub(1), nr, nr.saturating_add(1)]);
            }
            n.extend((0..24).map(|_| rng.below(521) as u32));
            if x32 {
                n.extend((0..24).map(|_| X32_SYSCALL_BIT | rng.below(551) as u32));
            }
        }
    }
    n.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// The comparison

/// Why a profile did not pass.
#[derive(Debug)]
enum Failure {
    /// libseccomp refused a rule: runc's create would fail.
    Refused(String),
    /// The programs disagree on some inputs.
    Differ { report: String },
    /// berth refused the profile, or a program broke in the interpreter.
    Broken(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Failure::Refused(m) => write!(f, "libseccomp refused it: {m}"),
            Failure::Differ { report, .. } => f.write_str(report),
            Failure::Broken(m) => f.write_str(m),
        }
    }
}

struct Outcome {
    inputs: usize,
    /// x32 inputs with no x86_64 syscall of the same name to take libseccomp's answer from.
    skipped: usize,
    /// libseccomp's program lost a syscall-number load; compared at optimize 2.
    load_fixed: bool,
    berth_len: usize,
    libseccomp_len: usize,
}

fn describe_ret(r: u32) -> String {
    let data = r & libc::SECCOMP_RET_DATA;
    match r & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_KILL_PROCESS => "KILL_PROCESS".into(),
        libc::SECCOMP_RET_KILL_THREAD => "KILL_THREAD".into(),
        libc::SECCOMP_RET_TRAP => "TRAP".into(),
        libc::SECCOMP_RET_ERRNO => format!("ERRNO({data})"),
        libc::SECCOMP_RET_USER_NOTIF => "NOTIFY".into(),
        libc::SECCOMP_RET_TRACE => format!("TRACE({data})"),
        libc::SECCOMP_RET_LOG => "LOG".into(),
        libc::SECCOMP_RET_ALLOW => "ALLOW".into(),
        _ => format!("{r:#x}"),
    }
}

/// The x86_64 number of the syscall an x32 number names, by libseccomp's tables.
fn x86_64_twin(nr: u32) -> Option<u32> {
    let name = ScmpSyscall::from(nr as i32)
        .get_name_by_arch(ScmpArch::X32)
        .ok()?;
    let n = i32::from(ScmpSyscall::from_name_by_arch(&name, ScmpArch::X8664).ok()?);
    u32::try_from(n).ok()
}

fn syscall_names(arch: u32, nr: u32) -> String {
    let Some(abi) = abi_of(arch, nr) else {
        return String::new();
    };
    let theirs = ScmpSyscall::from(nr as i32)
        .get_name_by_arch(scmp_abi(abi))
        .unwrap_or_default();
    let table = match abi {
        Arch::X86_64 => super::syscalls::X86_64,
        Arch::X86 => super::syscalls::X86,
        Arch::X32 => super::syscalls::X32,
    };
    let ours: Vec<&str> = table
        .iter()
        .filter(|(_, n)| *n == nr)
        .map(|(s, _)| *s)
        .collect();
    format!("{abi:?} berth {ours:?}, libseccomp {theirs:?}")
}

/// Compiles `profile` (an OCI linux.seccomp object) both ways and compares the two programs
/// over the inputs; Err describes every mismatch (the first few in full).
fn compare(profile: &Value, rng: &mut Rng, sweep: Sweep) -> Result<Outcome, Failure> {
    let profile = known_to_libseccomp(profile);
    let text = serde_json::to_string(&profile).unwrap();
    let spec: LinuxSeccomp = serde_json::from_value(profile.clone())
        .map_err(|e| Failure::Broken(format!("bad profile: {e}\n{text}")))?;
    let ours = super::compile_json(text.as_bytes())
        .map_err(|e| Failure::Broken(format!("berth refused the profile: {e}\n{text}")))?
        .filter;
    let mut filter = runc_filter(&spec).map_err(|e| Failure::Refused(format!("{e}\n{text}")))?;
    let mut theirs = export(&filter);
    // LIBSECCOMP BUG (2.5.4, the code is unchanged in 2.6): at optimize level 1 a section
    // that is not x86_64 alone (i386; x86_64 with x32) has its syscall number loaded by its
    // first rule block, and when that block is a pseudo-syscall (a name the ABI lacks, e.g.
    // _llseek on x86_64, or semop, which i386 only has through ipc(2)) it is skipped and the
    // load with it: the section compares the arch value against syscall numbers and every
    // call of the ABI gets the default action. See `libseccomp_loses_the_syscall_number`.
    // Compare against the same rules at optimize level 2 (a binary tree, which loads the
    // number itself) instead.
    let listed = |a| spec.architectures().iter().flatten().any(|x| *x == a);
    let load_fixed = (listed(SpecArch::ScmpArchX86) && !loads_nr(&theirs, AUDIT_ARCH_I386))
        || (listed(SpecArch::ScmpArchX32) && !loads_nr(&theirs, AUDIT_ARCH_X86_64));
    if load_fixed {
        filter.set_ctl_optimize(2).unwrap();
        theirs = export(&filter);
    }
    let named = entries_by_syscall(&spec);
    let mut report = String::new();
    let mut mismatches = 0;
    let mut inputs = 0;
    let mut skipped = 0;
    let mut vectors = Vec::new();
    let x32_listed = listed(SpecArch::ScmpArchX32);
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64] {
        for nr in syscall_numbers(rng, arch, &named, sweep) {
            let entries = named.get(&(arch, nr));
            let conds: Vec<SpecCond> = entries
                .iter()
                .flat_map(|e| e.iter())
                .flat_map(|&e| conds_of(&spec, e))
                .collect();
            // The kernel zero-extends a 32-bit task's arguments.
            let narrow = arch == AUDIT_ARCH_I386;
            vectors.clear();
            arg_vectors(rng, &conds, narrow, &mut vectors);
            for args in &vectors {
                let d = Data {
                    nr,
                    arch,
                    ip: 0,
                    args: *args,
                };
                inputs += 1;
                let a = interp::run(&ours, &d)
                    .map_err(|e| Failure::Broken(format!("berth's program: {e}\n{text}")))?;
                // x32: libseccomp compares only the low words (it counts x32 as a 32-bit ABI);
                // the kernel hands the filter full 64-bit registers, and berth compares them
                // as on x86_64. Where the two readings can differ (a high word in the
                // argument or in a condition, or a mask with only high bits, which libseccomp
                // drops, making its rule unconditional), the answer must be libseccomp's for
                // the same syscall on x86_64; elsewhere, its x32 answer.
                let wide = |x: u64| x >> 32 != 0;
                let x32_wide = abi_of(arch, nr) == Some(Arch::X32)
                    && x32_listed
                    && (args.iter().any(|&x| wide(x))
                        || conds.iter().any(|c| match c.op {
                            O::ScmpCmpMaskedEq => {
                                wide(c.value & c.value_two)
                                    || (wide(c.value) && c.value as u32 == 0)
                            }
                            _ => wide(c.value),
                        }));
                let d_theirs = if x32_wide {
                    match x86_64_twin(nr) {
                        Some(nr) => Data { nr, ..d },
                        None => {
                            skipped += 1;
                            continue;
                        }
                    }
                } else {
                    d
                };
                let b = interp::run(&theirs, &d_theirs)
                    .map_err(|e| Failure::Broken(format!("libseccomp's program: {e}\n{text}")))?;
                if arch == AUDIT_ARCH_AARCH64 && a.0 != libc::SECCOMP_RET_KILL_THREAD {
                    return Err(Failure::Broken(format!(
                        "berth let a foreign ABI through: {d:?}\n{text}"
                    )));
                }
                if a.0 == b.0 {
                    continue;
                }
                mismatches += 1;
                if mismatches > 5 {
                    continue;
                }
                let _ = writeln!(
                    report,
                    "\nMISMATCH arch {arch:#x} nr {nr:#x} ({}) args {:x?}\n  berth: {}   \
                     libseccomp: {}{}",
                    syscall_names(arch, nr),
                    args,
                    describe_ret(a.0),
                    describe_ret(b.0),
                    if x32_wide {
                        " (its x86_64 program)"
                    } else {
                        ""
                    }
                );
                for &e in entries.iter().flat_map(|e| e.iter()) {
                    let _ = writeln!(report, "  rule syscalls[{e}]: {}", profile["syscalls"][e]);
                }
            }
        }
    }
    if mismatches > 0 {
        let head = format!(
            "{mismatches} of {inputs} inputs differ; profile (names libseccomp 2.5 lacks \
             removed):\n{text}\n"
        );
        return Err(Failure::Differ {
            report: head + &report,
        });
    }
    Ok(Outcome {
        inputs,
        skipped,
        load_fixed,
        berth_len: ours.len(),
        libseccomp_len: theirs.len(),
    })
}

/// A smaller profile that still fails `still`: entries, names, conditions and architectures
/// are dropped one at a time while it keeps failing (for a readable report).
fn minimize(profile: &Value, still: impl Fn(&Value) -> bool) -> Value {
    let mut best = known_to_libseccomp(profile);
    loop {
        let mut tries = Vec::new();
        let calls = best["syscalls"].as_array().cloned().unwrap_or_default();
        for i in 0..calls.len() {
            let mut p = best.clone();
            p["syscalls"].as_array_mut().unwrap().remove(i);
            tries.push(p);
            for j in 0..calls[i]["names"].as_array().map_or(0, Vec::len) {
                if calls[i]["names"].as_array().unwrap().len() > 1 {
                    let mut p = best.clone();
                    p["syscalls"][i]["names"].as_array_mut().unwrap().remove(j);
                    tries.push(p);
                }
            }
            for j in 0..calls[i]["args"].as_array().map_or(0, Vec::len) {
                let mut p = best.clone();
                p["syscalls"][i]["args"].as_array_mut().unwrap().remove(j);
                tries.push(p);
            }
        }
        for j in 0..best["architectures"].as_array().map_or(0, Vec::len) {
            let mut p = best.clone();
            p["architectures"].as_array_mut().unwrap().remove(j);
            tries.push(p);
        }
        match tries.into_iter().find(|p| still(p)) {
            Some(p) => best = p,
            None => return best,
        }
    }
}

fn still_differs(p: &Value) -> bool {
    matches!(
        compare(p, &mut Rng::new(7), Sweep::Sample),
        Err(Failure::Differ { .. })
    )
}

// ---------------------------------------------------------------------------------------------
// Random profiles

/// Names libseccomp 2.5.4 and berth both know, on x86_64 (most on i386 and x32 too).
const POOL: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "fstat",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "ioctl",
    "pread64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "mremap",
    "madvise",
    "dup",
    "dup2",
    "nanosleep",
    "getpid",
    "sendfile",
    "socket",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "clone",
    "fork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "fcntl",
    "flock",
    "openat",
    "futex",
    "personality",
    "prctl",
    "arch_prctl",
    "accept4",
    "recvmmsg",
    "sendmmsg",
    "semop",
    "semget",
    "shmat",
    "msgrcv",
    "_llseek",
    "socketcall",
    "ipc",
    "mount",
    "unshare",
    "clone3",
    "pidfd_open",
];

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_NOTIFY",
];

const OPS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

fn random_value(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 | 1 => rng.below(16) as u64,
        2 => (1u64 << 32)
            .wrapping_add(rng.below(5) as u64)
            .wrapping_sub(2),
        3 => 1 << rng.below(64),
        4 => 0xffff_ffff_0000_0000 | rng.below(16) as u64,
        5 => rng.next() & 0xffff_ffff,
        _ => rng.next(),
    }
}

fn random_mask(rng: &mut Rng) -> u64 {
    let (r1, r2) = (rng.next(), rng.next());
    *rng.pick(&[
        0,
        0xff,
        0xffff_ffff,
        0xffff_ffff_0000_0000,
        0xf_0000_000f,
        0x7e02_0000,
        u64::MAX,
        1 << 40,
        r1,
        r2 & 0xffff_0000_ffff,
    ])
}

fn random_action(rng: &mut Rng, o: &mut serde_json::Map<String, Value>, key: &str, errno: &str) {
    let a = *rng.pick(ACTIONS);
    o.insert(key.into(), json!(a));
    // libseccomp 2.5 refuses an errno of MAX_ERRNO (4095) or more (the kernel caps it at 4095), so
    // runc fails such a profile: ERRNO data stays within it here. TRACE's may be any u16.
    let data: &[u32] = match a {
        "SCMP_ACT_ERRNO" => &[0, 1, 13, 38, 4094],
        "SCMP_ACT_TRACE" => &[0, 1, 38, 4095, 32767, 65535],
        _ => return,
    };
    if !rng.one_in(3) {
        o.insert(errno.into(), json!(*rng.pick(data)));
    }
}

/// An action as the filter returns it, for comparing rules' actions.
fn action_key(o: &serde_json::Map<String, Value>, key: &str, errno: &str) -> ScmpAction {
    let a: A = serde_json::from_value(o[key].clone()).unwrap();
    let e = o.get(errno).and_then(Value::as_u64).map(|e| e as u32);
    scmp_action(a, e)
}

/// The syscall whose rule list a name's rules join: on i386 a socket call's rules also go to
/// socketcall(2), a SysV IPC call's to ipc(2).
fn rule_list(name: &str) -> &str {
    match Arch::X86.multiplexed(name) {
        Some((102, _)) => "socketcall",
        Some((117, _)) => "ipc",
        _ => name,
    }
}

/// The restrictions on random profiles: where libseccomp 2.5.4 cannot serve as the oracle.
///
/// 1. Conditional rules with different actions on one syscall. berth tries a syscall's rules
///    in profile order, the first match deciding; libseccomp merges them into one decision
///    tree sorted by its own keys (argument, operator, value) whatever the order, and refuses
///    some combinations (EEXIST), which fails runc's create. See
///    `libseccomp_orders_conditional_rules_its_own_way`. So every conditional rule of one
///    syscall has the same action here (a rule with the default action is dropped by both, and
///    the first unconditional rule wins in both, so those are free).
/// 2. One argument tested by several rules of a syscall with LT/LE/GT/GE/NE. libseccomp
///    2.5.4 generates wrong BPF for some of these (it drops an accumulator reload when it
///    backtracks from one rule's low-word test to the next rule's high-word test); see
///    `libseccomp_mishandles_ranges_on_one_argument`. So an argument tested by such an
///    operator is tested by no other rule of that syscall (EQ and MASKED_EQ may repeat).
///
/// On i386 a socket or IPC call's rules are rules of socketcall(2) or ipc(2) conditional on
/// the call number in argument 0, even without args: they count as that syscall's.
struct Limits {
    default: ScmpAction,
    /// By rule list: the action of its conditional rules, and per argument a bit set
    /// (1: tested, 2: tested with a range or NE).
    lists: BTreeMap<String, (Option<ScmpAction>, [u8; 6])>,
    /// Whether restriction 1 applies (restriction 2 always does).
    one_action: bool,
}

impl Limits {
    /// Whether a rule for `name` with `args` and `action` keeps the profile within the
    /// restrictions; if so it is recorded.
    fn admit(&mut self, name: &str, args: &[Value], action: ScmpAction) -> bool {
        let list = rule_list(name);
        let muxed = list != name;
        if action == self.default || (args.is_empty() && !muxed) {
            return true;
        }
        let conds: Vec<(usize, bool)> = args
            .iter()
            .map(|a| {
                let op = a["op"].as_str().unwrap();
                let ranged = !matches!(op, "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ");
                (a["index"].as_u64().unwrap() as usize, ranged)
            })
            .collect();
        // runc's split: a rule naming an argument twice is one rule per condition.
        let repeated = (0..6).any(|i| conds.iter().filter(|c| c.0 == i).count() > 1);
        let mut units: Vec<Vec<(usize, bool)>> = if repeated {
            conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![conds]
        };
        if muxed {
            for u in units.iter_mut() {
                u.push((0, false));
            }
        }
        let (had, mut tested) = self.lists.get(list).copied().unwrap_or_default();
        if self.one_action && had.is_some_and(|a| a != action) {
            return false;
        }
        for u in &units {
            for &(i, ranged) in u {
                if tested[i] & 1 != 0 && (ranged || tested[i] & 2 != 0) {
                    return false;
                }
            }
            for &(i, ranged) in u {
                tested[i] |= 1 | if ranged { 2 } else { 0 };
            }
        }
        self.lists.insert(list.to_string(), (Some(action), tested));
        true
    }
}

fn random_profile(rng: &mut Rng, restrict: bool) -> Value {
    let mut p = serde_json::Map::new();
    loop {
        random_action(rng, &mut p, "defaultAction", "defaultErrnoRet");
        if p["defaultAction"] != "SCMP_ACT_NOTIFY" {
            break;
        }
        p.remove("defaultErrnoRet");
    }
    let arches: Vec<&str> = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        .into_iter()
        .filter(|_| !rng.one_in(3))
        .collect();
    p.insert("architectures".into(), json!(arches));
    let mut limits = Limits {
        default: action_key(&p, "defaultAction", "defaultErrnoRet"),
        lists: BTreeMap::new(),
        one_action: true,
    };
    let mut calls = Vec::new();
    let mut notify = false;
    // 1 to 40 entries; now and then 0 to 2, where an ABI's section is easily empty.
    let entries = if rng.one_in(8) {
        rng.below(3)
    } else {
        1 + rng.below(40)
    };
    for _ in 0..entries {
        let mut c = serde_json::Map::new();
        random_action(rng, &mut c, "action", "errnoRet");
        let mut names: Vec<&str> = (0..1 + rng.below(4)).map(|_| *rng.pick(POOL)).collect();
        if c["action"] == "SCMP_ACT_NOTIFY" {
            // berth and runc both refuse NOTIFY for write (it hands the listener over).
            names.retain(|n| *n != "write");
            if names.is_empty() {
                names.push("read");
            }
            notify = true;
        }
        c.insert("names".into(), json!(names));
        let mut args = Vec::new();
        for _ in 0..rng.below(4) {
            let index = if rng.one_in(4) {
                rng.below(6)
            } else {
                rng.below(3)
            };
            let op = *rng.pick(OPS);
            let a = if op == "SCMP_CMP_MASKED_EQ" {
                let mask = random_mask(rng);
                let v = if rng.one_in(4) {
                    random_value(rng)
                } else {
                    random_value(rng) & mask
                };
                json!({"index": index, "op": op, "value": mask, "valueTwo": v})
            } else {
                json!({"index": index, "op": op, "value": random_value(rng)})
            };
            args.push(a);
        }
        if restrict {
            let action = action_key(&c, "action", "errnoRet");
            names.retain(|n| limits.admit(n, &args, action));
            if names.is_empty() {
                continue;
            }
            c.insert("names".into(), json!(names));
        }
        if !args.is_empty() {
            c.insert("args".into(), json!(args));
        }
        calls.push(Value::Object(c));
    }
    p.insert("syscalls".into(), json!(calls));
    if notify {
        p.insert("listenerPath".into(), json!("/run/berth-test/notify.sock"));
    }
    Value::Object(p)
}

// ---------------------------------------------------------------------------------------------
// Tests

fn docker_default() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/integration/data/seccomp/docker-default.oci.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect(path)).expect(path)
}

/// Runs `compare` and panics with the report, and a minimized profile when they differ.
fn must_agree(label: &str, profile: &Value, rng: &mut Rng, sweep: Sweep) -> Outcome {
    match compare(profile, rng, sweep) {
        Ok(o) => o,
        Err(e @ Failure::Differ { .. }) => {
            let min = minimize(profile, still_differs);
            panic!("{label}: berth and libseccomp differ\nminimized profile: {min}\n{e}")
        }
        Err(e) => panic!("{label}: {e}"),
    }
}

#[test]
fn docker_default_profile_matches_libseccomp() {
    let o = must_agree(
        "docker-default",
        &docker_default(),
        &mut Rng::new(1),
        Sweep::Full,
    );
    eprintln!(
        "docker-default: {} inputs agree ({} x32 inputs without an x86_64 twin skipped)",
        o.inputs, o.skipped
    );
    assert!(!o.load_fixed);
}

#[test]
fn docker_default_program_is_not_longer_than_libseccomps() {
    // runc's filter for Docker's profile: more than 32 syscalls, so optimize level 2.
    let o = must_agree(
        "docker-default",
        &docker_default(),
        &mut Rng::new(2),
        Sweep::Sample,
    );
    eprintln!(
        "docker-default program: berth {} instructions, libseccomp (optimize 2) {}",
        o.berth_len, o.libseccomp_len
    );
    assert!(o.berth_len <= o.libseccomp_len);
}

/// Profiles written to cover each action, each operator and the ABI corners.
fn hand_written() -> Vec<(&'static str, Value)> {
    let arches = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let c = |i: u32, op: &str, v: u64| json!({"index": i, "op": op, "value": v});
    let m = |i: u32, mask: u64, v: u64| json!({"index": i, "op": "SCMP_CMP_MASKED_EQ", "value": mask, "valueTwo": v});
    vec![
        (
            "every action, unconditional",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches,
                "listenerPath": "/run/notify.sock", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["write"], "action": "SCMP_ACT_LOG"},
                {"names": ["open", "openat"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["close"], "action": "SCMP_ACT_TRAP"},
                {"names": ["fstat"], "action": "SCMP_ACT_KILL"},
                {"names": ["lseek"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["mmap"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["mprotect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["munmap"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
                {"names": ["brk"], "action": "SCMP_ACT_TRACE"},
                {"names": ["ioctl"], "action": "SCMP_ACT_TRACE", "errnoRet": 65535},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4094},
                {"names": ["read"], "action": "SCMP_ACT_KILL"},
            ]}),
        ),
        (
            "every action as the default, one rule each",
            json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7, "architectures": arches,
                "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
        ),
        (
            "kill-process default, x86_64 only",
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
                "syscalls": [{"names": ["getpid", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}),
        ),
        (
            "every operator, small and wide values",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [c(0, "SCMP_CMP_EQ", 3)]},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO", "args": [c(0, "SCMP_CMP_NE", 1)]},
                {"names": ["pread64"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 4096)]},
                {"names": ["pwrite64"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LE", 4096)]},
                {"names": ["readv"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GT", 8)]},
                {"names": ["writev"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GE", 8)]},
                {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_EQ", 0x1_0000_0005)]},
                {"names": ["ftruncate"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_NE", 0xffff_ffff_0000_0000)]},
                {"names": ["fallocate"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 0x1_0000_0000)]},
                {"names": ["truncate"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_LE", 0x7fff_ffff_ffff_ffff)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_GT", 0xffff_ffff)]},
                {"names": ["mremap"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GE", 0x8000_0000_0000_0001)]},
                {"names": ["madvise"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GT", u64::MAX - 1)]},
                {"names": ["msync"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 1)]},
            ]}),
        ),
        (
            "MASKED_EQ masks across both words",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [m(0, 0x7e02_0000, 0)]},
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "args": [m(0, 0x1000_0000, 0x1000_0000)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xffff_0000_0000_00ff, 0x1234_0000_0000_0007)]},
                {"names": ["mprotect"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xffff_ffff_0000_0000, 0)]},
                {"names": ["madvise"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xf_0000_000f, 0x3_0000_0001)]},
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [m(1, u64::MAX, 0x5401)]},
                {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "args": [m(1, 0, 0)]},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [m(1, 0xff, 0x1ff)]},
            ]}),
        ),
        (
            "an allow-list with defaultErrnoRet",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": arches,
                "syscalls": [
                {"names": ["read", "write", "exit_group", "rt_sigreturn", "futex", "brk"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 0)]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 0xffff_ffff)]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 1), c(1, "SCMP_CMP_MASKED_EQ", 0xf)]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ]}),
        ),
        (
            "socket family on i386: socketcall forms, with and without args",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [c(0, "SCMP_CMP_EQ", 16), c(2, "SCMP_CMP_EQ", 9)]},
                {"names": ["connect", "accept", "sendmsg"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["bind"], "action": "SCMP_ACT_TRAP"},
                {"names": ["send", "recv"], "action": "SCMP_ACT_LOG"},
                {"names": ["recvmmsg", "sendmmsg", "accept4"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["setsockopt"], "action": "SCMP_ACT_ERRNO", "errnoRet": 92, "args": [c(1, "SCMP_CMP_EQ", 41)]},
                {"names": ["shmget", "msgsnd", "semop", "semtimedop"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["shmat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x1000)]},
            ]}),
        ),
        (
            "an unconditional socketcall wins over the socket rules",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["socket", "connect"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["socketcall"], "action": "SCMP_ACT_TRAP"},
                {"names": ["ipc"], "action": "SCMP_ACT_LOG", "args": [c(0, "SCMP_CMP_EQ", 21)]},
            ]}),
        ),
        (
            "names one ABI lacks",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["_llseek", "socketcall", "arch_prctl", "waitpid", "newfstatat", "ipc"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["epoll_ctl_old", "vm86", "set_thread_area", "rt_sigaction", "mmap2"], "action": "SCMP_ACT_TRAP"},
                {"names": ["no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
            ]}),
        ),
        (
            "one argument named twice: runc's one rule per condition",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(0, "SCMP_CMP_EQ", 0), c(0, "SCMP_CMP_EQ", 8), c(0, "SCMP_CMP_EQ", 0x2_0000)]},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(1, "SCMP_CMP_EQ", 0), c(1, "SCMP_CMP_EQ", 15), c(0, "SCMP_CMP_EQ", 1)]},
                {"names": ["prctl"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(0, "SCMP_CMP_GE", 0x1_0000_0000), c(0, "SCMP_CMP_EQ", 0x1_0000_0001)]},
            ]}),
        ),
        (
            "conditions on several arguments, several rules",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
                    "args": [c(2, "SCMP_CMP_MASKED_EQ", 4), c(3, "SCMP_CMP_EQ", 0x22), c(4, "SCMP_CMP_NE", u64::MAX)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [c(3, "SCMP_CMP_EQ", 0x21), c(5, "SCMP_CMP_GT", 4096)]},
                {"names": ["openat"], "action": "SCMP_ACT_KILL", "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x40)]},
                {"names": ["openat"], "action": "SCMP_ACT_KILL", "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x200)]},
            ]}),
        ),
        ("Docker's default profile", docker_default()),
    ]
}

#[test]
fn hand_written_profiles_match_libseccomp() {
    for (i, (label, p)) in hand_written().iter().enumerate() {
        let o = must_agree(label, p, &mut Rng::new(100 + i as u64), Sweep::Full);
        eprintln!("{label}: {} inputs agree", o.inputs);
    }
}

/// Profiles whose native ABI has no rule of its own (only defaults, only other ABIs' names):
/// every x86_64 call must get the default action.
#[test]
fn profiles_without_native_rules_match_libseccomp() {
    let profiles = [
        json!({"defaultAction": "SCMP_ACT_LOG",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["socketcall", "_llseek"], "action": "SCMP_ACT_ALLOW"}]}),
        json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "syscalls": []}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X32"]}),
    ];
    for (i, p) in profiles.iter().enumerate() {
        must_agree(
            &p.to_string(),
            p,
            &mut Rng::new(200 + i as u64),
            Sweep::Full,
        );
    }
}

#[test]
fn random_profiles_match_libseccomp() {
    let mut inputs = 0;
    let mut load_fixed = 0;
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        let profile = random_profile(&mut rng, true);
        let sweep = if seed % 16 == 0 {
            Sweep::Full
        } else {
            Sweep::Sample
        };
        let o = must_agree(
            &format!("random profile, seed {seed}"),
            &profile,
            &mut rng,
            sweep,
        );
        inputs += o.inputs;
        load_fixed += usize::from(o.load_fixed);
    }
    eprintln!(
        "random profiles: {inputs} inputs agree ({load_fixed} profiles hit libseccomp's lost \
         syscall-number load and were compared at optimize 2)"
    );
}

/// berth's and runc's answers for one input: libseccomp as runc drives it, no workaround.
fn answers(profile: &Value, d: Data) -> (String, String) {
    let text = serde_json::to_string(profile).unwrap();
    let ours = match super::compile_json(text.as_bytes()) {
        Ok(p) => describe_ret(interp::run(&p.filter, &d).unwrap().0),
        Err(e) => format!("refused: {e}"),
    };
    let spec: LinuxSeccomp = serde_json::from_value(profile.clone()).unwrap();
    let theirs = match runc_filter(&spec) {
        Ok(f) => describe_ret(interp::run(&export(&f), &d).unwrap().0),
        Err(_) => "refused".into(),
    };
    (ours, theirs)
}

fn on_x86_64(nr: u32, args: [u64; 6]) -> Data {
    Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        ip: 0,
        args,
    }
}

fn on_i386(nr: u32, args: [u64; 6]) -> Data {
    Data {
        nr,
        arch: AUDIT_ARCH_I386,
        ip: 0,
        args,
    }
}

fn cond(i: u32, op: &str, v: u64) -> Value {
    json!({"index": i, "op": op, "value": v})
}

/// read(2) rules on a deny-list: (errno, conditions) each.
fn read_rules(rules: &[(u32, Vec<Value>)]) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(e, args)| {
            json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": e, "args": args})
        })
        .collect();
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

/// Why random profiles give every conditional rule of a syscall the same action: where two
/// such rules with different actions both match, berth takes the first in profile order and
/// libseccomp 2.5.4 has its own order (or refuses the profile, failing runc's create). These
/// assert what libseccomp does, so a change in it shows up here.
///
/// libseccomp's order, as found here and in its db.c (and checked as a model by
/// `libseccomp_order_is_this_sort`): after runc's split and with MASKED_EQ conditions of mask
/// 0 dropped (a rule left without conditions is unconditional), each conditional rule is a
/// sequence of tests: its conditions by ascending argument index, each as a high-word test
/// then a low-word test on `value & mask`. Rules are tried in decreasing order of that
/// sequence, compared test by test with this "greater": higher argument (high word above low
/// word); then EQ/NE/MASKED_EQ above LT/LE above GT/GE; then the larger word (for LT/LE the
/// smaller). The comparison goes on to the next test only while both tests are the same (same
/// argument word, operator, word and mask); a tie between different tests, or a rule that is
/// a prefix of another, keeps profile order. The first rule that matches decides. Equal
/// conditions with different actions, or a shorter rule after a longer one with the same
/// leading tests and another action, are refused (EEXIST); a longer rule after a shorter one
/// with the same leading tests is dropped.
#[test]
fn libseccomp_orders_conditional_rules_its_own_way() {
    let eq = |i, v| cond(i, "SCMP_CMP_EQ", v);
    let read = |args: [u64; 6]| on_x86_64(0, args);
    let cases: Vec<(&str, Value, Data, &str, &str)> = vec![
        (
            "the rule on the higher argument wins, whatever the order",
            read_rules(&[(1, vec![eq(0, 5)]), (2, vec![eq(1, 6)])]),
            read([5, 6, 0, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(2)",
        ),
        (
            "... (the same rules the other way round)",
            read_rules(&[(2, vec![eq(1, 6)]), (1, vec![eq(0, 5)])]),
            read([5, 6, 0, 0, 0, 0]),
            "ERRNO(2)",
            "ERRNO(2)",
        ),
        (
            "the rule whose lowest argument is higher wins",
            read_rules(&[(1, vec![eq(2, 1)]), (2, vec![eq(0, 1), eq(2, 1)])]),
            read([1, 0, 1, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(1)",
        ),
        (
            "EQ is tried before GE",
            read_rules(&[(1, vec![cond(0, "SCMP_CMP_GE", 5)]), (2, vec![eq(0, 7)])]),
            read([7, 0, 0, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(2)",
        ),
        (
            "the larger GT bound is tried first",
            read_rules(&[
                (1, vec![cond(0, "SCMP_CMP_GT", 5)]),
                (2, vec![cond(0, "SCMP_CMP_GT", 7)]),
            ]),
            read([8, 0, 0, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(2)",
        ),
        (
            "the smaller LT bound is tried first",
            read_rules(&[
                (2, vec![cond(0, "SCMP_CMP_LT", 7)]),
                (1, vec![cond(0, "SCMP_CMP_LT", 5)]),
            ]),
            read([3, 0, 0, 0, 0, 0]),
            "ERRNO(2)",
            "ERRNO(1)",
        ),
        (
            "the larger EQ/NE value is tried first",
            read_rules(&[(1, vec![cond(0, "SCMP_CMP_NE", 5)]), (2, vec![eq(0, 7)])]),
            read([7, 0, 0, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(2)",
        ),
        (
            "equal conditions with different actions: refused",
            read_rules(&[(1, vec![eq(0, 5)]), (2, vec![eq(0, 5)])]),
            read([5, 0, 0, 0, 0, 0]),
            "ERRNO(1)",
            "refused",
        ),
        (
            "a shorter rule after a longer one with a different action: refused",
            read_rules(&[(2, vec![eq(0, 1), eq(1, 2)]), (1, vec![eq(0, 1)])]),
            read([1, 2, 0, 0, 0, 0]),
            "ERRNO(2)",
            "refused",
        ),
        (
            "a longer rule after a shorter one is dropped",
            read_rules(&[(1, vec![eq(0, 1)]), (2, vec![eq(0, 1), eq(1, 2)])]),
            read([1, 2, 0, 0, 0, 0]),
            "ERRNO(1)",
            "ERRNO(1)",
        ),
        (
            "an unconditional rule wins over conditional ones, in both",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [eq(0, 5)]},
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}),
            read([5, 0, 0, 0, 0, 0]),
            "ERRNO(2)",
            "ERRNO(2)",
        ),
        (
            "two unconditional rules: the first wins, in both",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}),
            on_x86_64(41, [0; 6]),
            "ERRNO(1)",
            "ERRNO(1)",
        ),
        (
            "... but with i386 they are socketcall rules on one condition: refused",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}),
            on_i386(102, [1, 0, 0, 0, 0, 0]),
            "ERRNO(1)",
            "refused",
        ),
    ];
    for (what, p, d, ours, theirs) in cases {
        let got = answers(&p, d);
        assert_eq!(got, (ours.to_string(), theirs.to_string()), "{what}\n{p}");
    }
}

/// Where libseccomp 2.5.4's program is wrong and berth's right; the random profiles avoid
/// (ranges) or work around (i386) these. Each asserts libseccomp's wrong answer, so a fixed
/// libseccomp shows up here.
#[test]
fn libseccomp_mishandles_ranges_on_one_argument() {
    // mremap(2) is traced when a2 < 14 or a2 < 0xb61ffeaac792c227 (runc's split of one rule
    // naming a2 twice). a2 = 0xc792c227 is below the second bound. libseccomp tests the
    // first rule's low word, then jumps to the second rule's high-word test without
    // reloading the high word.
    let p = json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "syscalls": [{"names": ["mremap"],
        "action": "SCMP_ACT_TRACE", "args": [cond(2, "SCMP_CMP_LT", 0xb61f_feaa_c792_c227),
        cond(2, "SCMP_CMP_LT", 14)]}]});
    let d = on_x86_64(25, [0, 0, 0xc792_c227, 0, 0, 0]);
    assert_eq!(answers(&p, d), ("TRACE(1)".into(), "KILL_THREAD".into()));

    // The same with two rules of one action.
    let p = json!({"defaultAction": "SCMP_ACT_TRAP", "syscalls": [
        {"names": ["fstat"], "action": "SCMP_ACT_KILL", "args": [cond(0, "SCMP_CMP_LE", 6)]},
        {"names": ["fstat"], "action": "SCMP_ACT_KILL",
            "args": [cond(0, "SCMP_CMP_LE", 6_778_406_018_332_947_193)]}]});
    let d = on_x86_64(5, [0x9787_064a, 0, 0, 0, 0, 0]);
    assert_eq!(answers(&p, d), ("KILL_THREAD".into(), "TRAP".into()));
}

/// libseccomp 2.5.4 at optimize level 1 (runc's for at most 32 syscalls) loses a section's
/// syscall-number load when the section's first rule is a pseudo-syscall: every call of that
/// ABI then gets the default action, so a deny-list is void there.
#[test]
fn libseccomp_loses_the_syscall_number() {
    // i386, whose first rule is semop (only multiplexed through ipc(2) there): berth denies
    // nanosleep(2) with a4 <= 13, as the profile says; runc's filter allows it.
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
        {"names": ["semop"], "action": "SCMP_ACT_TRACE", "errnoRet": 38},
        {"names": ["nanosleep"], "action": "SCMP_ACT_KILL_THREAD",
            "args": [cond(4, "SCMP_CMP_LE", 13)]}]});
    assert_eq!(
        answers(&p, on_i386(162, [0; 6])),
        ("KILL_THREAD".into(), "ALLOW".into())
    );
    // x86_64 with x32 (one section in libseccomp), whose first rule is _llseek (i386 only):
    // berth denies mount(2) without MS_BIND, runc's filter allows it.
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X32"],
        "syscalls": [
        {"names": ["_llseek"], "action": "SCMP_ACT_LOG"},
        {"names": ["mount"], "action": "SCMP_ACT_ERRNO",
            "args": [cond(3, "SCMP_CMP_MASKED_EQ", 0x1000)]}]});
    assert_eq!(
        answers(&p, on_x86_64(165, [0; 6])),
        ("ERRNO(1)".into(), "ALLOW".into())
    );
}

/// Differences where berth is right by design:
/// - x32 arguments: libseccomp compares only their low words (it treats x32 as a 32-bit ABI),
///   the kernel passes 64-bit registers; berth compares them whole, as on x86_64. Docker's
///   personality(0x1_0000_0008) on x32: berth EPERM (as on x86_64), libseccomp allows it.
/// - an errno of 4095 (MAX_ERRNO): libseccomp refuses it (its check is `< MAX_ERRNO`), so runc
///   fails; berth loads it, and the kernel returns -4095.
#[test]
fn berth_differs_from_libseccomp_by_design() {
    let d = Data {
        nr: X32_SYSCALL_BIT | 135,
        arch: AUDIT_ARCH_X86_64,
        ip: 0,
        args: [0x1_0000_0008, 0, 0, 0, 0, 0],
    };
    assert_eq!(
        answers(&docker_default(), d),
        ("ERRNO(1)".into(), "ALLOW".into())
    );
    assert_eq!(
        answers(&docker_default(), on_x86_64(135, d.args)),
        ("ERRNO(1)".into(), "ERRNO(1)".into())
    );
    let p = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]});
    assert_eq!(
        answers(&p, on_x86_64(0, [0; 6])),
        ("ERRNO(4095)".into(), "refused".into())
    );
}

/// Random profiles without the restrictions: prints each class of difference once, as a
/// minimized profile (for checking a newer libseccomp). `cargo test --lib
/// seccomp::oracle::unrestricted -- --ignored --nocapture`
#[test]
#[ignore]
fn unrestricted_random_profiles() {
    let mut seen = BTreeSet::new();
    let (mut refused, mut differ, mut ok) = (0, 0, 0);
    for seed in 0..400u64 {
        let mut rng = Rng::new(seed);
        let profile = random_profile(&mut rng, false);
        match compare(&profile, &mut rng, Sweep::Sample) {
            Ok(_) => ok += 1,
            Err(Failure::Refused(m)) => {
                refused += 1;
                let still = |p: &Value| {
                    matches!(
                        compare(p, &mut Rng::new(7), Sweep::Sample),
                        Err(Failure::Refused(_))
                    )
                };
                let min = minimize(&profile, still);
                if seen.insert(min.to_string()) {
                    eprintln!(
                        "REFUSED seed {seed}: {}\n  {min}",
                        m.lines().next().unwrap()
                    );
                }
            }
            Err(Failure::Differ { .. }) => {
                differ += 1;
                let min = minimize(&profile, still_differs);
                if seen.insert(min.to_string()) {
                    let r = compare(&min, &mut Rng::new(7), Sweep::Sample)
                        .err()
                        .unwrap();
                    let r = r.to_string();
                    let first: Vec<&str> = r.lines().skip(2).take(3).collect();
                    eprintln!("DIFFER seed {seed}:\n  {min}\n{}", first.join("\n"));
                }
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    eprintln!("agree {ok}, refused by libseccomp {refused}, differ {differ}");
}

/// Compares any profile: `PROFILE_FILE=path/to/linux.seccomp.json cargo test --lib
/// seccomp::oracle::profile_file -- --ignored --nocapture`
#[test]
#[ignore]
fn profile_file_matches_libseccomp() {
    let Ok(path) = std::env::var("PROFILE_FILE") else {
        return;
    };
    let p: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let o = must_agree(&path, &p, &mut Rng::new(1), Sweep::Full);
    eprintln!(
        "{path}: {} inputs agree; berth {} instructions, libseccomp {}",
        o.inputs, o.berth_len, o.libseccomp_len
    );
}

/// Prints both programs for $PROFILE (a linux.seccomp object), and both answers for $INPUT
/// (hex: arch,nr,a0,..,a5). `PROFILE='{...}' INPUT=c000003e,0,0,0,0,0,0,0 cargo test --lib
/// seccomp::oracle::dump -- --ignored --nocapture`
#[test]
#[ignore]
fn dump_programs() {
    let Ok(p) = std::env::var("PROFILE") else {
        return;
    };
    let p: Value = serde_json::from_str(&p).unwrap();
    let spec: LinuxSeccomp = serde_json::from_value(p.clone()).unwrap();
    let f = runc_filter(&spec).unwrap();
    let mut file = tempfile::tempfile().unwrap();
    f.export_pfc(&file).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut pfc = String::new();
    file.read_to_string(&mut pfc).unwrap();
    eprintln!("{pfc}");
    let ours = super::compile_json(p.to_string().as_bytes())
        .unwrap()
        .filter;
    let theirs = export(&f);
    for (who, prog) in [("berth", &ours), ("libseccomp", &theirs)] {
        eprintln!("{who}:");
        for (i, x) in prog.iter().enumerate() {
            eprintln!(
                "{i:4}: {:#06x} jt {:3} jf {:3} k {:#x}",
                x.code, x.jt, x.jf, x.k
            );
        }
    }
    if let Ok(input) = std::env::var("INPUT") {
        let v: Vec<u64> = input
            .split(',')
            .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
            .collect();
        let d = Data {
            arch: v[0] as u32,
            nr: v[1] as u32,
            ip: 0,
            args: [v[2], v[3], v[4], v[5], v[6], v[7]],
        };
        eprintln!("{:?}", answers(&p, d));
    }
}

/// The order described on `libseccomp_orders_conditional_rules_its_own_way`, checked as a
/// model: random x86_64 profiles whose conditional rules on one syscall do have different
/// actions (restriction 2 still applies: there libseccomp's program is wrong); the model
/// sorts each syscall's conditional rules by that order, the first match deciding, and must
/// give libseccomp's answer on every input. This is what berth would implement to order
/// such rules as runc does (i386's one-word tests and socketcall/ipc are not modelled here).
#[test]
fn libseccomp_order_is_this_sort() {
    type Rule = (Vec<SpecCond>, ScmpAction);
    #[derive(Clone, Copy, PartialEq)]
    struct Node {
        prio: u32,
        op: u32,
        lt_le: bool,
        datum: u32,
        /// What _db_chain_eq also compares: the node's own test and mask.
        test: O,
        mask: u32,
    }
    // _db_chain_lt(a, b)
    fn lt(a: &Node, b: &Node) -> bool {
        if a.prio != b.prio {
            return a.prio < b.prio;
        }
        if a.op != b.op {
            return a.op < b.op;
        }
        if a.lt_le {
            a.datum > b.datum
        } else {
            a.datum < b.datum
        }
    }
    fn key(conds: &[SpecCond]) -> Vec<Node> {
        // A mask of zero always holds: libseccomp drops the condition.
        let mut c: Vec<SpecCond> = conds
            .iter()
            .filter(|c| !(c.op == O::ScmpCmpMaskedEq && c.value == 0))
            .copied()
            .collect();
        c.sort_by_key(|c| c.index);
        let mut k = Vec::new();
        for c in c {
            let (op, lt_le) = match c.op {
                O::ScmpCmpEq | O::ScmpCmpNe | O::ScmpCmpMaskedEq => (3, false),
                O::ScmpCmpLt | O::ScmpCmpLe => (2, true),
                _ => (1, false),
            };
            let (mask, v) = match c.op {
                O::ScmpCmpMaskedEq => (c.value, c.value_two),
                _ => (u64::MAX, c.value),
            };
            let d = v & mask;
            let i = c.index as u32;
            let (hi_test, lo_test) = match c.op {
                O::ScmpCmpEq | O::ScmpCmpNe => (O::ScmpCmpEq, O::ScmpCmpEq),
                O::ScmpCmpMaskedEq => (O::ScmpCmpMaskedEq, O::ScmpCmpMaskedEq),
                O::ScmpCmpGt | O::ScmpCmpLe => (O::ScmpCmpGt, O::ScmpCmpGt),
                _ => (O::ScmpCmpGt, O::ScmpCmpGe),
            };
            let node = |prio, datum, test, mask| Node {
                prio,
                op,
                lt_le,
                datum,
                test,
                mask,
            };
            k.push(node(
                2 * i + 1,
                (d >> 32) as u32,
                hi_test,
                (mask >> 32) as u32,
            ));
            k.push(node(2 * i, d as u32, lo_test, mask as u32));
        }
        k
    }
    fn holds(c: &SpecCond, a: u64) -> bool {
        match c.op {
            O::ScmpCmpEq => a == c.value,
            O::ScmpCmpNe => a != c.value,
            O::ScmpCmpLt => a < c.value,
            O::ScmpCmpLe => a <= c.value,
            O::ScmpCmpGt => a > c.value,
            O::ScmpCmpGe => a >= c.value,
            O::ScmpCmpMaskedEq => a & c.value == c.value_two & c.value,
        }
    }
    let (mut agree, mut differ, mut refused) = (0usize, 0usize, 0usize);
    let mut shown = 0;
    for seed in 0..500u64 {
        let mut rng = Rng::new(seed);
        let mut p = random_profile(&mut rng, false);
        p["architectures"] = json!([]);
        // Restriction 2 only: drop entries that test an argument already tested by another
        // rule of the same syscall with a range or NE (or test one so).
        let mut limits = Limits {
            default: action_key(p.as_object().unwrap(), "defaultAction", "defaultErrnoRet"),
            lists: BTreeMap::new(),
            one_action: false,
        };
        let calls = p["syscalls"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        for c in calls {
            let args = c["args"].as_array().cloned().unwrap_or_default();
            let action = action_key(c.as_object().unwrap(), "action", "errnoRet");
            let names: Vec<Value> = c["names"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| limits.admit(n.as_str().unwrap(), &args, action))
                .cloned()
                .collect();
            if !names.is_empty() {
                let mut c = c.clone();
                c["names"] = json!(names);
                kept.push(c);
            }
        }
        p["syscalls"] = json!(kept);
        let p = known_to_libseccomp(&p);
        let spec: LinuxSeccomp = serde_json::from_value(p.clone()).unwrap();
        let Ok(f) = runc_filter(&spec) else {
            refused += 1;
            continue;
        };
        let mut theirs = export(&f);
        if !loads_nr(&theirs, AUDIT_ARCH_X86_64) {
            let mut f = f;
            f.set_ctl_optimize(2).unwrap();
            theirs = export(&f);
        }
        let default = scmp_action(spec.default_action(), spec.default_errno_ret());
        let named = entries_by_syscall(&spec);
        for (&(arch, nr), entries) in
            named.range((AUDIT_ARCH_X86_64, 0)..(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT))
        {
            let _ = arch;
            let mut uncond = None;
            let mut rules: Vec<Rule> = Vec::new();
            for &e in entries {
                let call = &spec.syscalls().as_ref().unwrap()[e];
                let action = scmp_action(call.action(), call.errno_ret());
                if action == default {
                    continue;
                }
                for name in call.names() {
                    if Arch::X86_64.syscall(name) != Some(nr) {
                        continue;
                    }
                    let conds = conds_of(&spec, e);
                    // runc's split, on the conditions as written.
                    let units: Vec<Vec<SpecCond>> =
                        if (0..6).any(|i| conds.iter().filter(|c| c.index == i).count() > 1) {
                            conds.iter().map(|c| vec![*c]).collect()
                        } else {
                            vec![conds]
                        };
                    for u in units {
                        // A mask of zero always holds: libseccomp drops the condition.
                        let u: Vec<SpecCond> = u
                            .into_iter()
                            .filter(|c| !(c.op == O::ScmpCmpMaskedEq && c.value == 0))
                            .collect();
                        if u.is_empty() {
                            uncond.get_or_insert(action);
                        } else {
                            rules.push((u, action));
                        }
                    }
                }
            }
            // Stable insertion as libseccomp's level lists do: before the first that is less.
            let mut sorted: Vec<(Vec<Node>, &Rule)> = Vec::new();
            for r in &rules {
                let k = key(&r.0);
                let at = sorted
                    .iter()
                    .position(|(x, _)| {
                        for (a, b) in x.iter().zip(&k) {
                            if lt(a, b) {
                                return true;
                            }
                            if a != b {
                                // Greater, or a tie of different nodes: insertion order.
                                return false;
                            }
                        }
                        false
                    })
                    .unwrap_or(sorted.len());
                sorted.insert(at, (k, r));
            }
            let conds: Vec<SpecCond> = rules.iter().flat_map(|r| r.0.clone()).collect();
            let mut vectors = Vec::new();
            arg_vectors(&mut rng, &conds, false, &mut vectors);
            for args in vectors {
                let model = match uncond {
                    Some(a) => a,
                    None => sorted
                        .iter()
                        .find(|(_, (c, _))| c.iter().all(|c| holds(c, args[c.index])))
                        .map_or(default, |(_, (_, a))| *a),
                };
                let model = describe_ret(match model {
                    ScmpAction::KillThread => 0,
                    ScmpAction::KillProcess => 0x8000_0000,
                    ScmpAction::Trap => 0x0003_0000,
                    ScmpAction::Errno(e) => 0x0005_0000 | e as u32,
                    ScmpAction::Trace(e) => 0x7ff0_0000 | u32::from(e),
                    ScmpAction::Log => 0x7ffc_0000,
                    ScmpAction::Notify => 0x7fc0_0000,
                    ScmpAction::Allow => 0x7fff_0000,
                    _ => unreachable!(),
                });
                let d = on_x86_64(nr, args);
                let lib = describe_ret(interp::run(&theirs, &d).unwrap().0);
                if model == lib {
                    agree += 1;
                } else {
                    differ += 1;
                    if shown < 6 {
                        shown += 1;
                        let min = rules
                            .iter()
                            .map(|(c, a)| format!("{a:?} {c:?}"))
                            .collect::<Vec<_>>();
                        eprintln!("seed {seed} nr {nr} args {args:x?}: model {model} libseccomp {lib}\n  {}", min.join("\n  "));
                    }
                }
            }
        }
    }
    eprintln!(
        "the model agrees on {agree} inputs, differs on {differ}; libseccomp refused {refused} \
         profiles"
    );
    assert_eq!(differ, 0);
}
