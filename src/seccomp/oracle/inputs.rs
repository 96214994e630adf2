//! What is compared: the profile's entries per syscall, and the inputs (syscall numbers and
//! argument values at and around each condition's edges).

use super::*;

/// Drops the names this libseccomp does not know (runc skips them; berth's newer tables would
/// not), and entries left without names.
pub(super) fn known_to_libseccomp(profile: &Value) -> Value {
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
pub(super) fn abi_of(arch: u32, nr: u32) -> Option<Arch> {
    match arch {
        AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Some(Arch::X32),
        AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
        AUDIT_ARCH_I386 => Some(Arch::X86),
        _ => None,
    }
}

pub(super) fn scmp_abi(a: Arch) -> ScmpArch {
    match a {
        Arch::X86_64 => ScmpArch::X8664,
        Arch::X86 => ScmpArch::X86,
        Arch::X32 => ScmpArch::X32,
    }
}

/// One condition as written in the profile.
#[derive(Clone, Copy, Debug)]
pub(super) struct SpecCond {
    pub(super) index: usize,
    pub(super) op: O,
    pub(super) value: u64,
    pub(super) value_two: u64,
}

/// The profile's entries by the (ABI, syscall number) they may decide, by berth's tables, by
/// libseccomp's, and through i386's socketcall/ipc.
pub(super) fn entries_by_syscall(s: &LinuxSeccomp) -> BTreeMap<(u32, u32), BTreeSet<usize>> {
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

pub(super) fn conds_of(s: &LinuxSeccomp, entry: usize) -> Vec<SpecCond> {
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
pub(super) fn edges(c: &SpecCond) -> Vec<u64> {
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
pub(super) fn arg_vectors(
    rng: &mut Rng,
    conds: &[SpecCond],
    narrow: bool,
    out: &mut Vec<[u64; 6]>,
) {
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
pub(super) enum Sweep {
    /// Every number of every table and past them.
    Full,
    /// The numbers the profile names, their neighbours and a random sample.
    Sample,
}

pub(super) fn syscall_numbers(
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
