//! The syscall ABIs a filter covers: each one's AUDIT_ARCH value (what seccomp_data.arch holds),
//! argument width and syscall table.

use oci_spec::runtime::Arch as SpecArch;

use super::syscalls;

/// Set in the syscall number of every x32 call; x32 shares AUDIT_ARCH_X86_64 with x86_64.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    X86,
    X32,
}

impl Arch {
    /// The ABI this build of berth runs as, if berth has its tables.
    pub fn native() -> Option<Arch> {
        cfg!(target_arch = "x86_64").then_some(Arch::X86_64)
    }

    /// The other ABIs a process on this machine can call the kernel through.
    pub fn companions(self) -> &'static [Arch] {
        match self {
            Arch::X86_64 => &[Arch::X86, Arch::X32],
            Arch::X86 | Arch::X32 => &[],
        }
    }

    pub fn from_spec(a: SpecArch) -> Option<Arch> {
        match a {
            SpecArch::ScmpArchX86_64 => Some(Arch::X86_64),
            SpecArch::ScmpArchX86 => Some(Arch::X86),
            SpecArch::ScmpArchX32 => Some(Arch::X32),
            SpecArch::ScmpArchNative => Arch::native(),
            _ => None,
        }
    }

    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
        }
    }

    /// Whether arguments are 32-bit: only their low word is compared, as the kernel zero-fills
    /// the high word for such calls.
    pub fn is_32bit(self) -> bool {
        self == Arch::X86
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => syscalls::X86_64,
            Arch::X86 => syscalls::X86,
            Arch::X32 => syscalls::X32,
        }
    }

    /// The number of a syscall on this ABI, if it has one.
    pub fn syscall(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| t[i].1)
    }

    /// For a socket or SysV IPC call on an ABI that multiplexes them, the multiplexer's number
    /// and the call's number in its first argument (linux/net.h SYS_*, and ipc's call numbers).
    pub fn multiplexed(self, name: &str) -> Option<(u32, u64)> {
        if self != Arch::X86 {
            return None;
        }
        const SOCKETCALL: u32 = 102;
        const IPC: u32 = 117;
        const SOCKET: [&str; 20] = [
            "socket",
            "bind",
            "connect",
            "listen",
            "accept",
            "getsockname",
            "getpeername",
            "socketpair",
            "send",
            "recv",
            "sendto",
            "recvfrom",
            "shutdown",
            "setsockopt",
            "getsockopt",
            "sendmsg",
            "recvmsg",
            "accept4",
            "recvmmsg",
            "sendmmsg",
        ];
        const IPC_CALLS: [(&str, u64); 12] = [
            ("semop", 1),
            ("semget", 2),
            ("semctl", 3),
            ("semtimedop", 4),
            ("msgsnd", 11),
            ("msgrcv", 12),
            ("msgget", 13),
            ("msgctl", 14),
            ("shmat", 21),
            ("shmdt", 22),
            ("shmget", 23),
            ("shmctl", 24),
        ];
        if let Some(i) = SOCKET.iter().position(|n| *n == name) {
            return Some((SOCKETCALL, i as u64 + 1));
        }
        IPC_CALLS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, call)| (IPC, call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_known_numbers() {
        assert_eq!(Arch::X86_64.syscall("read"), Some(0));
        assert_eq!(Arch::X86_64.syscall("execve"), Some(59));
        assert_eq!(Arch::X86_64.syscall("clone3"), Some(435));
        assert_eq!(Arch::X86_64.syscall("listns"), Some(470));
        assert_eq!(Arch::X86.syscall("execve"), Some(11));
        assert_eq!(Arch::X86.syscall("socketcall"), Some(102));
        assert_eq!(Arch::X32.syscall("execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(Arch::X86_64.syscall("socketcall"), None);
        assert_eq!(Arch::X86_64.syscall("no_such_call"), None);
    }

    #[test]
    fn only_i386_multiplexes() {
        assert_eq!(Arch::X86.multiplexed("socket"), Some((102, 1)));
        assert_eq!(Arch::X86.multiplexed("sendmmsg"), Some((102, 20)));
        assert_eq!(Arch::X86.multiplexed("shmctl"), Some((117, 24)));
        assert_eq!(Arch::X86.multiplexed("read"), None);
        assert_eq!(Arch::X86_64.multiplexed("socket"), None);
    }
}
