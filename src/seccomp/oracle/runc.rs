//! libseccomp, driven the way runc drives it: the oracle's side of every comparison.

use super::*;

pub(super) fn scmp_action(a: A, errno_ret: Option<u32>) -> ScmpAction {
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

pub(super) fn scmp_arch(a: SpecArch) -> ScmpArch {
    match a {
        SpecArch::ScmpArchX86_64 => ScmpArch::X8664,
        SpecArch::ScmpArchX86 => ScmpArch::X86,
        SpecArch::ScmpArchX32 => ScmpArch::X32,
        SpecArch::ScmpArchNative => ScmpArch::Native,
        a => panic!("the oracle covers the x86 ABIs only, not {a:?}"),
    }
}

pub(super) fn scmp_cond(index: usize, op: O, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
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
pub(super) fn runc_filter(s: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
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
pub(super) fn loads_nr(prog: &[libc::sock_filter], arch: u32) -> bool {
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
pub(super) fn export(f: &ScmpFilterContext) -> Vec<libc::sock_filter> {
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
