//! The comparison of both programs over the inputs, its report, and the minimizer.

use super::*;

/// Why a profile did not pass.
#[derive(Debug)]
pub(super) enum Failure {
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

pub(super) struct Outcome {
    pub(super) inputs: usize,
    /// x32 inputs with no x86_64 syscall of the same name to take libseccomp's answer from.
    pub(super) skipped: usize,
    /// libseccomp's program lost a syscall-number load; compared at optimize 2.
    pub(super) load_fixed: bool,
    pub(super) berth_len: usize,
    pub(super) libseccomp_len: usize,
}

pub(super) fn describe_ret(r: u32) -> String {
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
pub(super) fn x86_64_twin(nr: u32) -> Option<u32> {
    let name = ScmpSyscall::from(nr as i32)
        .get_name_by_arch(ScmpArch::X32)
        .ok()?;
    let n = i32::from(ScmpSyscall::from_name_by_arch(&name, ScmpArch::X8664).ok()?);
    u32::try_from(n).ok()
}

pub(super) fn syscall_names(arch: u32, nr: u32) -> String {
    let Some(abi) = abi_of(arch, nr) else {
        return String::new();
    };
    let theirs = ScmpSyscall::from(nr as i32)
        .get_name_by_arch(scmp_abi(abi))
        .unwrap_or_default();
    let table = match abi {
        Arch::X86_64 => crate::seccomp::syscalls::X86_64,
        Arch::X86 => crate::seccomp::syscalls::X86,
        Arch::X32 => crate::seccomp::syscalls::X32,
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
pub(super) fn compare(profile: &Value, rng: &mut Rng, sweep: Sweep) -> Result<Outcome, Failure> {
    let profile = known_to_libseccomp(profile);
    let text = serde_json::to_string(&profile).unwrap();
    let spec: LinuxSeccomp = serde_json::from_value(profile.clone())
        .map_err(|e| Failure::Broken(format!("bad profile: {e}\n{text}")))?;
    let ours = crate::seccomp::compile_json(text.as_bytes())
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
pub(super) fn minimize(profile: &Value, still: impl Fn(&Value) -> bool) -> Value {
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

pub(super) fn still_differs(p: &Value) -> bool {
    matches!(
        compare(p, &mut Rng::new(7), Sweep::Sample),
        Err(Failure::Differ { .. })
    )
}
