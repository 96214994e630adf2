//! Rule actions: what a denied call returns (ERRNO, errnoRet, defaultErrnoRet), how it kills
//! (KILL_*, TRAP), TRACE without a tracer, LOG, argument filters, and the LOG filter flag.

use super::{
    allow_list, deny_mkdir, probe_under, profile, result_of, sh_under, with_seccomp, EXDEV,
    KILLED_BY_SIGSYS,
};
use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::json;

#[test]
fn errno_action_denies_mkdir_with_eperm() {
    need_root!();
    let out = sh_under(
        // A name this kernel's table does not know is skipped, the rule's others still apply.
        profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["not_a_syscall", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]),
        ),
        "mkdir /dev/shm/d; echo rc=$?; [ -d /dev/shm/d ] && echo exists || echo absent; \
         touch /dev/shm/f && echo touched",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Operation not permitted\nrc=1\nabsent\n\
         touched\n"
    );
}

#[test]
fn errno_ret_is_the_errno_seen() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV})),
        "mkdir /dev/shm/d; echo rc=$?",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Invalid cross-device link\nrc=1\n"
    );
    // The same through the probe: the raw syscall returns -EXDEV.
    let out = probe_under(
        Some(deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV}))),
        &["mkdir64:/dev/shm/p"],
    );
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/p"), -i64::from(EXDEV));
}

#[test]
fn argument_filter_allows_one_value_and_denies_another() {
    need_root!();
    // personality(PER_LINUX32 = 8) is denied; any other persona, and the query, are allowed.
    let seccomp = profile(
        "SCMP_ACT_ALLOW",
        json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
        }]),
    );
    // sys32:88:8 is the i386 personality(8), through int 0x80.
    let steps = [
        "personality:8",
        "sys32:88:8",
        "personality:ffffffff",
        "personality:20000",
        "personality:0",
    ];
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        // The query shows 8 was never applied; 0x20000 (UNAME26) was.
        "personality:8 = -18\nsys32:88:8 = -18\npersonality:ffffffff = 0\n\
         personality:20000 = 0\npersonality:0 = 131072\n"
    );
}

#[test]
fn masked_eq_compares_the_masked_argument() {
    need_root!();
    // Denied when (persona & PER_MASK) == PER_LINUX32, whatever the flag bits.
    let seccomp = profile(
        "SCMP_ACT_ALLOW",
        json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 0xff, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]
        }]),
    );
    let steps = [
        "personality:8",
        "personality:40008",
        "personality:40000",
        "personality:ffffffff",
    ];
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        // 0x40000 (ADDR_NO_RANDOMIZE) masks to 0: allowed; the query masks to 0xff: allowed.
        "personality:8 = -18\npersonality:40008 = -18\npersonality:40000 = 0\n\
         personality:ffffffff = 262144\n"
    );
}

#[test]
fn kill_process_kills_the_container_with_sigsys() {
    need_root!();
    // SCMP_ACT_KILL is KILL_THREAD; the process is single-threaded, so it dies the same way;
    // SCMP_ACT_TRAP sends SIGSYS, whose default action kills too.
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
    ] {
        let b = with_seccomp(Bundle::new(), deny_mkdir(action, json!({}))).args(&[
            "sh",
            "-c",
            "echo before; exec mkdir /dev/shm/k; echo after",
        ]);
        let c = Container::new(b);
        let out = c.run(&[]);
        assert_eq!(out.code(), Some(KILLED_BY_SIGSYS), "{action}: {out}");
        assert_eq!(out.stdout, "before\n", "{action}: {out}");
        c.assert_no_leftovers();
    }
}

#[test]
fn trace_without_a_tracer_fails_the_call_with_enosys() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_TRACE", json!({})),
        "mkdir /dev/shm/t; echo rc=$?",
    );
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/t': Function not implemented\nrc=1\n"
    );
}

#[test]
fn default_errno_with_an_allow_list_runs_busybox_sh() {
    need_root!();
    let out = sh_under(
        allow_list(&[]),
        "echo hello; echo piped | cat; ls -d /dev/shm; mkdir /dev/shm/x; echo rc=$?",
    );
    assert_eq!(
        out,
        "hello\npiped\n/dev/shm\nmkdir: can't create directory '/dev/shm/x': \
         Operation not permitted\nrc=1\n"
    );
}

#[test]
fn default_errno_ret_is_the_errno_of_unlisted_calls() {
    need_root!();
    let mut seccomp = allow_list(&[]);
    seccomp["defaultErrnoRet"] = json!(EXDEV);
    let out = sh_under(seccomp, "echo hello; mkdir /dev/shm/x; echo rc=$?");
    assert_eq!(
        out,
        "hello\nmkdir: can't create directory '/dev/shm/x': Invalid cross-device link\nrc=1\n"
    );
}

#[test]
fn log_action_leaves_the_process_running() {
    need_root!();
    let out = sh_under(
        deny_mkdir("SCMP_ACT_LOG", json!({})),
        "mkdir /dev/shm/l && echo made; [ -d /dev/shm/l ] && echo exists; echo still-running",
    );
    assert_eq!(out, "made\nexists\nstill-running\n");
}

/// berth-specific: runc 1.1.5 refuses any `flags` ("seccomp flags are not yet supported by
/// runc"; runc 1.2 takes them).
#[test]
fn filter_flag_log_is_accepted() {
    need_berth!();
    let mut seccomp = deny_mkdir("SCMP_ACT_ERRNO", json!({"errnoRet": EXDEV}));
    seccomp["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let out = sh_under(seccomp, "mkdir /dev/shm/d; echo rc=$?");
    assert_eq!(
        out,
        "mkdir: can't create directory '/dev/shm/d': Invalid cross-device link\nrc=1\n"
    );
}
