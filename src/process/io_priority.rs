//! `process.ioPriority`: the I/O scheduling class and level of the container's process.

use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority};

/// (class, level) for ioprio_set; levels run 0 (highest) to 7.
pub fn plan(p: &LinuxIOPriority) -> Result<(u32, u32), String> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = u32::try_from(p.priority())
        .ok()
        .filter(|l| *l <= 7)
        .ok_or_else(|| format!("priority: {} is not between 0 and 7", p.priority()))?;
    Ok((class, level))
}
