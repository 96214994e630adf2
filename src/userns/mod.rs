//! `linux.namespaces` of type `user`, `linux.uidMappings` and `linux.gidMappings`.
//!
//! A new user namespace is made by the same clone3 as the container's other new namespaces, so
//! they are owned by it. The init waits while the parent (`berth create`, in the caller's user
//! namespace) writes `/proc/<pid>/uid_map` and `gid_map` through fds checked to be on procfs,
//! then becomes root of its namespace (`become_root`) and goes on: the container's root is the
//! mapped host uid, and its capabilities count in its own namespace only. A namespace joined by
//! path is entered first, before the others (see `clone`), and brings its own mappings; a config
//! may repeat them but not give others.
//!
//! What the kernel does differently inside a user namespace is handled where it happens, asking
//! `active()` (see `inside`): device nodes are bind-mounted from the host (rootfs::devices);
//! sysfs, proc and mqueue bind the host's where the container shares that namespace with it
//! (rootfs::mounts); locked mount flags and unreachable host paths are explained; devpts
//! options naming unmapped ids are left out (`Plan::adjust_mounts`). On cgroup v2 the
//! container's cgroup is delegated to it as the runtime-spec describes (see `cgroup`).
//! Idmapped mounts are rootfs::idmap's.

mod cgroup;
mod clone;
mod inside;
pub mod maps;

use std::io;
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;

pub use cgroup::delegate;
pub use clone::clone_init;
pub use inside::{
    active, become_root, explain_access, explain_locked, explain_procfs, host_instance,
};
use inside::{INHERITS_IPC, INHERITS_NET, INHERITS_PID};
use maps::{IdMap, Range};

use crate::rootfs::mounts;
use crate::spec::{Config, SpecError};
use crate::{logging, namespaces, procfs};

const CAP_SETGID: u64 = 1 << 6;
const CAP_SETUID: u64 = 1 << 7;

/// The container's user namespace, prepared by the parent before clone.
#[derive(Debug)]
pub struct Plan {
    /// Container id → host id. For a joined namespace, its own maps.
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// A new namespace, whose maps the parent writes.
    pub new: bool,
    /// berth lacks CAP_SETGID: the kernel then takes a gid map only once setgroups is denied.
    pub deny_setgroups: bool,
    /// The host uid that gets the container's cgroup v2 directory (see `delegate_cgroup`).
    pub cgroup_owner: Option<u32>,
    /// A new ipc namespace, made by `become_root` rather than by clone3: its mqueue instance
    /// belongs to whoever makes the namespace, and that must be the container's root.
    pub unshare_ipc: bool,
    /// Which of the network, pid and ipc namespaces the container shares with berth (none
    /// listed): their sysfs, proc and mqueue are the host's to bind (see `host_instance`).
    pub inherits: u8,
}

/// The map of the user namespace berth itself runs in (all ids on most hosts).
fn own_map(which: &str) -> IdMap {
    std::fs::read_to_string(format!("/proc/self/{which}"))
        .map(|t| IdMap::parse(&t))
        .unwrap_or_else(|_| IdMap::identity())
}

impl Plan {
    /// Checks the config's user namespace and mappings; `None` without a user namespace.
    /// Every refusal names the field, before anything is created.
    pub fn from_config(c: &Config, ns: &mut namespaces::Plan) -> Result<Option<Plan>, SpecError> {
        let Some(linux) = c.spec.linux().as_ref() else {
            return Ok(None);
        };
        let (uids, gids) = (
            Range::from_spec(linux.uid_mappings()),
            Range::from_spec(linux.gid_mappings()),
        );
        let list = linux.namespaces().as_deref().unwrap_or_default();
        let index = list
            .iter()
            .position(|n| n.typ() == LinuxNamespaceType::User);
        let Some(index) = index else {
            for (field, given) in [("linux.uidMappings", &uids), ("linux.gidMappings", &gids)] {
                if !given.is_empty() {
                    return Err(c.invalid(
                        field,
                        "needs a user namespace: add {\"type\": \"user\"} to linux.namespaces",
                    ));
                }
            }
            return Ok(None);
        };
        let ns_field = format!("linux.namespaces[{index}]");
        let mount = list.iter().find(|n| n.typ() == LinuxNamespaceType::Mount);
        let mut plan = if let Some(join) = &ns.join_user {
            if mount.is_none() {
                return Err(c.invalid(
                    &ns_field,
                    "a container in another user namespace needs a mount namespace of its own (or one joined by path) in linux.namespaces",
                ));
            }
            let (uid_map, gid_map) = clone::namespace_maps(std::os::fd::AsFd::as_fd(&join.fd))
                .map_err(|e| {
                    c.invalid(
                        format!("{ns_field}.path"),
                        format!("reading the mappings of {}: {e}", join.path.display()),
                    )
                })?;
            // As runc: containerd and CRI-O repeat the namespace's mappings; other ones would
            // be silently wrong.
            for (field, given, has) in [
                ("linux.uidMappings", &uids, &uid_map),
                ("linux.gidMappings", &gids, &gid_map),
            ] {
                if given.is_empty() {
                    continue;
                }
                if !IdMap(given.clone()).same(has) {
                    return Err(c.invalid(
                        field,
                        format!(
                            "must not be given with a user namespace joined by path ({ns_field}.path): that namespace maps {}",
                            has.0.iter().map(Range::to_string).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                logging::warn(&format!(
                    "{field}: repeats the mappings of the user namespace at {ns_field}.path; give only one of them"
                ));
            }
            Plan {
                uid_map,
                gid_map,
                new: false,
                deny_setgroups: false,
                cgroup_owner: None,
                unshare_ipc: false,
                inherits: 0,
            }
        } else {
            if !mount.is_some_and(|m| m.path().is_none()) {
                return Err(c.invalid(
                    &ns_field,
                    "a new user namespace needs a new mount namespace too ({\"type\": \"mount\"} without a path): its root could not mount anything in another",
                ));
            }
            Self::new_namespace(c, &uids, &gids, &ns_field)?
        };
        plan.check_process_user(c)?;
        plan.cgroup_owner = plan.cgroup_owner_for(c);
        let listed = |t: LinuxNamespaceType| list.iter().any(|n| n.typ() == t);
        for (t, bit) in [
            (LinuxNamespaceType::Network, INHERITS_NET),
            (LinuxNamespaceType::Pid, INHERITS_PID),
            (LinuxNamespaceType::Ipc, INHERITS_IPC),
        ] {
            if !listed(t) {
                plan.inherits |= bit;
            }
        }
        if ns.clone_flags & libc::CLONE_NEWIPC as u64 != 0 {
            ns.clone_flags &= !(libc::CLONE_NEWIPC as u64);
            plan.unshare_ipc = true;
        }
        Ok(Some(plan))
    }

    fn new_namespace(
        c: &Config,
        uids: &[Range],
        gids: &[Range],
        ns_field: &str,
    ) -> Result<Plan, SpecError> {
        let page = rustix::param::page_size();
        let held = crate::process::capabilities::held();
        let mut maps = Vec::new();
        for (field, what, given, file, cap) in [
            ("linux.uidMappings", "uid", uids, "uid_map", CAP_SETUID),
            ("linux.gidMappings", "gid", gids, "gid_map", CAP_SETGID),
        ] {
            if given.is_empty() {
                return Err(c.invalid(
                    field,
                    format!("a new user namespace ({ns_field}) needs linux.uidMappings and linux.gidMappings"),
                ));
            }
            let map = maps::check(what, given, &own_map(file), page).map_err(|r| {
                let field = match r.index {
                    Some(i) => format!("{field}[{i}]"),
                    None => field.to_string(),
                };
                c.invalid(field, r.msg)
            })?;
            if held & cap == 0 {
                // Without the capability the kernel maps only the writer's own id.
                let own = if what == "uid" {
                    rustix::process::geteuid().as_raw()
                } else {
                    rustix::process::getegid().as_raw()
                };
                let only_own = map.0.len() == 1 && map.0[0].size == 1 && map.0[0].host == own;
                if !only_own {
                    return Err(c.invalid(
                        field,
                        format!(
                            "berth lacks {}, so it may only map its own {what} {own} (one entry of size 1)",
                            if cap == CAP_SETUID { "CAP_SETUID" } else { "CAP_SETGID" }
                        ),
                    ));
                }
            }
            maps.push(map);
        }
        let gid_map = maps.pop().unwrap_or_default();
        let uid_map = maps.pop().unwrap_or_default();
        Ok(Plan {
            uid_map,
            gid_map,
            new: true,
            deny_setgroups: held & CAP_SETGID == 0,
            cgroup_owner: None,
            unshare_ipc: false,
            inherits: 0,
        })
    }

    /// The container's root and `process.user` must be mapped: the init becomes the one, then
    /// switches to the other.
    fn check_process_user(&self, c: &Config) -> Result<(), SpecError> {
        let user = c.spec.process().as_ref().map(|p| p.user());
        let (uid, gid) = user.map_or((0, 0), |u| (u.uid(), u.gid()));
        let groups = user
            .and_then(|u| u.additional_gids().clone())
            .unwrap_or_default();
        let field = if self.new {
            ["linux.uidMappings", "linux.gidMappings"]
        } else {
            ["the joined user namespace", "the joined user namespace"]
        };
        if self.uid_map.to_host(0).is_none() {
            return Err(c.invalid(field[0], "must map the container's root (uid 0)"));
        }
        if self.gid_map.to_host(0).is_none() {
            return Err(c.invalid(field[1], "must map the container's root group (gid 0)"));
        }
        if self.uid_map.to_host(uid).is_none() {
            return Err(c.invalid(
                "process.user.uid",
                format!("{uid} is not mapped by {}", field[0]),
            ));
        }
        if self.gid_map.to_host(gid).is_none() {
            return Err(c.invalid(
                "process.user.gid",
                format!("{gid} is not mapped by {}", field[1]),
            ));
        }
        for (i, g) in groups.iter().enumerate() {
            if self.gid_map.to_host(*g).is_none() {
                return Err(c.invalid(
                    format!("process.user.additionalGids[{i}]"),
                    format!("{g} is not mapped by {}", field[1]),
                ));
            }
        }
        if self.deny_setgroups && !groups.is_empty() {
            return Err(c.invalid(
                "process.user.additionalGids",
                "berth lacks CAP_SETGID, so the container's setgroups is denied",
            ));
        }
        Ok(())
    }

    /// devpts refuses `uid=`/`gid=` options naming ids its user namespace does not map (the
    /// default config's `gid=5` with a map of root alone): those are left out, with a warning.
    pub fn adjust_mounts(&self, planned: &mut [mounts::Mount]) {
        for m in planned.iter_mut() {
            let mounts::Kind::Fs { fstype, .. } = &m.kind else {
                continue;
            };
            if fstype != "devpts" {
                continue;
            }
            let dest = m.destination.display().to_string();
            m.options.data.retain(|(k, v)| {
                let map = match k.as_str() {
                    "uid" => &self.uid_map,
                    "gid" => &self.gid_map,
                    _ => return true,
                };
                let id = v.as_deref().and_then(|v| v.parse::<u32>().ok());
                if id.is_some_and(|id| map.to_host(id).is_none()) {
                    logging::warn(&format!(
                        "mounts: devpts on {dest}: {k}={} is not mapped in the user namespace; left out",
                        v.as_deref().unwrap_or_default()
                    ));
                    return false;
                }
                true
            });
        }
    }

    /// In the parent, while the init waits: writes the maps of a new namespace.
    pub fn write_maps(&self, pid: i32) -> io::Result<()> {
        if !self.new {
            return Ok(());
        }
        // The host's /proc: nothing of the container's can redirect these writes.
        let procfs = procfs::ProcFs::mounted()?;
        let write = |file: &str, field: &str, text: &str| {
            procfs
                .write(Path::new(&format!("{pid}/{file}")), text.as_bytes())
                .map_err(|e| io::Error::other(format!("{field}: writing /proc/{pid}/{file}: {e}")))
        };
        if self.deny_setgroups {
            write("setgroups", "linux.gidMappings", "deny")?;
        }
        write("uid_map", "linux.uidMappings", &self.uid_map.text())?;
        write("gid_map", "linux.gidMappings", &self.gid_map.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(edit: impl FnOnce(&mut serde_json::Value)) -> Config {
        let mut v = serde_json::to_value(crate::spec::template::default_spec(false)).unwrap();
        edit(&mut v);
        let text = v.to_string().into_bytes();
        Config {
            spec: crate::spec::parse(&text).unwrap(),
            file: "config.json".into(),
            bundle: "/b".into(),
            text,
        }
    }

    fn plan() -> Plan {
        let map = |host| {
            IdMap(vec![Range {
                container: 0,
                host,
                size: 65536,
            }])
        };
        Plan {
            uid_map: map(100000),
            gid_map: map(200000),
            new: true,
            deny_setgroups: false,
            cgroup_owner: None,
            unshare_ipc: false,
            inherits: 0,
        }
    }

    /// The runtime-spec's rule: a new cgroup namespace and /sys/fs/cgroup mounted rw.
    #[test]
    fn cgroup_is_delegated_only_with_its_namespace_and_a_writable_mount() {
        let with = |cgroupns: bool, opts: serde_json::Value| {
            config(|v| {
                v["process"]["user"]["uid"] = json!(1000);
                if cgroupns {
                    let list = v["linux"]["namespaces"].as_array_mut().unwrap();
                    list.retain(|n| n["type"] != "cgroup");
                    list.push(json!({"type": "cgroup"}));
                }
                let mounts = v["mounts"].as_array_mut().unwrap();
                mounts.retain(|m| m["type"] != "cgroup");
                mounts.push(json!({"destination": "/sys/fs/cgroup/", "type": "cgroup",
                    "source": "cgroup", "options": opts}));
            })
        };
        let p = plan();
        assert_eq!(
            p.cgroup_owner_for(&with(true, json!(["nosuid", "rw"]))),
            Some(101000)
        );
        assert_eq!(p.cgroup_owner_for(&with(true, json!(["ro"]))), None);
        assert_eq!(p.cgroup_owner_for(&with(false, json!(["rw"]))), None);
    }

    #[test]
    fn devpts_options_naming_unmapped_ids_are_left_out() {
        let mut p = plan();
        p.gid_map.0[0].size = 1;
        let c = config(|_| {});
        let mut planned: Vec<mounts::Mount> = c
            .spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| mounts::Mount::plan(m, Path::new("/b")).unwrap())
            .collect();
        p.adjust_mounts(&mut planned);
        let devpts = planned
            .iter()
            .find(|m| m.destination == Path::new("/dev/pts"))
            .unwrap();
        assert!(devpts.options.data.iter().all(|(k, _)| k != "gid"));
        assert!(devpts.options.data.iter().any(|(k, _)| k == "ptmxmode"));
    }

    /// On a real cgroup2 hierarchy (this host's, under a cgroup the test makes and removes):
    /// the directory and the delegated files that exist change owner, nothing else.
    #[test]
    fn delegate_chowns_the_directory_and_the_listed_files() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let hierarchies = crate::cgroups::hierarchy::detect().unwrap_or_default();
        let Some(v2) = hierarchies.iter().find(|h| h.is_v2()) else {
            return;
        };
        let dir = v2
            .mountpoint
            .join(format!("berth-unit-delegate-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let done = delegate(&dir, "cgroup.procs\ncgroup.threads\nno.such.file\n", 4242);
        let owner = |f: &str| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(dir.join(f)).map(|m| m.uid()).unwrap()
        };
        let seen = (owner(""), owner("cgroup.procs"), owner("cgroup.threads"));
        let untouched = owner("cgroup.max.depth");
        std::fs::remove_dir(&dir).unwrap();
        done.unwrap();
        assert_eq!(seen, (4242, 4242, 4242));
        assert_eq!(untouched, 0);
    }
}
