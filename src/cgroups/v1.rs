//! cgroup v1 specifics.

use std::fs;
use std::path::PathBuf;

use super::{io_err, CgroupError};

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`, and no task can join
/// it until they are set: copy them down from the parent, top to bottom, for each created level.
pub fn init_cpuset(created: &[PathBuf]) -> Result<(), CgroupError> {
    for dir in created {
        let Some(parent) = dir.parent() else { continue };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = dir.join(file);
            if fs::read_to_string(&mine).is_ok_and(|s| !s.trim().is_empty()) {
                continue;
            }
            let value = fs::read_to_string(parent.join(file))
                .map_err(io_err("reading", &parent.join(file)))?;
            fs::write(&mine, value.trim()).map_err(io_err("writing", &mine))?;
        }
    }
    Ok(())
}
