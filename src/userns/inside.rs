//! Inside the container's user namespace: the init becomes its root, and the kernel behaves
//! differently there. `active()` tells the rootfs code, which then binds device nodes instead
//! of making them (rootfs::devices), binds the host's sysfs, proc or mqueue where a new one is
//! refused (`host_instance`), and explains the errors a user namespace causes.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use rustix::process::{Gid, Uid};

use super::maps::IdMap;
use super::Plan;
use crate::init::{Context, StepError};
use crate::rootfs::mounts;

/// Set by `become_root`: the init runs in a user namespace of its own.
static ENTERED: AtomicBool = AtomicBool::new(false);
/// Set by `become_root`: `Plan::inherits`.
static INHERITED: AtomicU8 = AtomicU8::new(0);

pub(super) const INHERITS_NET: u8 = 1;
pub(super) const INHERITS_PID: u8 = 2;
pub(super) const INHERITS_IPC: u8 = 4;

/// In the init, once the parent wrote the maps (or the namespace was joined): root of the
/// namespace, with no supplementary groups of the caller's. Raw per-thread calls, see
/// process::user.
pub fn become_root(plan: &Plan) -> Result<(), StepError> {
    let what = || "becoming root of the user namespace".to_string();
    rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT).step(what)?;
    rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT).step(what)?;
    if !plan.deny_setgroups {
        rustix::thread::set_thread_groups(&[]).step(what)?;
    }
    ENTERED.store(true, Ordering::Relaxed);
    INHERITED.store(plan.inherits, Ordering::Relaxed);
    if plan.unshare_ipc {
        // SAFETY: unshare of the ipc namespace changes no memory or fd state of this process.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWIPC) }
            .step(|| "creating the ipc namespace".into())?;
    }
    Ok(())
}

/// Whether berth itself runs in a user namespace other than the initial one: 0 not known yet,
/// 1 no, 2 yes. Only the init asks, once per device; `become_root` makes the answer moot.
static NESTED: AtomicU8 = AtomicU8::new(0);

/// Whether this process is in a user namespace other than the host's: the container's, or one
/// berth itself was started in. The kernel then refuses device nodes and some mounts.
pub fn active() -> bool {
    if ENTERED.load(Ordering::Relaxed) {
        return true;
    }
    match NESTED.load(Ordering::Relaxed) {
        0 => {
            let nested = std::fs::read_to_string("/proc/self/uid_map")
                .is_ok_and(|m| IdMap::parse(&m) != IdMap::identity());
            NESTED.store(if nested { 2 } else { 1 }, Ordering::Relaxed);
            nested
        }
        v => v == 2,
    }
}

/// For a new instance of `fstype` the kernel refused with `e`: the host's instance, which the
/// container binds instead. In a user namespace the kernel makes a new sysfs only for a network
/// namespace, proc for a pid namespace and mqueue for an ipc namespace that the user namespace
/// owns; a container that shares the host's (none listed in linux.namespaces) sees the host's
/// anyway and binds it, as runc does for sysfs. One joined by path is not the host's: `e`,
/// explained.
pub fn host_instance(fstype: &str, e: io::Error) -> io::Result<&'static Path> {
    let (host, bit, ns) = match fstype {
        "sysfs" => ("/sys", INHERITS_NET, "network"),
        "proc" => ("/proc", INHERITS_PID, "pid"),
        "mqueue" => ("/dev/mqueue", INHERITS_IPC, "ipc"),
        _ => return Err(e),
    };
    if !active() {
        return Err(e);
    }
    // Bound when the container shares the namespace with berth (or berth itself runs in a user
    // namespace and the container has none of its own): what berth sees is what it shares.
    let why = format!(
        "in a user namespace the kernel makes a new {fstype} only if the {ns} namespace belongs to that user namespace"
    );
    if ENTERED.load(Ordering::Relaxed) && INHERITED.load(Ordering::Relaxed) & bit == 0 {
        return Err(io::Error::new(
            e.kind(),
            format!("{e}: {why}, and the container's {ns} namespace does not"),
        ));
    }
    if !Path::new(host).exists() {
        return Err(io::Error::new(
            e.kind(),
            format!("{e}: {why}, and the host has no {host} to bind instead"),
        ));
    }
    Ok(Path::new(host))
}

/// Explains an EPERM from setting a bind mount's flags in a user namespace: the kernel locks
/// the nosuid, nodev, noexec, ro and access-time flags of mounts the container inherited, and
/// berth clears only what the options ask to clear (it never drops a flag by itself).
pub fn explain_locked(e: io::Error, source: &Path, o: &mounts::Options) -> io::Error {
    use rustix::fs::StatVfsMountFlags as F;
    if e.raw_os_error() != Some(libc::EPERM) || !active() {
        return e;
    }
    let Ok(st) = rustix::fs::statvfs(source) else {
        return e;
    };
    let clear = o.clear | o.rec_clear;
    let set = o.set | o.rec_set;
    let mut locked = Vec::new();
    for (flag, f, name) in [
        (crate::sys::attr::RDONLY, F::RDONLY, "ro"),
        (crate::sys::attr::NOSUID, F::NOSUID, "nosuid"),
        (crate::sys::attr::NODEV, F::NODEV, "nodev"),
        (crate::sys::attr::NOEXEC, F::NOEXEC, "noexec"),
    ] {
        if clear & flag != 0 && st.f_flag.contains(f) {
            locked.push(name.to_string());
        }
    }
    if clear & crate::sys::attr::ATIME_MASK != 0 {
        let host = if st.f_flag.contains(F::NOATIME) {
            crate::sys::attr::NOATIME
        } else if st.f_flag.contains(F::RELATIME) {
            crate::sys::attr::RELATIME
        } else {
            crate::sys::attr::STRICTATIME
        };
        if set & crate::sys::attr::ATIME_MASK != host {
            locked.push("its access-time mode".into());
        }
    }
    if locked.is_empty() {
        return e;
    }
    io::Error::new(
        e.kind(),
        format!(
            "{e}: the source's mount has {}, which the kernel locks in a user namespace; the options may not clear it",
            locked.join(", ")
        ),
    )
}

/// Explains an EACCES on a host path the init opens (the rootfs, a bind source): in a user
/// namespace it works as the container's root, a host uid that every directory above the path
/// must let through (the capabilities of its namespace do not count on the host's files).
pub fn explain_access(e: io::Error, path: &Path) -> io::Error {
    if e.raw_os_error() != Some(libc::EACCES) || !active() {
        return e;
    }
    let host = std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| IdMap::parse(&m).to_host(0));
    let who = host.map_or("the container's root".to_string(), |h| {
        format!("the container's root (host uid {h})")
    });
    io::Error::new(
        e.kind(),
        format!(
            "{e}: in its user namespace berth works as {who}, and every directory above {} must let that user through",
            path.display()
        ),
    )
}

/// Explains an EPERM from making the private procfs the init writes sysctls and LSM labels
/// through (see procfs): in a user namespace the kernel makes a procfs only for a pid namespace
/// that the user namespace owns.
pub fn explain_procfs(e: io::Error) -> io::Error {
    if e.raw_os_error() != Some(libc::EPERM) || !active() {
        return e;
    }
    io::Error::new(
        e.kind(),
        format!(
            "{e}: in a user namespace the kernel makes a procfs only for a pid namespace the user namespace owns; give the container a pid namespace of its own"
        ),
    )
}
