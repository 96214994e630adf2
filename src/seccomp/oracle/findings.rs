//! Where berth and libseccomp 2.5.4 differ, each difference asserted both ways (libseccomp's rule
//! order, its bugs, berth's choices).

use super::*;

/// berth's and runc's answers for one input: libseccomp as runc drives it, no workaround.
pub(super) fn answers(profile: &Value, d: Data) -> (String, String) {
    let text = serde_json::to_string(profile).unwrap();
    let ours = match crate::seccomp::compile_json(text.as_bytes()) {
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

pub(super) fn on_x86_64(nr: u32, args: [u64; 6]) -> Data {
    Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        ip: 0,
        args,
    }
}

pub(super) fn on_i386(nr: u32, args: [u64; 6]) -> Data {
    Data {
        nr,
        arch: AUDIT_ARCH_I386,
        ip: 0,
        args,
    }
}

pub(super) fn cond(i: u32, op: &str, v: u64) -> Value {
    json!({"index": i, "op": op, "value": v})
}

/// read(2) rules on a deny-list: (errno, conditions) each.
pub(super) fn read_rules(rules: &[(u32, Vec<Value>)]) -> Value {
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
