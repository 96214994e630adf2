//! Random profiles, within the limits where libseccomp 2.5.4 can serve as the oracle.

use super::*;

/// Names libseccomp 2.5.4 and berth both know, on x86_64 (most on i386 and x32 too).
pub(super) const POOL: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "fstat",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "ioctl",
    "pread64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "mremap",
    "madvise",
    "dup",
    "dup2",
    "nanosleep",
    "getpid",
    "sendfile",
    "socket",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "clone",
    "fork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "fcntl",
    "flock",
    "openat",
    "futex",
    "personality",
    "prctl",
    "arch_prctl",
    "accept4",
    "recvmmsg",
    "sendmmsg",
    "semop",
    "semget",
    "shmat",
    "msgrcv",
    "_llseek",
    "socketcall",
    "ipc",
    "mount",
    "unshare",
    "clone3",
    "pidfd_open",
];

pub(super) const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_NOTIFY",
];

pub(super) const OPS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

pub(super) fn random_value(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 | 1 => rng.below(16) as u64,
        2 => (1u64 << 32)
            .wrapping_add(rng.below(5) as u64)
            .wrapping_sub(2),
        3 => 1 << rng.below(64),
        4 => 0xffff_ffff_0000_0000 | rng.below(16) as u64,
        5 => rng.next() & 0xffff_ffff,
        _ => rng.next(),
    }
}

pub(super) fn random_mask(rng: &mut Rng) -> u64 {
    let (r1, r2) = (rng.next(), rng.next());
    *rng.pick(&[
        0,
        0xff,
        0xffff_ffff,
        0xffff_ffff_0000_0000,
        0xf_0000_000f,
        0x7e02_0000,
        u64::MAX,
        1 << 40,
        r1,
        r2 & 0xffff_0000_ffff,
    ])
}

pub(super) fn random_action(
    rng: &mut Rng,
    o: &mut serde_json::Map<String, Value>,
    key: &str,
    errno: &str,
) {
    let a = *rng.pick(ACTIONS);
    o.insert(key.into(), json!(a));
    // libseccomp 2.5 refuses an errno of MAX_ERRNO (4095) or more (the kernel caps it at 4095), so
    // runc fails such a profile: ERRNO data stays within it here. TRACE's may be any u16.
    let data: &[u32] = match a {
        "SCMP_ACT_ERRNO" => &[0, 1, 13, 38, 4094],
        "SCMP_ACT_TRACE" => &[0, 1, 38, 4095, 32767, 65535],
        _ => return,
    };
    if !rng.one_in(3) {
        o.insert(errno.into(), json!(*rng.pick(data)));
    }
}

/// An action as the filter returns it, for comparing rules' actions.
pub(super) fn action_key(o: &serde_json::Map<String, Value>, key: &str, errno: &str) -> ScmpAction {
    let a: A = serde_json::from_value(o[key].clone()).unwrap();
    let e = o.get(errno).and_then(Value::as_u64).map(|e| e as u32);
    scmp_action(a, e)
}

/// The syscall whose rule list a name's rules join: on i386 a socket call's rules also go to
/// socketcall(2), a SysV IPC call's to ipc(2).
pub(super) fn rule_list(name: &str) -> &str {
    match Arch::X86.multiplexed(name) {
        Some((102, _)) => "socketcall",
        Some((117, _)) => "ipc",
        _ => name,
    }
}

/// The restrictions on random profiles: where libseccomp 2.5.4 cannot serve as the oracle.
///
/// 1. Conditional rules with different actions on one syscall. berth tries a syscall's rules
///    in profile order, the first match deciding; libseccomp merges them into one decision
///    tree sorted by its own keys (argument, operator, value) whatever the order, and refuses
///    some combinations (EEXIST), which fails runc's create. See
///    `libseccomp_orders_conditional_rules_its_own_way`. So every conditional rule of one
///    syscall has the same action here (a rule with the default action is dropped by both, and
///    the first unconditional rule wins in both, so those are free).
/// 2. One argument tested by several rules of a syscall with LT/LE/GT/GE/NE. libseccomp
///    2.5.4 generates wrong BPF for some of these (it drops an accumulator reload when it
///    backtracks from one rule's low-word test to the next rule's high-word test); see
///    `libseccomp_mishandles_ranges_on_one_argument`. So an argument tested by such an
///    operator is tested by no other rule of that syscall (EQ and MASKED_EQ may repeat).
///
/// On i386 a socket or IPC call's rules are rules of socketcall(2) or ipc(2) conditional on
/// the call number in argument 0, even without args: they count as that syscall's.
pub(super) struct Limits {
    pub(super) default: ScmpAction,
    /// By rule list: the action of its conditional rules, and per argument a bit set
    /// (1: tested, 2: tested with a range or NE).
    pub(super) lists: BTreeMap<String, (Option<ScmpAction>, [u8; 6])>,
    /// Whether restriction 1 applies (restriction 2 always does).
    pub(super) one_action: bool,
}

impl Limits {
    /// Whether a rule for `name` with `args` and `action` keeps the profile within the
    /// restrictions; if so it is recorded.
    pub(super) fn admit(&mut self, name: &str, args: &[Value], action: ScmpAction) -> bool {
        let list = rule_list(name);
        let muxed = list != name;
        if action == self.default || (args.is_empty() && !muxed) {
            return true;
        }
        let conds: Vec<(usize, bool)> = args
            .iter()
            .map(|a| {
                let op = a["op"].as_str().unwrap();
                let ranged = !matches!(op, "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ");
                (a["index"].as_u64().unwrap() as usize, ranged)
            })
            .collect();
        // runc's split: a rule naming an argument twice is one rule per condition.
        let repeated = (0..6).any(|i| conds.iter().filter(|c| c.0 == i).count() > 1);
        let mut units: Vec<Vec<(usize, bool)>> = if repeated {
            conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![conds]
        };
        if muxed {
            for u in units.iter_mut() {
                u.push((0, false));
            }
        }
        let (had, mut tested) = self.lists.get(list).copied().unwrap_or_default();
        if self.one_action && had.is_some_and(|a| a != action) {
            return false;
        }
        for u in &units {
            for &(i, ranged) in u {
                if tested[i] & 1 != 0 && (ranged || tested[i] & 2 != 0) {
                    return false;
                }
            }
            for &(i, ranged) in u {
                tested[i] |= 1 | if ranged { 2 } else { 0 };
            }
        }
        self.lists.insert(list.to_string(), (Some(action), tested));
        true
    }
}

pub(super) fn random_profile(rng: &mut Rng, restrict: bool) -> Value {
    let mut p = serde_json::Map::new();
    loop {
        random_action(rng, &mut p, "defaultAction", "defaultErrnoRet");
        if p["defaultAction"] != "SCMP_ACT_NOTIFY" {
            break;
        }
        p.remove("defaultErrnoRet");
    }
    let arches: Vec<&str> = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        .into_iter()
        .filter(|_| !rng.one_in(3))
        .collect();
    p.insert("architectures".into(), json!(arches));
    let mut limits = Limits {
        default: action_key(&p, "defaultAction", "defaultErrnoRet"),
        lists: BTreeMap::new(),
        one_action: true,
    };
    let mut calls = Vec::new();
    let mut notify = false;
    // 1 to 40 entries; now and then 0 to 2, where an ABI's section is easily empty.
    let entries = if rng.one_in(8) {
        rng.below(3)
    } else {
        1 + rng.below(40)
    };
    for _ in 0..entries {
        let mut c = serde_json::Map::new();
        random_action(rng, &mut c, "action", "errnoRet");
        let mut names: Vec<&str> = (0..1 + rng.below(4)).map(|_| *rng.pick(POOL)).collect();
        if c["action"] == "SCMP_ACT_NOTIFY" {
            // berth and runc both refuse NOTIFY for write (it hands the listener over).
            names.retain(|n| *n != "write");
            if names.is_empty() {
                names.push("read");
            }
            notify = true;
        }
        c.insert("names".into(), json!(names));
        let mut args = Vec::new();
        for _ in 0..rng.below(4) {
            let index = if rng.one_in(4) {
                rng.below(6)
            } else {
                rng.below(3)
            };
            let op = *rng.pick(OPS);
            let a = if op == "SCMP_CMP_MASKED_EQ" {
                let mask = random_mask(rng);
                let v = if rng.one_in(4) {
                    random_value(rng)
                } else {
                    random_value(rng) & mask
                };
                json!({"index": index, "op": op, "value": mask, "valueTwo": v})
            } else {
                json!({"index": index, "op": op, "value": random_value(rng)})
            };
            args.push(a);
        }
        if restrict {
            let action = action_key(&c, "action", "errnoRet");
            names.retain(|n| limits.admit(n, &args, action));
            if names.is_empty() {
                continue;
            }
            c.insert("names".into(), json!(names));
        }
        if !args.is_empty() {
            c.insert("args".into(), json!(args));
        }
        calls.push(Value::Object(c));
    }
    p.insert("syscalls".into(), json!(calls));
    if notify {
        p.insert("listenerPath".into(), json!("/run/berth-test/notify.sock"));
    }
    Value::Object(p)
}
