//! The process's state under a filter (NoNewPrivs, Seccomp, capabilities with and without
//! no_new_privs), and what the runtime itself needs from a profile (execve, capset).

use super::{
    allow_list, deny_mkdir, probe_bundle, probe_under_bundle, profile, run_ok, status_of,
    with_seccomp, BUSYBOX_SYSCALLS, STATUS_FIELDS,
};
use crate::bundle::Bundle;
use crate::common::{berth_specific_enabled, runtime_is_berth, Container};
use serde_json::json;

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
