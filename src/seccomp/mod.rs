//! `linux.seccomp`: the profile is compiled to a classic BPF program in the parent, before
//! clone (so a bad profile fails `create` with nothing made), and loaded by the init with a raw
//! seccomp(2) as late as it can be (see `init`).
//!
//! berth compiles the filter itself instead of through libseccomp: no C library on the start
//! path; one program covering every ABI of the host (x86_64, i386, x32) with per-rule actions,
//! errnos and NOTIFY; and a compile measured in microseconds, where libseccomp's is the largest
//! start-up cost crun reports. seccompiler cannot carry the OCI section (one action and one
//! architecture per filter, no NOTIFY, forced no_new_privs). libseccomp stays as the test
//! oracle: `oracle` runs both programs over the same inputs and requires the same answers.
//!
//! Rule semantics follow runc on libseccomp, so profiles behave as users know them:
//! - a rule whose action is the default action is dropped;
//! - names the architecture does not know are skipped, per architecture;
//! - the first unconditional rule for a syscall wins over every other rule for it;
//! - conditions of one rule must all hold; a rule naming one argument twice is split into one
//!   rule per condition (runc's workaround for libseccomp), so those conditions are alternatives;
//! - on i386, a rule for a socket or SysV IPC call also covers the multiplexed socketcall(2) or
//!   ipc(2) form with that call number, else a deny-list could be bypassed through them.

pub mod arch;
mod bpf;
mod compile;
pub mod notify;
mod syscalls;

pub mod interp;
#[cfg(test)]
mod oracle;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{
    Arch as SpecArch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag as F,
    LinuxSeccompOperator as O,
};

pub use arch::Arch;
pub use compile::compile;

use crate::spec::{Config, SpecError};

/// What the filter does with a syscall: the kernel's SECCOMP_RET_* value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    KillThread,
    KillProcess,
    Trap,
    Errno(u16),
    Trace(u16),
    Log,
    Notify,
    Allow,
}

impl Action {
    /// The filter's return value.
    pub fn ret(self) -> u32 {
        match self {
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Trace(d) => libc::SECCOMP_RET_TRACE | u32::from(d),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    fn from_spec(a: A, errno_ret: Option<u32>) -> Result<Action, String> {
        // errnoRet travels in the 16-bit SECCOMP_RET_DATA: a larger value cannot be expressed
        // (runc truncates it silently; berth says so).
        let data = |default: u16| match errno_ret {
            None => Ok(default),
            Some(v) => u16::try_from(v).map_err(|_| format!("{v} does not fit in 16 bits")),
        };
        Ok(match a {
            A::ScmpActKill | A::ScmpActKillThread => Action::KillThread,
            A::ScmpActKillProcess => Action::KillProcess,
            A::ScmpActTrap => Action::Trap,
            A::ScmpActErrno => Action::Errno(data(libc::EPERM as u16)?),
            A::ScmpActTrace => Action::Trace(data(libc::EPERM as u16)?),
            A::ScmpActLog => Action::Log,
            A::ScmpActNotify => Action::Notify,
            A::ScmpActAllow => Action::Allow,
        })
    }
}

/// An argument comparison, on the full 64-bit value (the low 32 bits on a 32-bit ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub conds: Vec<Cond>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    /// The ABIs the filter lets through, native first; every other ABI is killed.
    pub arches: Vec<Arch>,
    /// SECCOMP_FILTER_FLAG_* from `flags`.
    pub flags: u64,
    pub rules: Vec<Rule>,
}

/// Where the notify fd goes, when a rule uses SCMP_ACT_NOTIFY.
#[derive(Clone, Debug)]
pub struct Listener {
    pub path: PathBuf,
    pub metadata: String,
}

/// A compiled filter, ready for the init to load.
pub struct Program {
    pub filter: Vec<libc::sock_filter>,
    /// seccomp(2) flags, with NEW_LISTENER when a rule notifies.
    pub flags: u64,
    pub listener: Option<Listener>,
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19), missing from older libc crates.
const FLAG_WAIT_KILLABLE_RECV: u64 = 1 << 5;

/// Reads and checks `linux.seccomp`; errors name the JSON path of the bad field.
pub fn profile_from_spec(c: &Config, s: &LinuxSeccomp) -> Result<Profile, SpecError> {
    let field = |f: &str| format!("linux.seccomp.{f}");
    let default = Action::from_spec(s.default_action(), s.default_errno_ret())
        .map_err(|m| c.invalid(field("defaultErrnoRet"), m))?;
    if default == Action::Notify {
        return Err(c.invalid(
            field("defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action (the agent would field every syscall, \
             the runtime's own included)",
        ));
    }
    let native = Arch::native().ok_or_else(|| {
        c.invalid(
            "linux.seccomp",
            "berth's seccomp compiler has no syscall table for this machine's architecture",
        )
    })?;
    let mut arches = vec![native];
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        match Arch::from_spec(*a) {
            Some(a) if arches.contains(&a) => {}
            Some(a) if native.companions().contains(&a) => arches.push(a),
            // A process on this machine can never make a call of that ABI.
            _ if *a != SpecArch::ScmpArchNative => crate::logging::debug(&format!(
                "{}: {a:?} cannot run on this machine: skipped",
                field(&format!("architectures[{i}]"))
            )),
            _ => {}
        }
    }
    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let (bit, name) = match f {
            F::SeccompFilterFlagLog => (libc::SECCOMP_FILTER_FLAG_LOG, "LOG"),
            F::SeccompFilterFlagSpecAllow => (libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SPEC_ALLOW"),
            F::SeccompFilterFlagWaitKillableRecv => (FLAG_WAIT_KILLABLE_RECV, "WAIT_KILLABLE_RECV"),
            // The init is single-threaded: synchronising threads is a no-op, as in runc.
            F::SeccompFilterFlagTsync => continue,
        };
        if !crate::sys::seccomp_flag_supported(bit) {
            return Err(c.invalid(
                field(&format!("flags[{i}]")),
                format!("SECCOMP_FILTER_FLAG_{name} is not supported by this kernel"),
            ));
        }
        flags |= bit;
    }
    let mut rules = Vec::new();
    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let f = |rest: &str| field(&format!("syscalls[{i}]{rest}"));
        let action = Action::from_spec(sc.action(), sc.errno_ret())
            .map_err(|m| c.invalid(f(".errnoRet"), m))?;
        if sc.names().is_empty() {
            return Err(c.invalid(f(".names"), "must name at least one syscall"));
        }
        if let Some(j) = sc.names().iter().position(|n| n.is_empty()) {
            return Err(c.invalid(f(&format!(".names[{j}]")), "is empty"));
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            let index = u8::try_from(a.index())
                .ok()
                .filter(|&x| x < 6)
                .ok_or_else(|| {
                    c.invalid(
                        f(&format!(".args[{j}].index")),
                        format!("{} is not a syscall argument (0 to 5)", a.index()),
                    )
                })?;
            let op = match a.op() {
                O::ScmpCmpEq => Op::Eq,
                O::ScmpCmpNe => Op::Ne,
                O::ScmpCmpLt => Op::Lt,
                O::ScmpCmpLe => Op::Le,
                O::ScmpCmpGt => Op::Gt,
                O::ScmpCmpGe => Op::Ge,
                O::ScmpCmpMaskedEq => Op::MaskedEq(a.value()),
            };
            let value = match op {
                Op::MaskedEq(_) => a.value_two().unwrap_or(0),
                _ => a.value(),
            };
            conds.push(Cond { index, op, value });
        }
        if action == Action::Notify {
            notify = true;
            // The init's one write(2) after the filter is loaded hands the listener over; if
            // write notified, nobody could answer yet (runc has the same rule).
            if sc.names().iter().any(|n| n == "write") {
                return Err(c.invalid(
                    f(".names"),
                    "SCMP_ACT_NOTIFY cannot be used for write (berth hands the listener fd \
                     to the agent with it)",
                ));
            }
        }
        rules.push(Rule {
            names: sc.names().clone(),
            action,
            conds,
        });
    }
    if notify && s.listener_path().is_none() {
        return Err(c.invalid(
            field("listenerPath"),
            "is required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    Ok(Profile {
        default,
        arches,
        flags,
        rules,
    })
}

/// The compiled program for `linux.seccomp`, with its listener when a rule notifies.
pub fn plan(c: &Config, s: &LinuxSeccomp) -> Result<Program, SpecError> {
    let profile = profile_from_spec(c, s)?;
    let mut program = compile(&profile);
    // The kernel's limit (BPF_MAXINSNS); refused here rather than by the init after clone.
    if program.filter.len() > 4096 {
        return Err(c.invalid(
            "linux.seccomp",
            format!(
                "compiles to {} BPF instructions, more than the kernel's limit of 4096",
                program.filter.len()
            ),
        ));
    }
    if !profile.rules.iter().any(|r| r.action == Action::Notify) {
        // It only concerns notifications, and the kernel refuses it without a listener.
        program.flags &= !FLAG_WAIT_KILLABLE_RECV;
    } else {
        program.flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        program.listener = s.listener_path().as_ref().map(|p| Listener {
            path: p.clone(),
            metadata: s.listener_metadata().clone().unwrap_or_default(),
        });
    }
    Ok(program)
}

impl Program {
    /// Whether the filter lets a native call of `name` through (argument values zero) or
    /// hands it to someone who may (NOTIFY's agent, TRACE's tracer). Used to refuse, before
    /// anything exists, a profile under which the container's process could never start.
    pub fn lets_through(&self, name: &str) -> bool {
        let Some(arch) = Arch::native() else {
            return true;
        };
        let Some(nr) = arch.syscall(name) else {
            return true;
        };
        let data = interp::Data {
            nr,
            arch: arch.audit(),
            ..Default::default()
        };
        match interp::run(&self.filter, &data) {
            Ok((ret, _)) => matches!(
                ret & libc::SECCOMP_RET_ACTION_FULL,
                libc::SECCOMP_RET_ALLOW
                    | libc::SECCOMP_RET_LOG
                    | libc::SECCOMP_RET_USER_NOTIF
                    | libc::SECCOMP_RET_TRACE
            ),
            Err(_) => false,
        }
    }
}

/// Loads the program into the calling thread; the listener fd if NEW_LISTENER was asked for.
pub fn load(p: &Program) -> std::io::Result<Option<OwnedFd>> {
    crate::sys::seccomp_set_filter(&p.filter, p.flags)
}

/// Parses and compiles a `linux.seccomp` object on its own: for tests, fuzzing and benchmarks.
pub fn compile_json(json: &[u8]) -> Result<Program, String> {
    let s: LinuxSeccomp = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let c = Config {
        spec: Default::default(),
        file: "seccomp.json".into(),
        bundle: ".".into(),
        text: Vec::new(),
    };
    plan(&c, &s).map_err(|e| e.to_string())
}
