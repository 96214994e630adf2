//! cgroup v1 specifics.

use std::fs;
use std::path::Path;

use super::{io_err, CgroupError};

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`, and no task can join
/// it until they are set: copy them down from the parent, top to bottom, for every level from
/// the hierarchy's mount point to `leaf` that is still empty. Levels made by a concurrent create
/// are included: they may not be filled yet.
pub fn init_cpuset(mountpoint: &Path, leaf: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut dir = mountpoint.to_path_buf();
    for part in rel.components() {
        let parent = dir.clone();
        dir.push(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = dir.join(file);
            if fs::read_to_string(&mine).is_ok_and(|s| !s.trim().is_empty()) {
                continue;
            }
            let from = parent.join(file);
            let value = fs::read_to_string(&from).map_err(io_err("reading", &from))?;
            fs::write(&mine, value.trim()).map_err(io_err("writing", &mine))?;
        }
    }
    Ok(())
}
