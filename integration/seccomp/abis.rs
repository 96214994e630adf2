//! Foreign ABIs: i386 calls through `int $0x80`, x32 calls, architectures not listed, and the
//! i386 socketcall multiplexer.

use super::{probe_under, result_of, EXDEV, KILLED_BY_SIGSYS};
use serde_json::json;

#[test]
fn int80_calls_of_a_denied_syscall_are_denied_too() {
    need_root!();
    let steps = [
        "mkdir64:/dev/shm/a",
        "mkdir32:/dev/shm/b",
        "getpid32",
        "say:done",
    ];
    // Without a profile both calls work: the probe's i386 path is real.
    let out = probe_under(None, &steps);
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/a"), 0);
    assert_eq!(result_of(&out, "mkdir32:/dev/shm/b"), 0);

    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}]
    });
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(result_of(&out, "mkdir64:/dev/shm/a"), -i64::from(EXDEV));
    assert_eq!(result_of(&out, "mkdir32:/dev/shm/b"), -i64::from(EXDEV));
    // The i386 ABI itself is allowed: its getpid answers (the probe is pid 1).
    assert_eq!(result_of(&out, "getpid32"), 1);
    assert!(out.stdout.ends_with("done\n"), "{out}");
}

#[test]
fn an_abi_not_listed_is_killed() {
    need_root!();
    let only_native = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    for step in ["getpid32", "getpidx32"] {
        let out = probe_under(
            Some(only_native.clone()),
            &["say:before", step, "say:after"],
        );
        assert_eq!(out.code(), Some(KILLED_BY_SIGSYS), "{step}: {out}");
        assert_eq!(out.stdout, "before\n", "{step}: {out}");
    }
    // Listed, x32 gets through the filter: the kernel answers (-ENOSYS when built without x32).
    let mut with_x32 = only_native.clone();
    with_x32["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]);
    let out = probe_under(Some(with_x32), &["say:before", "getpidx32", "say:after"]);
    out.assert_ok();
    let ret = result_of(&out, "getpidx32");
    assert!(ret == 1 || ret == -38, "{out}");
    assert!(out.stdout.ends_with("after\n"), "{out}");
}

#[test]
fn a_socket_rule_covers_i386_socketcall_too() {
    need_root!();
    let steps = ["socket64", "socket32", "socketcall32"];
    // Without a profile, each makes a socket (fds 3, 4, 5).
    let out = probe_under(None, &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout, "socket64 = 3\nsocket32 = 4\nsocketcall32 = 5\n",
        "{out}"
    );
    // Denying socket denies the multiplexed i386 socketcall(SYS_SOCKET, ...) as well, or a
    // deny-list could be bypassed through it.
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}]
    });
    let out = probe_under(Some(seccomp), &steps);
    out.assert_ok();
    assert_eq!(
        out.stdout, "socket64 = -18\nsocket32 = -18\nsocketcall32 = -18\n",
        "{out}"
    );
}
