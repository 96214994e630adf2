//! Mounts and devices in a user namespace: device nodes bound from the host, sysfs and proc with
//! and without their namespaces, locked mount flags, cgroup and devpts mounts, idmapped mounts.

use crate::common::{Bundle, Container};
use crate::host::{self, HostDir};
use crate::userns::{maps, open_up, squeeze, userns_bundle, HOST};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// With a network namespace of its own the container gets a sysfs of its own (only lo), and
/// its device nodes, which it may not mknod, are the host's nodes bind-mounted.
#[test]
fn sysfs_and_devices_with_a_network_namespace() {
    need_root!();
    let script = "ls /sys/class/net; \
        stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
        echo data > /dev/null && echo null-writable; head -c 4 /dev/zero | wc -c; \
        grep -E ' /sys | /dev/null ' /proc/self/mountinfo | cut -d' ' -f5,9";
    let c = Container::new(userns_bundle().args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("lo"), "{out}");
    for (name, dev) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        let want = format!("/dev/{name} character special file {dev}");
        assert_eq!(lines.next(), Some(want.as_str()), "{out}");
    }
    assert_eq!(lines.next(), Some("null-writable"), "{out}");
    assert_eq!(lines.next().map(str::trim), Some("4"), "{out}");
    let rest: Vec<&str> = lines.collect();
    assert!(rest.contains(&"/sys sysfs"), "{out}");
    assert!(
        rest.contains(&"/dev/null devtmpfs"),
        "not the host's node: {out}"
    );
    c.assert_no_leftovers();
}

/// Without a network namespace the kernel refuses a new sysfs in a user namespace: berth binds
/// the host's /sys, read-only throughout, and /dev is as with one (runc 1.1.5 fails: "mount sysfs: operation not
/// permitted").
#[test]
fn sysfs_without_a_network_namespace_is_the_hosts() {
    need_berth!();
    let mut bundle = userns_bundle();
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("list")
        .clone();
    list.retain(|n| n["type"] != "network");
    bundle = bundle.set("/linux/namespaces", Value::Array(list));
    let script =
        "ls /sys/class/net; echo --; touch /sys/kernel/x 2>/dev/null || echo sys-read-only; \
        awk '$5 == \"/sys/kernel/tracing\" {print $6}' /proc/self/mountinfo; echo --; \
        stat -c '%t:%T' /dev/null; echo data > /dev/null && echo null-writable";
    let host_ifaces = || -> Vec<String> {
        fs::read_dir("/sys/class/net")
            .expect("host net")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = host_ifaces();
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let after = host_ifaces();
    let (listed, rest) = out.stdout.split_once("--\n").expect("marker");
    let (rest, dev) = rest.split_once("--\n").expect("marker");
    assert_eq!(dev, "1:3\nnull-writable\n", "{out}");
    let inside: Vec<&str> = listed.lines().collect();
    // Interfaces other tests add or remove meanwhile do not count.
    for iface in before.iter().filter(|i| after.contains(i)) {
        assert!(inside.contains(&iface.as_str()), "{iface} missing: {out}");
    }
    assert!(inside.len() > 1, "only lo: not the host's /sys: {out}");
    assert!(rest.starts_with("sys-read-only\n"), "{out}");
    let traced = host::host_mounts()
        .iter()
        .any(|m| m.mount_point == "/sys/kernel/tracing");
    if traced {
        assert!(rest.contains("\nro,"), "submounts not read-only: {out}");
    }
    c.assert_no_leftovers();
}

/// A host mount the container inherits keeps the flags the kernel locked: a read-only bind of
/// a nosuid,nodev,noexec tmpfs stays nosuid,nodev,noexec (runc 1.1.5 fails it: its remount
/// drops them), and options that would clear a locked flag are refused by name.
#[test]
fn locked_mount_flags_are_kept_and_never_cleared() {
    need_berth!();
    let vol = HostDir::new();
    open_up(vol.path());
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=755", "tmpfs"])
        .arg(vol.path())
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "mount tmpfs");
    let bind = |opts: Value| {
        userns_bundle().mount(json!({"destination": "/vol", "type": "bind",
            "source": vol.path(), "options": opts}))
    };
    let script = "grep ' /vol ' /proc/self/mountinfo | cut -d' ' -f6";
    let c = Container::new(bind(json!(["bind", "ro"])).args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let opts: Vec<&str> = out.stdout.trim().split(',').collect();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&o), "{o} missing: {out}");
    }
    c.assert_no_leftovers();
    drop(c);
    let c = Container::new(bind(json!(["bind", "suid"])).args(&["true"]));
    let out = c.run(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("the source's mount has nosuid, which the kernel locks"),
        "{out}"
    );
    c.assert_no_leftovers();
}

/// `type: cgroup` in a user namespace, with a cgroup namespace: fresh cgroup mounts rooted at
/// the container's cgroup.
#[test]
fn cgroup_mount_with_a_cgroup_namespace() {
    need_root!();
    let bundle = userns_bundle().set("/linux/namespaces/-", json!({"type": "cgroup"}));
    let script =
        "grep -E ':(memory|pids):' /proc/self/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    let procs = lines.split_off(2);
    for l in lines {
        assert!(
            l.ends_with(":/"),
            "not rooted at the container's cgroup: {out}"
        );
    }
    assert!(procs.contains(&"1"), "{out}");
    c.assert_no_leftovers();
}

/// A map of the container's root alone: devpts's `gid=5` names an unmapped group, which berth
/// leaves out with a warning rather than fail (runc 1.1.5 fails: "invalid argument").
#[test]
fn devpts_ids_that_are_not_mapped_are_left_out() {
    need_berth!();
    let bundle = userns_bundle()
        .set("/linux/uidMappings", maps(HOST, 1))
        .set("/linux/gidMappings", maps(HOST, 1));
    let script = "awk '$5 == \"/dev/pts\" {print $NF}' /proc/self/mountinfo";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    assert!(!out.stdout.contains("gid="), "{out}");
    assert!(out.stdout.contains("ptmxmode=666"), "{out}");
    assert!(
        out.stderr
            .contains("gid=5 is not mapped in the user namespace; left out"),
        "{out}"
    );
    c.assert_no_leftovers();
}

/// A host directory owned by root, for idmapped mounts.
fn root_owned_dir() -> HostDir {
    let dir = HostDir::new();
    open_up(dir.path());
    fs::write(dir.path().join("root-file"), "").expect("write");
    dir
}

/// `ridmap` without mappings takes the container's: host root's files are the container
/// root's, and what the container's root writes there is host root's again (runc 1.1.5 has no
/// idmapped mounts).
#[test]
fn idmapped_bind_with_the_containers_mappings() {
    need_berth!();
    let dir = root_owned_dir();
    let bundle = userns_bundle().mount(json!({"destination": "/idm", "type": "bind",
        "source": dir.path(), "options": ["rbind", "ridmap"]}));
    let script = "stat -c '%u %g' /idm/root-file; touch /idm/made-inside && echo made; \
                  awk '$5 == \"/idm\" {print $6}' /proc/self/mountinfo";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["0 0", "made"], "{out}");
    assert!(lines[2].split(',').any(|o| o == "idmapped"), "{out}");
    let m = fs::metadata(dir.path().join("made-inside")).expect("made inside");
    assert_eq!((m.uid(), m.gid()), (0, 0));
    c.assert_no_leftovers();
}

/// A mount's own uidMappings and gidMappings, in a container without a user namespace.
#[test]
fn idmapped_bind_with_its_own_mappings() {
    need_berth!();
    let dir = root_owned_dir();
    let bundle = Bundle::new().mount(json!({"destination": "/idm", "type": "bind",
        "source": dir.path(), "options": ["bind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
        "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 10}]}));
    let c = Container::new(bundle.args(&["stat", "-c", "%u %g", "/idm/root-file"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "1000 2000\n", "{out}");
    c.assert_no_leftovers();
}

/// Idmapped mounts berth cannot make are refused by field, leaving nothing behind.
#[test]
fn refused_idmapped_mounts() {
    need_berth!();
    let dir = root_owned_dir();
    let one = json!([{"containerID": 0, "hostID": 1000, "size": 10}]);
    let cases = [
        (
            json!({"destination": "/idm", "type": "tmpfs", "source": "tmpfs",
                "options": ["idmap"]}),
            "mounts[7]: only bind mounts can be idmapped",
        ),
        (
            json!({"destination": "/idm", "type": "bind", "source": dir.path(),
                "options": ["bind"], "uidMappings": one}),
            "mounts[7]: an idmapped mount needs both uidMappings and gidMappings",
        ),
        (
            json!({"destination": "/idm", "type": "bind", "source": dir.path(),
                "options": ["bind", "idmap"]}),
            "mounts[7]: idmap without uidMappings and gidMappings takes the container's",
        ),
        (
            json!({"destination": "/idm", "type": "bind", "source": dir.path(),
                "options": ["bind"], "uidMappings": one,
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 0}]}),
            "mounts[7].gidMappings[0]: size must be at least 1",
        ),
    ];
    for (mount, msg) in cases {
        let mut c = Container::new(Bundle::new().mount(mount).args(&["echo", "ran"]));
        let out = c.create(&[]);
        out.assert_failed();
        assert!(out.stderr.contains(msg), "want {msg:?}:\n{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        c.assert_no_leftovers();
    }
}

/// Without a pid namespace the kernel refuses a new proc in a user namespace: the container
/// shares the host's pid namespace, and berth binds the host's /proc (runc 1.1.5 fails: "mount
/// proc: operation not permitted").
#[test]
fn proc_without_a_pid_namespace_is_the_hosts() {
    need_berth!();
    let mut bundle = userns_bundle();
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("list")
        .clone();
    list.retain(|n| n["type"] != "pid");
    bundle = bundle.set("/linux/namespaces", Value::Array(list));
    let me = std::process::id();
    let script = format!("test -d /proc/{me} && echo sees-the-host; cat /proc/keys | wc -c");
    let c = Container::new(bundle.args(&["sh", "-c", &script]));
    let out = c.run(&[]);
    out.assert_ok();
    // Masked paths still apply on the host's /proc.
    assert_eq!(squeeze(&out.stdout), ["sees-the-host", "0"], "{out}");
    c.assert_no_leftovers();
}
