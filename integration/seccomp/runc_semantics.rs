//! The same answers as runc where libseccomp has its own rules, and profiles left with no rule
//! for the native ABI.

use super::{probe_bundle, profile, with_seccomp, EXDEV};
use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::{json, Value};
use std::path::PathBuf;

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
