//! Whole profiles: Docker's default runs a busybox shell; bad profiles are refused with one
//! line naming the field, and nothing is left.

use super::{probe_bundle, profile, run_ok, with_seccomp, EPERM, EXDEV};
use crate::bundle::Bundle;
use crate::common::{berth_specific_enabled, Container};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

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
