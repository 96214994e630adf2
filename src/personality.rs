//! `linux.personality`: the execution domain (LINUX or LINUX32) and its flags.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

/// The persona value for personality(2); flags berth does not know are refused by the caller.
pub fn persona(p: &LinuxPersonality) -> Result<u64, String> {
    let base = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err("flags: no personality flags are supported".into());
    }
    Ok(base)
}
