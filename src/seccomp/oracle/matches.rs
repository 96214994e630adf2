//! The profiles that must get the same answers from berth and libseccomp: Docker's default, hand-
//! written ones, random ones.

use super::*;

pub(super) fn docker_default() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/integration/data/seccomp/docker-default.oci.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect(path)).expect(path)
}

/// Runs `compare` and panics with the report, and a minimized profile when they differ.
pub(super) fn must_agree(label: &str, profile: &Value, rng: &mut Rng, sweep: Sweep) -> Outcome {
    match compare(profile, rng, sweep) {
        Ok(o) => o,
        Err(e @ Failure::Differ { .. }) => {
            let min = minimize(profile, still_differs);
            panic!("{label}: berth and libseccomp differ\nminimized profile: {min}\n{e}")
        }
        Err(e) => panic!("{label}: {e}"),
    }
}

#[test]
fn docker_default_profile_matches_libseccomp() {
    let o = must_agree(
        "docker-default",
        &docker_default(),
        &mut Rng::new(1),
        Sweep::Full,
    );
    eprintln!(
        "docker-default: {} inputs agree ({} x32 inputs without an x86_64 twin skipped)",
        o.inputs, o.skipped
    );
    assert!(!o.load_fixed);
}

#[test]
fn docker_default_program_is_not_longer_than_libseccomps() {
    // runc's filter for Docker's profile: more than 32 syscalls, so optimize level 2.
    let o = must_agree(
        "docker-default",
        &docker_default(),
        &mut Rng::new(2),
        Sweep::Sample,
    );
    eprintln!(
        "docker-default program: berth {} instructions, libseccomp (optimize 2) {}",
        o.berth_len, o.libseccomp_len
    );
    assert!(o.berth_len <= o.libseccomp_len);
}

/// Profiles written to cover each action, each operator and the ABI corners.
pub(super) fn hand_written() -> Vec<(&'static str, Value)> {
    let arches = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let c = |i: u32, op: &str, v: u64| json!({"index": i, "op": op, "value": v});
    let m = |i: u32, mask: u64, v: u64| json!({"index": i, "op": "SCMP_CMP_MASKED_EQ", "value": mask, "valueTwo": v});
    vec![
        (
            "every action, unconditional",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches,
                "listenerPath": "/run/notify.sock", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["write"], "action": "SCMP_ACT_LOG"},
                {"names": ["open", "openat"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["close"], "action": "SCMP_ACT_TRAP"},
                {"names": ["fstat"], "action": "SCMP_ACT_KILL"},
                {"names": ["lseek"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["mmap"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["mprotect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["munmap"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
                {"names": ["brk"], "action": "SCMP_ACT_TRACE"},
                {"names": ["ioctl"], "action": "SCMP_ACT_TRACE", "errnoRet": 65535},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4094},
                {"names": ["read"], "action": "SCMP_ACT_KILL"},
            ]}),
        ),
        (
            "every action as the default, one rule each",
            json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7, "architectures": arches,
                "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
        ),
        (
            "kill-process default, x86_64 only",
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
                "syscalls": [{"names": ["getpid", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}),
        ),
        (
            "every operator, small and wide values",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [c(0, "SCMP_CMP_EQ", 3)]},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO", "args": [c(0, "SCMP_CMP_NE", 1)]},
                {"names": ["pread64"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 4096)]},
                {"names": ["pwrite64"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LE", 4096)]},
                {"names": ["readv"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GT", 8)]},
                {"names": ["writev"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GE", 8)]},
                {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_EQ", 0x1_0000_0005)]},
                {"names": ["ftruncate"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_NE", 0xffff_ffff_0000_0000)]},
                {"names": ["fallocate"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 0x1_0000_0000)]},
                {"names": ["truncate"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_LE", 0x7fff_ffff_ffff_ffff)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [c(1, "SCMP_CMP_GT", 0xffff_ffff)]},
                {"names": ["mremap"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GE", 0x8000_0000_0000_0001)]},
                {"names": ["madvise"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_GT", u64::MAX - 1)]},
                {"names": ["msync"], "action": "SCMP_ACT_ERRNO", "args": [c(2, "SCMP_CMP_LT", 1)]},
            ]}),
        ),
        (
            "MASKED_EQ masks across both words",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [m(0, 0x7e02_0000, 0)]},
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "args": [m(0, 0x1000_0000, 0x1000_0000)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xffff_0000_0000_00ff, 0x1234_0000_0000_0007)]},
                {"names": ["mprotect"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xffff_ffff_0000_0000, 0)]},
                {"names": ["madvise"], "action": "SCMP_ACT_ERRNO", "args": [m(2, 0xf_0000_000f, 0x3_0000_0001)]},
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [m(1, u64::MAX, 0x5401)]},
                {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "args": [m(1, 0, 0)]},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [m(1, 0xff, 0x1ff)]},
            ]}),
        ),
        (
            "an allow-list with defaultErrnoRet",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": arches,
                "syscalls": [
                {"names": ["read", "write", "exit_group", "rt_sigreturn", "futex", "brk"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 0)]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 0xffff_ffff)]},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [c(0, "SCMP_CMP_EQ", 1), c(1, "SCMP_CMP_MASKED_EQ", 0xf)]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ]}),
        ),
        (
            "socket family on i386: socketcall forms, with and without args",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [c(0, "SCMP_CMP_EQ", 16), c(2, "SCMP_CMP_EQ", 9)]},
                {"names": ["connect", "accept", "sendmsg"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["bind"], "action": "SCMP_ACT_TRAP"},
                {"names": ["send", "recv"], "action": "SCMP_ACT_LOG"},
                {"names": ["recvmmsg", "sendmmsg", "accept4"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["setsockopt"], "action": "SCMP_ACT_ERRNO", "errnoRet": 92, "args": [c(1, "SCMP_CMP_EQ", 41)]},
                {"names": ["shmget", "msgsnd", "semop", "semtimedop"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["shmat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x1000)]},
            ]}),
        ),
        (
            "an unconditional socketcall wins over the socket rules",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["socket", "connect"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["socketcall"], "action": "SCMP_ACT_TRAP"},
                {"names": ["ipc"], "action": "SCMP_ACT_LOG", "args": [c(0, "SCMP_CMP_EQ", 21)]},
            ]}),
        ),
        (
            "names one ABI lacks",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["_llseek", "socketcall", "arch_prctl", "waitpid", "newfstatat", "ipc"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["epoll_ctl_old", "vm86", "set_thread_area", "rt_sigaction", "mmap2"], "action": "SCMP_ACT_TRAP"},
                {"names": ["no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
            ]}),
        ),
        (
            "one argument named twice: runc's one rule per condition",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(0, "SCMP_CMP_EQ", 0), c(0, "SCMP_CMP_EQ", 8), c(0, "SCMP_CMP_EQ", 0x2_0000)]},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(1, "SCMP_CMP_EQ", 0), c(1, "SCMP_CMP_EQ", 15), c(0, "SCMP_CMP_EQ", 1)]},
                {"names": ["prctl"], "action": "SCMP_ACT_ALLOW",
                    "args": [c(0, "SCMP_CMP_GE", 0x1_0000_0000), c(0, "SCMP_CMP_EQ", 0x1_0000_0001)]},
            ]}),
        ),
        (
            "conditions on several arguments, several rules",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": [
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
                    "args": [c(2, "SCMP_CMP_MASKED_EQ", 4), c(3, "SCMP_CMP_EQ", 0x22), c(4, "SCMP_CMP_NE", u64::MAX)]},
                {"names": ["mmap"], "action": "SCMP_ACT_ERRNO", "args": [c(3, "SCMP_CMP_EQ", 0x21), c(5, "SCMP_CMP_GT", 4096)]},
                {"names": ["openat"], "action": "SCMP_ACT_KILL", "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x40)]},
                {"names": ["openat"], "action": "SCMP_ACT_KILL", "args": [c(2, "SCMP_CMP_MASKED_EQ", 0x200)]},
            ]}),
        ),
        ("Docker's default profile", docker_default()),
    ]
}

#[test]
fn hand_written_profiles_match_libseccomp() {
    for (i, (label, p)) in hand_written().iter().enumerate() {
        let o = must_agree(label, p, &mut Rng::new(100 + i as u64), Sweep::Full);
        eprintln!("{label}: {} inputs agree", o.inputs);
    }
}

/// Profiles whose native ABI has no rule of its own (only defaults, only other ABIs' names):
/// every x86_64 call must get the default action.
#[test]
fn profiles_without_native_rules_match_libseccomp() {
    let profiles = [
        json!({"defaultAction": "SCMP_ACT_LOG",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
        json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["socketcall", "_llseek"], "action": "SCMP_ACT_ALLOW"}]}),
        json!({"defaultAction": "SCMP_ACT_KILL_THREAD", "syscalls": []}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X32"]}),
    ];
    for (i, p) in profiles.iter().enumerate() {
        must_agree(
            &p.to_string(),
            p,
            &mut Rng::new(200 + i as u64),
            Sweep::Full,
        );
    }
}

#[test]
fn random_profiles_match_libseccomp() {
    let mut inputs = 0;
    let mut load_fixed = 0;
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        let profile = random_profile(&mut rng, true);
        let sweep = if seed % 16 == 0 {
            Sweep::Full
        } else {
            Sweep::Sample
        };
        let o = must_agree(
            &format!("random profile, seed {seed}"),
            &profile,
            &mut rng,
            sweep,
        );
        inputs += o.inputs;
        load_fixed += usize::from(o.load_fixed);
    }
    eprintln!(
        "random profiles: {inputs} inputs agree ({load_fixed} profiles hit libseccomp's lost \
         syscall-number load and were compared at optimize 2)"
    );
}
