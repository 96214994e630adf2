//! A profile to one BPF program for every ABI it covers.
//!
//! Layout, first instruction first:
//!   ld arch; jeq x86_64 → S64; jeq i386 → S32; ret KILL      (any other ABI is killed)
//!   S64: ld nr; jge X32_BIT → x32 tree (or: -1 → default, else KILL); x86_64 tree
//!   S32: ld nr; i386 tree
//! A tree is a binary search over syscall-number intervals: neighbouring numbers with the same
//! outcome (runs of allowed calls, the gaps between them) form one interval, so Docker's
//! ~350-rule profile is a few dozen intervals and any syscall is decided after ~7 jumps.
//! A syscall with argument rules leads to its rules, tried in order; the first that matches
//! decides, and if none does the default action applies.

use std::collections::BTreeMap;

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::bpf::{self, Asm, Label, JEQ, JGE, JGT};
use super::{Action, Cond, Op, Profile, Program};

/// What the filter does with one syscall number of one ABI.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Always(Action),
    /// (conditions that must all hold, action), first match wins.
    Rules(Vec<(Vec<Cond>, Action)>),
}

pub fn compile(p: &Profile) -> Program {
    let mut asm = Asm::new();
    let default = p.default.ret();
    let has = |a| p.arches.contains(&a);

    // Written back to front: sections first, the arch dispatch last.
    let s32 = has(Arch::X86).then(|| {
        let t = tree(
            &mut asm,
            Arch::X86,
            &outcomes(p, Arch::X86),
            0,
            1 << 32,
            default,
        );
        asm.load(bpf::OFF_NR, t)
    });
    let x32 = has(Arch::X32).then(|| {
        let o = outcomes(p, Arch::X32);
        tree(
            &mut asm,
            Arch::X32,
            &o,
            u64::from(X32_SYSCALL_BIT),
            1 << 32,
            default,
        )
    });
    let x64 = tree(
        &mut asm,
        Arch::X86_64,
        &outcomes(p, Arch::X86_64),
        0,
        u64::from(X32_SYSCALL_BIT),
        default,
    );
    let kill = asm.ret(Action::KillThread.ret());
    let high = match x32 {
        Some(t) => t,
        // x32 calls are killed; -1 is what a tracer uses to skip a call, and gets the default.
        None => {
            let def = asm.ret(default);
            asm.jump(JEQ, u32::MAX, def, kill)
        }
    };
    let split = asm.jump(JGE, X32_SYSCALL_BIT, high, x64);
    let s64 = asm.load(bpf::OFF_NR, split);
    let kill = asm.ret(Action::KillThread.ret());
    let not64 = match s32 {
        Some(s32) => asm.jump(JEQ, Arch::X86.audit(), s32, kill),
        None => kill,
    };
    let dispatch = asm.jump(JEQ, Arch::X86_64.audit(), s64, not64);
    asm.load(bpf::OFF_ARCH, dispatch);
    Program {
        filter: asm.finish(),
        flags: p.flags,
        listener: None,
    }
}

/// The profile's rules for one ABI, by syscall number.
fn outcomes(p: &Profile, arch: Arch) -> BTreeMap<u32, Outcome> {
    let mut rules: BTreeMap<u32, Vec<(Vec<Cond>, Action)>> = BTreeMap::new();
    for r in &p.rules {
        if r.action == p.default {
            continue;
        }
        // Two conditions on one argument: runc adds each as a rule of its own.
        let repeated = (0..6).any(|i| r.conds.iter().filter(|c| c.index == i).count() > 1);
        let groups: Vec<Vec<Cond>> = if repeated {
            r.conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![r.conds.clone()]
        };
        for name in &r.names {
            if let Some(nr) = arch.syscall(name) {
                for g in &groups {
                    rules
                        .entry(nr)
                        .or_default()
                        .push((effective(arch, g), r.action));
                }
            }
            if let Some((mux, call)) = arch.multiplexed(name) {
                for g in &groups {
                    let mut g: Vec<Cond> = g.iter().filter(|c| c.index != 0).copied().collect();
                    g.insert(
                        0,
                        Cond {
                            index: 0,
                            op: Op::Eq,
                            value: call,
                        },
                    );
                    rules
                        .entry(mux)
                        .or_default()
                        .push((effective(arch, &g), r.action));
                }
            }
        }
    }
    rules
        .into_iter()
        .map(|(nr, list)| {
            let outcome = match list.iter().find(|(c, _)| c.is_empty()) {
                Some((_, a)) => Outcome::Always(*a),
                None => Outcome::Rules(list),
            };
            (nr, outcome)
        })
        .collect()
}

/// Conditions as the ABI sees them: the low word only on a 32-bit ABI, and none that always
/// holds (a mask of zero), so a rule of only such conditions is unconditional.
fn effective(arch: Arch, conds: &[Cond]) -> Vec<Cond> {
    conds
        .iter()
        .map(|c| {
            if arch.is_32bit() {
                let op = match c.op {
                    Op::MaskedEq(m) => Op::MaskedEq(m & 0xffff_ffff),
                    op => op,
                };
                Cond {
                    op,
                    value: c.value & 0xffff_ffff,
                    ..*c
                }
            } else {
                *c
            }
        })
        .filter(|c| c.op != Op::MaskedEq(0))
        .collect()
}

/// One decision interval: its first syscall number and what happens there.
enum Leaf<'a> {
    Always(u32),
    Rules(&'a [(Vec<Cond>, Action)]),
}

/// The search tree for syscall numbers in [lo, hi); A holds the number.
fn tree(
    asm: &mut Asm,
    arch: Arch,
    o: &BTreeMap<u32, Outcome>,
    lo: u64,
    hi: u64,
    default: u32,
) -> Label {
    // Neighbouring intervals with the same outcome are one.
    fn push<'a>(iv: &mut Vec<(u64, Leaf<'a>)>, start: u64, leaf: Leaf<'a>) {
        match (iv.last(), &leaf) {
            (Some((_, Leaf::Always(prev))), Leaf::Always(k)) if prev == k => {}
            (Some((_, Leaf::Rules(prev))), Leaf::Rules(r)) if prev == r => {}
            _ => iv.push((start, leaf)),
        }
    }
    let mut iv: Vec<(u64, Leaf)> = Vec::new();
    let mut cursor = lo;
    for (&nr, outcome) in o.range(lo as u32..).take_while(|(&n, _)| u64::from(n) < hi) {
        let nr = u64::from(nr);
        if nr > cursor {
            push(&mut iv, cursor, Leaf::Always(default));
        }
        match outcome {
            Outcome::Always(a) => push(&mut iv, nr, Leaf::Always(a.ret())),
            Outcome::Rules(r) => push(&mut iv, nr, Leaf::Rules(r)),
        }
        cursor = nr + 1;
    }
    if cursor < hi {
        push(&mut iv, cursor, Leaf::Always(default));
    }
    node(asm, arch, &iv, default, &mut Vec::new())
}

/// Argument rule blocks already written, shared by every syscall with the same rules (a
/// trampoline is cheaper than a second copy, and copies could exceed BPF_MAXINSNS).
type Written<'a> = Vec<(&'a [(Vec<Cond>, Action)], Label)>;

fn node<'a>(
    asm: &mut Asm,
    arch: Arch,
    iv: &[(u64, Leaf<'a>)],
    default: u32,
    written: &mut Written<'a>,
) -> Label {
    match iv {
        [] => asm.ret(default),
        [(_, Leaf::Always(k))] => asm.ret(*k),
        [(_, Leaf::Rules(r))] => match written.iter().find(|(w, _)| w == r) {
            Some((_, l)) => *l,
            None => {
                let l = rules(asm, arch, r, default);
                written.push((r, l));
                l
            }
        },
        _ => {
            let mid = iv.len() / 2;
            let right = node(asm, arch, &iv[mid..], default, written);
            let left = node(asm, arch, &iv[..mid], default, written);
            asm.jump(JGE, iv[mid].0 as u32, right, left)
        }
    }
}

/// Argument rules of one syscall, first match wins, else the default.
fn rules(asm: &mut Asm, arch: Arch, rules: &[(Vec<Cond>, Action)], default: u32) -> Label {
    let mut next = asm.ret(default);
    for (conds, action) in rules.iter().rev() {
        let fail = next;
        let mut ok = asm.ret(action.ret());
        for c in conds.iter().rev() {
            ok = cond(asm, arch, c, ok, fail);
        }
        next = ok;
    }
    next
}

/// Tests one condition, going to `ok` or `fail`.
fn cond(asm: &mut Asm, arch: Arch, c: &Cond, ok: Label, fail: Label) -> Label {
    if ok == fail {
        return ok;
    }
    let lo_off = bpf::off_arg_lo(c.index);
    let hi_off = lo_off + 4;
    let (v_lo, v_hi) = (c.value as u32, (c.value >> 32) as u32);
    if arch.is_32bit() {
        let test = |asm: &mut Asm, code, k, ok, fail| {
            let j = asm.jump(code, k, ok, fail);
            asm.load(lo_off, j)
        };
        return match c.op {
            Op::Eq => test(asm, JEQ, v_lo, ok, fail),
            Op::Ne => test(asm, JEQ, v_lo, fail, ok),
            Op::Gt => test(asm, JGT, v_lo, ok, fail),
            Op::Ge => test(asm, JGE, v_lo, ok, fail),
            Op::Le => test(asm, JGT, v_lo, fail, ok),
            Op::Lt => test(asm, JGE, v_lo, fail, ok),
            Op::MaskedEq(m) => {
                let j = asm.jump(JEQ, v_lo & m as u32, ok, fail);
                let and = asm.and(m as u32, j);
                asm.load(lo_off, and)
            }
        };
    }
    match c.op {
        Op::Eq => eq64(asm, lo_off, v_lo, v_hi, ok, fail),
        Op::Ne => eq64(asm, lo_off, v_lo, v_hi, fail, ok),
        Op::Gt => ordered64(asm, lo_off, JGT, v_lo, v_hi, ok, fail),
        Op::Ge => ordered64(asm, lo_off, JGE, v_lo, v_hi, ok, fail),
        Op::Le => ordered64(asm, lo_off, JGT, v_lo, v_hi, fail, ok),
        Op::Lt => ordered64(asm, lo_off, JGE, v_lo, v_hi, fail, ok),
        Op::MaskedEq(m) => {
            let (m_lo, m_hi) = (m as u32, (m >> 32) as u32);
            // A zero half of the mask always matches: skip that word.
            let lo = if m_lo == 0 {
                ok
            } else {
                let j = asm.jump(JEQ, v_lo & m_lo, ok, fail);
                let and = asm.and(m_lo, j);
                asm.load(lo_off, and)
            };
            if m_hi == 0 {
                lo
            } else {
                let j = asm.jump(JEQ, v_hi & m_hi, lo, fail);
                let and = asm.and(m_hi, j);
                asm.load(hi_off, and)
            }
        }
    }
}

/// arg == v: the high words, then the low words.
fn eq64(asm: &mut Asm, lo_off: u32, v_lo: u32, v_hi: u32, ok: Label, fail: Label) -> Label {
    let j = asm.jump(JEQ, v_lo, ok, fail);
    let lo = asm.load(lo_off, j);
    let j = asm.jump(JEQ, v_hi, lo, fail);
    asm.load(lo_off + 4, j)
}

/// arg > v (`code` JGT) or arg >= v (JGE), unsigned over 64 bits: a higher high word decides;
/// an equal one defers to the low words.
fn ordered64(
    asm: &mut Asm,
    lo_off: u32,
    code: u16,
    v_lo: u32,
    v_hi: u32,
    ok: Label,
    fail: Label,
) -> Label {
    let j = asm.jump(code, v_lo, ok, fail);
    let lo = asm.load(lo_off, j);
    let hi_eq = asm.jump(JEQ, v_hi, lo, fail);
    let j = asm.jump(JGT, v_hi, ok, hi_eq);
    asm.load(lo_off + 4, j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(default: Action, rules: Vec<(&str, Action, Vec<Cond>)>) -> Profile {
        Profile {
            default,
            arches: vec![Arch::X86_64, Arch::X86, Arch::X32],
            flags: 0,
            rules: rules
                .into_iter()
                .map(|(n, a, c)| super::super::Rule {
                    names: vec![n.to_string()],
                    action: a,
                    conds: c,
                })
                .collect(),
        }
    }

    #[test]
    fn first_unconditional_rule_wins() {
        let eq = Cond {
            index: 0,
            op: Op::Eq,
            value: 1,
        };
        let p = profile(
            Action::Allow,
            vec![
                ("read", Action::Errno(5), vec![eq]),
                ("read", Action::Errno(1), vec![]),
                ("read", Action::Trap, vec![]),
            ],
        );
        let o = outcomes(&p, Arch::X86_64);
        assert_eq!(o[&0], Outcome::Always(Action::Errno(1)));
    }

    fn verdict(p: &Profile, arch: Arch, nr: u32) -> u32 {
        let prog = compile(p);
        let d = super::super::interp::Data {
            nr,
            arch: arch.audit(),
            ..Default::default()
        };
        super::super::interp::run(&prog.filter, &d).unwrap().0
    }

    #[test]
    fn sections_without_rules_reach_the_default() {
        // Every section's tree is the shared default return: nothing may fall into the
        // bad-arch kill written next to it.
        for default in [Action::Allow, Action::Errno(1)] {
            for arches in [
                vec![Arch::X86_64],
                vec![Arch::X86_64, Arch::X32],
                vec![Arch::X86_64, Arch::X86],
                vec![Arch::X86_64, Arch::X86, Arch::X32],
            ] {
                let p = Profile {
                    arches: arches.clone(),
                    ..profile(default, vec![("getuid32", Action::Trap, vec![])])
                };
                for &a in &arches {
                    let nr = a.syscall("write").unwrap();
                    assert_eq!(verdict(&p, a, nr), default.ret(), "{arches:?} {a:?}");
                }
            }
        }
    }

    #[test]
    fn identical_argument_rules_are_written_once() {
        // Found by the fuzzer: Docker's allow-list with one condition on every name compiled
        // to 4167 instructions, past the kernel's 4096, when each syscall had its own copy.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/integration/data/seccomp/docker-default.oci.json"
        ))
        .unwrap();
        let docker: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&serde_json::Value> = docker["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap())
            .collect();
        let p = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
        });
        let prog = super::super::compile_json(p.to_string().as_bytes()).unwrap();
        assert!(
            prog.filter.len() < 1000,
            "{} instructions",
            prog.filter.len()
        );
    }

    #[test]
    fn default_action_rules_are_dropped() {
        let p = profile(Action::Errno(1), vec![("read", Action::Errno(1), vec![])]);
        assert!(outcomes(&p, Arch::X86_64).is_empty());
    }

    #[test]
    fn i386_socket_rules_cover_socketcall() {
        let p = profile(Action::Allow, vec![("socket", Action::Errno(1), vec![])]);
        let o = outcomes(&p, Arch::X86);
        assert_eq!(o[&359], Outcome::Always(Action::Errno(1)));
        let Outcome::Rules(r) = &o[&102] else {
            panic!("socketcall must be conditional")
        };
        assert_eq!(r[0].0[0].value, 1);
    }

    #[test]
    fn arg_mask_of_zero_is_unconditional() {
        let m = Cond {
            index: 1,
            op: Op::MaskedEq(0xffff_ffff_0000_0000),
            value: 0,
        };
        let p = profile(Action::Allow, vec![("read", Action::Trap, vec![m])]);
        assert_eq!(outcomes(&p, Arch::X86)[&3], Outcome::Always(Action::Trap));
        assert!(matches!(outcomes(&p, Arch::X86_64)[&0], Outcome::Rules(_)));
    }
}
