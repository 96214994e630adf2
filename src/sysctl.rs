//! `linux.sysctl`: only keys the container's own namespaces scope (IPC, network, UTS) are
//! accepted; anything else would change the host for everyone and is refused by name.
//! Written by the init in the container's namespaces, through a private procfs instance that
//! nothing in the config can mount over (see procfs).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;

use crate::init::{Context, StepError};
use crate::procfs::ProcFs;
use crate::spec::{Config, SpecError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Ipc,
    Net,
    Uts,
}

/// Which namespace makes `key` private to the container, if any.
pub fn scope(key: &str) -> Option<Scope> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(Scope::Ipc)
    } else if key.starts_with("net.") {
        Some(Scope::Net)
    } else if key == "kernel.domainname" {
        Some(Scope::Uts)
    } else {
        None
    }
}

/// `net.ipv4.ip_forward` → `sys/net/ipv4/ip_forward` (under /proc); a key written with `/` is
/// taken as is, so interface names holding dots (`net/ipv4/conf/eth0.100/forwarding`) keep them.
pub fn path(key: &str) -> PathBuf {
    if key.contains('/') {
        PathBuf::from("sys").join(key)
    } else {
        PathBuf::from("sys").join(key.replace('.', "/"))
    }
}

/// The config's sysctls, each checked to be scoped by a namespace the container has.
pub fn plan(c: &Config) -> Result<Vec<(String, String)>, SpecError> {
    let Some(linux) = c.spec.linux().as_ref() else {
        return Ok(Vec::new());
    };
    // The container has its own namespace of type `t`: a new one, or one joined by path that
    // is not the one berth itself (the host) is in.
    let has = |t: LinuxNamespaceType| {
        linux.namespaces().iter().flatten().any(|n| {
            n.typ() == t
                && n.path().as_ref().is_none_or(|p| {
                    let own = format!("/proc/self/ns/{}", proc_ns_name(t));
                    !same_file(p, Path::new(&own))
                })
        })
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in linux.sysctl().iter().flatten() {
        let field = format!("linux.sysctl.{key}");
        let needed = match scope(&key.replace('/', ".")) {
            None => {
                return Err(c.invalid(
                    field,
                    "is not namespaced: setting it would change the host for everyone",
                ))
            }
            Some(Scope::Ipc) => ("ipc", LinuxNamespaceType::Ipc),
            Some(Scope::Net) => ("network", LinuxNamespaceType::Network),
            Some(Scope::Uts) => ("uts", LinuxNamespaceType::Uts),
        };
        if !has(needed.1) {
            return Err(c.invalid(
                field,
                format!(
                    "needs a {} namespace in linux.namespaces, or the host's value would change",
                    needed.0
                ),
            ));
        }
        if key.contains("..") || key.starts_with('/') {
            return Err(c.invalid(field, "is not a sysctl name"));
        }
        out.push((key.clone(), value.clone()));
    }
    // A stable order: HashMap order would make runs differ.
    out.sort();
    Ok(out)
}

fn proc_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Ipc => "ipc",
        _ => "uts",
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

pub fn apply(proc: &ProcFs, settings: &[(String, String)]) -> Result<(), StepError> {
    for (key, value) in settings {
        let what = || format!("setting sysctl {key}={value}");
        if key.replace('/', ".") == "kernel.domainname" {
            // The same as the file, but also in a user namespace, where the file is the host
            // root's and only the syscall checks the uts namespace's owner.
            rustix::system::setdomainname(value.as_bytes()).step(what)?;
            continue;
        }
        proc.write(&path(key), value.as_bytes()).step(what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(scope("net.ipv4.ip_forward"), Some(Scope::Net));
        assert_eq!(scope("kernel.shmmax"), Some(Scope::Ipc));
        assert_eq!(scope("fs.mqueue.msg_max"), Some(Scope::Ipc));
        assert_eq!(scope("kernel.domainname"), Some(Scope::Uts));
        assert_eq!(scope("kernel.hostname"), None);
        assert_eq!(scope("vm.swappiness"), None);
        assert_eq!(scope("kernel.pid_max"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(
            path("net.ipv4.ip_forward"),
            PathBuf::from("sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            path("net/ipv4/conf/eth0.100/forwarding"),
            PathBuf::from("sys/net/ipv4/conf/eth0.100/forwarding")
        );
    }
}
