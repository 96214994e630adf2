//! `root`, `mounts`, `linux.rootfsPropagation`, `/dev`, `linux.devices`, `linux.maskedPaths` and
//! `linux.readonlyPaths`: the container's filesystem, built by the init in its new mount
//! namespace, then entered with pivot_root (or MS_MOVE + chroot with `--no-pivot`). Without a
//! new mount namespace, see `shared`.

pub mod cgroupfs;
pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod paths;
pub mod resolve;
pub mod shared;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::mount::{mount_change, mount_move, unmount, MountPropagationFlags, UnmountFlags};

use oci_spec::runtime::LinuxNamespaceType;

use crate::init::{Context, StepError, Timings};
use crate::spec::{Config, SpecError};
use crate::sys::{self, attr};

pub struct Plan {
    /// The rootfs on the host, absolute.
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// Propagation of the container's `/` (runc's default: rslave).
    pub propagation: u64,
    pub no_pivot: bool,
    /// The container gets a new mount namespace; otherwise it inherits or joins one and the
    /// rootfs is built there (see `shared`).
    pub own_mount_ns: bool,
    pub mounts: Vec<mounts::Mount>,
    /// The default devices and links, unless /dev is bound from the host.
    pub default_dev: bool,
    pub devices: Vec<devices::Device>,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub cgroups: cgroupfs::Sources,
    /// `process.cwd`, created inside the rootfs if missing (as runc does).
    pub cwd: PathBuf,
    /// `linux.mountLabel` (SELinux), for the tmpfs of masked directories.
    pub mount_label: Option<String>,
}

fn propagation(value: &str) -> Option<u64> {
    Some(match value {
        "" | "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "private" => libc::MS_PRIVATE,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        _ => return None,
    })
}

impl Plan {
    pub fn from_config(c: &Config, no_pivot: bool) -> Result<Plan, SpecError> {
        let root = c
            .spec
            .root()
            .as_ref()
            .ok_or_else(|| c.invalid("root", "is required"))?;
        let rootfs = c.bundle.join(root.path());
        let linux = c.spec.linux().as_ref();
        let prop = linux
            .and_then(|l| l.rootfs_propagation().clone())
            .unwrap_or_default();
        let propagation = propagation(&prop).ok_or_else(|| {
            c.invalid(
                "linux.rootfsPropagation",
                format!(
                    "{prop:?} is not one of shared, slave, private, unbindable (with or without r)"
                ),
            )
        })?;
        let mut plan_mounts = Vec::new();
        for (i, m) in c.spec.mounts().iter().flatten().enumerate() {
            let planned = mounts::Mount::plan(m, &c.bundle)
                .map_err(|e| c.invalid(format!("mounts[{i}]"), e))?;
            if let Some((link, target)) = resolve::escaping_symlink(&rootfs, &planned.destination) {
                return Err(c.invalid(
                    format!("mounts[{i}].destination"),
                    format!(
                        "{} leads out of the rootfs through the symlink {} -> {}",
                        planned.destination.display(),
                        link.display(),
                        target.display()
                    ),
                ));
            }
            plan_mounts.push(planned);
        }
        let mount_label = linux
            .and_then(|l| l.mount_label().clone())
            .filter(|l| !l.is_empty());
        if let Some(label) = &mount_label {
            for m in &mut plan_mounts {
                if let mounts::Kind::Fs { fstype, .. } = &m.kind {
                    m.options
                        .data
                        .extend(crate::lsm::mount_label_option(fstype, label));
                }
            }
        }
        let dev_bound = plan_mounts.iter().any(|m| {
            resolve::clean(&m.destination) == Path::new("dev")
                && matches!(m.kind, mounts::Kind::Bind { .. })
        });
        let mut devs = Vec::new();
        for (i, d) in linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            devs.push(
                devices::Device::plan(d)
                    .map_err(|e| c.invalid(format!("linux.devices[{i}]"), e))?,
            );
        }
        let paths = |v: Option<&Vec<String>>| -> Vec<PathBuf> {
            v.into_iter().flatten().map(PathBuf::from).collect()
        };
        let own_mount_ns = linux
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none());
        Ok(Plan {
            rootfs,
            readonly: root.readonly().unwrap_or(false),
            propagation,
            no_pivot,
            own_mount_ns,
            mounts: plan_mounts,
            default_dev: !dev_bound,
            devices: devs,
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            cgroups: cgroupfs::Sources::default(),
            cwd: c
                .spec
                .process()
                .as_ref()
                .map(|p| p.cwd().clone())
                .unwrap_or_else(|| PathBuf::from("/")),
            mount_label,
        })
    }
}

/// Builds the container's filesystem (not yet entered: see `pivot`); returns the rootfs's fd.
/// Runs in the init, in its mount namespace.
pub fn prepare(plan: &Plan, t: &mut Timings) -> Result<OwnedFd, StepError> {
    if !plan.own_mount_ns {
        return prepare_shared(plan, t);
    }
    // Nothing the container mounts for itself may propagate back to the host. Normally every
    // mount of the new namespace becomes a slave (or private, if asked), recursively. With a
    // shared rootfsPropagation (Kubernetes "Bidirectional" volumes) the namespace stays shared,
    // as runc does it, and only the mount holding the rootfs is made private: the rootfs bind
    // and everything mounted into it then stay inside, while shared volumes keep their peers.
    let base = if plan.propagation & libc::MS_SHARED != 0 {
        libc::MS_SHARED | libc::MS_REC
    } else if plan.propagation & libc::MS_PRIVATE != 0 {
        libc::MS_PRIVATE | libc::MS_REC
    } else {
        libc::MS_SLAVE | libc::MS_REC
    };
    mount_change("/", MountPropagationFlags::from_bits_retain(base as u32))
        .step(|| "setting the propagation of /".into())?;
    if base & libc::MS_SHARED != 0 {
        let parent = parent_mount(&plan.rootfs).step(|| "finding the rootfs's mount".into())?;
        mount_change(&parent, MountPropagationFlags::PRIVATE)
            .step(|| format!("making {} private", parent.display()))?;
    }

    // The rootfs becomes a mount of its own (pivot_root needs one); `root` is its fd.
    let what = || format!("bind mount rootfs {}", plan.rootfs.display());
    let tree = mounts::bind_tree(&plan.rootfs, true)
        .map_err(|e| crate::userns::explain_access(e, &plan.rootfs))
        .step(what)?;
    let target = mounts::reopen_dir(&plan.rootfs).step(what)?;
    mounts::attach(tree.as_fd(), target.as_fd(), &mounts::Options::default()).step(what)?;
    let root = mounts::reopen_dir_at(tree.as_fd()).step(what)?;
    t.mark("rootfs");

    populate(plan, root.as_fd(), t)?;
    Ok(root)
}

/// Makes the rootfs `prepare` built the process's `/`.
pub fn pivot(plan: &Plan, root: OwnedFd, t: &mut Timings) -> Result<(), StepError> {
    if !plan.own_mount_ns {
        return enter_shared(root, t);
    }
    enter(&root, plan.no_pivot)?;
    t.mark("pivot_root");
    Ok(())
}

/// The mounts, devices and cwd, inside the rootfs mount `root`.
fn populate(plan: &Plan, root: BorrowedFd<'_>, t: &mut Timings) -> Result<(), StepError> {
    for m in &plan.mounts {
        mounts::apply(root, m, &plan.cgroups)?;
    }
    t.mark("mounts");
    if plan.default_dev {
        for d in devices::defaults() {
            devices::create(root, &d)?;
        }
        devices::create_links(root)?;
    }
    for d in &plan.devices {
        devices::create(root, d)?;
    }
    t.mark("devices");
    resolve::mkdir_all(root, &plan.cwd)
        .map(drop)
        .step(|| format!("creating process.cwd {}", plan.cwd.display()))
}

/// In a mount namespace the container shares (see `shared`): the namespace's own mounts and
/// propagation stay as they are. The rootfs bind is made private before it is attached, so
/// nothing mounted into it propagates out, and it is entered with chroot.
fn prepare_shared(plan: &Plan, t: &mut Timings) -> Result<OwnedFd, StepError> {
    let what = || format!("bind mount rootfs {}", plan.rootfs.display());
    let tree = mounts::bind_tree(&plan.rootfs, true)
        .map_err(|e| crate::userns::explain_access(e, &plan.rootfs))
        .step(what)?;
    sys::mount_setattr(tree.as_fd(), true, 0, 0, libc::MS_PRIVATE).step(what)?;
    let target = mounts::reopen_dir(&plan.rootfs).step(what)?;
    mounts::attach(tree.as_fd(), target.as_fd(), &mounts::Options::default()).step(what)?;
    let root = mounts::reopen_dir_at(tree.as_fd()).step(what)?;
    shared::attached(root.as_fd()).step(what)?;
    t.mark("rootfs");
    populate(plan, root.as_fd(), t)?;
    Ok(root)
}

/// Enters the rootfs `prepare_shared` built, with chroot (pivot_root would move the shared
/// namespace's root for everyone in it).
fn enter_shared(root: OwnedFd, t: &mut Timings) -> Result<(), StepError> {
    rustix::process::fchdir(root.as_fd()).step(|| "entering the rootfs".into())?;
    rustix::process::chroot(".").step(|| "chroot into the rootfs".into())?;
    shared::entered();
    rustix::process::chdir("/").step(|| "chdir /".into())?;
    t.mark("chroot");
    Ok(())
}

/// After pivot_root: masked and read-only paths, propagation, and a read-only root last.
pub fn finish(plan: &Plan, t: &mut Timings) -> Result<(), StepError> {
    let new_root = mounts::reopen_dir(Path::new("/")).step(|| "opening /".into())?;
    for p in &plan.masked {
        paths::mask(new_root.as_fd(), p, plan.mount_label.as_deref())?;
    }
    for p in &plan.readonly_paths {
        paths::readonly(new_root.as_fd(), p)?;
    }
    // Shared and unbindable are set last: the rootfs could not be bound while unbindable.
    if plan.propagation & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
        mount_change(
            "/",
            MountPropagationFlags::from_bits_retain(plan.propagation as u32),
        )
        .step(|| "setting rootfs propagation".into())?;
    }
    if plan.readonly {
        let root_mnt = rustix::mount::open_tree(
            rustix::fs::CWD,
            "/",
            rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .step(|| "opening /".into())?;
        sys::mount_setattr(root_mnt.as_fd(), false, attr::RDONLY, 0, 0)
            .step(|| "making the rootfs read-only".into())?;
    }
    t.mark("paths");
    Ok(())
}

/// The mount point of the mount holding `path` (the longest mount point above it; the last one
/// listed wins for stacked mounts).
fn parent_mount(path: &Path) -> std::io::Result<PathBuf> {
    let path = std::fs::canonicalize(path)?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best = PathBuf::from("/");
    for line in info.lines() {
        let Some(mp) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(mp.replace("\\040", " "));
        if path.starts_with(&mp) && mp.components().count() >= best.components().count() {
            best = mp;
        }
    }
    Ok(best)
}

/// Makes `root` the process's `/`.
fn enter(root: &OwnedFd, no_pivot: bool) -> Result<(), StepError> {
    rustix::process::fchdir(root.as_fd()).step(|| "entering the rootfs".into())?;
    if no_pivot {
        // The old root stays underneath: only for hosts whose / cannot be pivoted (initramfs).
        mount_move(".", "/").step(|| "moving the rootfs onto /".into())?;
        rustix::process::chroot(".").step(|| "chroot into the rootfs".into())?;
    } else {
        // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the
        // container with no path back to the host's filesystem. "." is ambiguous afterwards
        // (mount(2) resolves it to the new root, umount2 to the old one on top), so we work
        // from an fd of the old root taken before the pivot, as runc does.
        let old_root =
            mounts::reopen_dir(Path::new("/")).step(|| "opening the host's root".into())?;
        rustix::process::pivot_root(".", ".").step(|| "pivot_root".into())?;
        rustix::process::fchdir(old_root.as_fd()).step(|| "entering the host's old root".into())?;
        // Its detach must not reach any peer: make the old root (only) a slave first.
        mount_change(
            ".",
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        )
        .step(|| "making the host's root a slave".into())?;
        unmount(".", UnmountFlags::DETACH).step(|| "detaching the host's root".into())?;
    }
    rustix::process::chdir("/").step(|| "chdir /".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// linux.mountLabel becomes a context= option of the filesystems runc labels, and of nothing else.
    #[test]
    fn mount_label_goes_to_filesystem_mounts() {
        let mut v = crate::spec::template::default_spec(false);
        v["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2".into();
        v["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]}));
        let text = v.to_string().into_bytes();
        let c = Config {
            spec: crate::spec::parse(&text).unwrap(),
            file: "config.json".into(),
            bundle: "/b".into(),
            text,
        };
        let plan = Plan::from_config(&c, false).unwrap();
        let context = Some((
            "context".to_string(),
            Some("system_u:object_r:container_file_t:s0:c1,c2".to_string()),
        ));
        for m in &plan.mounts {
            let has = m.options.data.iter().find(|(k, _)| k == "context").cloned();
            let want = match &m.kind {
                mounts::Kind::Fs { fstype, .. }
                    if !["proc", "sysfs", "mqueue"].contains(&fstype.as_str()) =>
                {
                    context.clone()
                }
                _ => None,
            };
            assert_eq!(has, want, "{}", m.destination.display());
        }
        assert!(plan
            .mounts
            .iter()
            .any(|m| matches!(&m.kind, mounts::Kind::Fs { fstype, .. } if fstype == "tmpfs")));
        assert_eq!(
            plan.mount_label.as_deref(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
    }
}
