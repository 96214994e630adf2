//! `process.capabilities`: the five capability sets, applied after the user switch.
//!
//! rustix provides capset and the bounding/ambient prctls; this module maps the spec's names to
//! numbers (oci-spec's closed enum cannot carry names it does not know, and the spec says unknown
//! names only warn) and applies the sets in the kernel's required order.

use rustix::thread::{self, CapabilitySet, CapabilitySets};

/// Capability names by number, as in linux/capability.h.
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The number of a capability name (`CAP_KILL` or `KILL`), if berth knows it.
pub fn number(name: &str) -> Option<u32> {
    let full = name.strip_prefix("CAP_").unwrap_or(name);
    NAMES
        .iter()
        .position(|n| n[4..].eq_ignore_ascii_case(full))
        .map(|i| i as u32)
}

/// The five sets as bit masks, computed before clone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

/// A mask from names; names the kernel or berth does not know are skipped (the caller warned).
pub fn mask<'a>(names: impl IntoIterator<Item = &'a str>, last_cap: u32) -> u64 {
    names
        .into_iter()
        .filter_map(number)
        .filter(|&n| n <= last_cap)
        .fold(0, |m, n| m | (1u64 << n))
}

/// The highest capability the running kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The capabilities this process holds (its permitted set): all that a container it starts can
/// be given.
pub fn held() -> u64 {
    thread::capabilities(None).map_or(u64::MAX, |s| s.permitted.bits())
}

/// The names of the capabilities in `mask`, comma-separated.
pub fn names(mask: u64) -> String {
    let named = NAMES.iter().enumerate();
    let set: Vec<&str> = named
        .filter(|(n, _)| mask & (1 << n) != 0)
        .map(|(_, name)| *name)
        .collect();
    set.join(", ")
}

/// Effective, permitted and inheritable in one capset. A capability leaving the permitted set
/// leaves the ambient set with it.
pub fn set(sets: &Sets) -> std::io::Result<()> {
    thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::from_bits_retain(sets.effective),
            permitted: CapabilitySet::from_bits_retain(sets.permitted),
            inheritable: CapabilitySet::from_bits_retain(sets.inheritable),
        },
    )?;
    Ok(())
}

/// Removes from the bounding set every capability not in `sets.bounding`. Needs CAP_SETPCAP,
/// so it runs before the uid switch; the error names the capability that failed.
pub fn drop_bounding(sets: &Sets, last_cap: u32) -> Result<(), (u32, std::io::Error)> {
    for n in 0..=last_cap {
        if sets.bounding & (1 << n) == 0 {
            thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(1 << n))
                .map_err(|e| (n, e.into()))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient. Runs after the uid switch with keep-caps
/// set, so the permitted set still holds what the new sets need; the bounding set was reduced
/// before the switch (that needs CAP_SETPCAP).
pub fn apply(sets: &Sets) -> std::io::Result<()> {
    set(sets)?;
    thread::clear_ambient_capability_set()?;
    for n in 0..64 {
        if sets.ambient & (1 << n) != 0 {
            // The kernel refuses ambient capabilities that are not permitted and inheritable;
            // runc ignores that failure too, so a config listing them only in ambient still runs.
            let _ = thread::configure_capability_in_ambient_set(
                CapabilitySet::from_bits_retain(1 << n),
                true,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("CAP_KILL"), Some(5));
        assert_eq!(number("NET_BIND_SERVICE"), Some(10));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOT_A_CAP"), None);
    }

    #[test]
    fn names_of_a_mask() {
        assert_eq!(names(1 << 5 | 1 << 24), "CAP_KILL, CAP_SYS_RESOURCE");
        assert_eq!(names(0), "");
    }

    #[test]
    fn mask_skips_unknown_and_too_new() {
        let m = mask(["CAP_KILL", "CAP_BOGUS", "CAP_BPF"], 38);
        assert_eq!(m, 1 << 5);
    }
}
