//! Namespaces: new ones are new, a path joins an existing one, hostname and domainname.

use crate::common::{Bundle, Container};
use crate::host::{HostDir, NetNs, NsFile};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The bundle with the `ty` namespace joined at `path`.
fn with_ns_path(bundle: Bundle, ty: &str, path: &Path) -> Bundle {
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .clone();
    list.retain(|n| n["type"] != ty);
    list.push(json!({"type": ty, "path": path}));
    bundle.set("/linux/namespaces", Value::Array(list))
}

#[test]
fn hostname_from_config() {
    need_root!();
    let bundle = Bundle::new().set("/hostname", json!("berth-box"));
    let c = Container::new(bundle.args(&["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "berth-box\nberth-box\n", "{out}");
    c.assert_no_leftovers();
}

// Known to fail on runc 1.1.5, which ignores `domainname` (runc supports it from 1.2).
#[test]
fn domainname_from_config() {
    need_root!();
    let bundle = Bundle::new().set("/domainname", json!("berth.example"));
    let c = Container::new(bundle.args(&["cat", "/proc/sys/kernel/domainname"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "berth.example\n", "{out}");
    c.assert_no_leftovers();
}

#[test]
fn new_namespaces_differ_from_the_host() {
    need_root!();
    let kinds = ["pid", "net", "ipc", "uts", "mnt"];
    let script = format!(
        "for k in {}; do echo $k $(readlink /proc/self/ns/$k); done",
        kinds.join(" ")
    );
    let c = Container::new(Bundle::new().args(&["sh", "-c", &script]));
    let out = c.run(&[]);
    out.assert_ok();
    for kind in kinds {
        let host = fs::read_link(format!("/proc/self/ns/{kind}")).expect("host ns");
        let line = format!("{kind} {}", host.display());
        let inside = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{kind} ")));
        let inside = inside.unwrap_or_else(|| panic!("no {kind} line: {out}"));
        assert!(inside.len() > kind.len() + 1, "empty {kind} link: {out}");
        assert_ne!(
            inside, line,
            "the container shares the host's {kind} namespace"
        );
    }
    c.assert_no_leftovers();
}

#[test]
fn new_network_namespace_has_only_lo() {
    need_root!();
    let c = Container::new(Bundle::new().args(&["cat", "/proc/net/dev"]));
    let out = c.run(&[]);
    out.assert_ok();
    let ifaces: Vec<&str> = out
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{out}");
    c.assert_no_leftovers();
}

#[test]
fn joins_a_network_namespace_by_path() {
    need_root!();
    let netns = NetNs::new();
    netns.ip(&["link", "set", "lo", "up"]);
    netns.ip(&["addr", "add", "127.0.0.42/8", "dev", "lo"]);
    let ino = fs::metadata(netns.path()).expect("stat netns").ino();

    let bundle = with_ns_path(Bundle::new(), "network", &netns.path());
    let script = "readlink /proc/self/ns/net; ip -o addr show dev lo";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    assert!(
        out.stdout.starts_with(&format!("net:[{ino}]\n")),
        "not in {}: {out}",
        netns.name
    );
    assert!(out.stdout.contains("127.0.0.42/8"), "{out}");
    c.assert_no_leftovers();
}

#[test]
fn a_namespace_path_that_is_not_a_namespace_fails() {
    need_root!();
    let dir = HostDir::new();
    let not_ns = dir.path().join("plain-file");
    fs::write(&not_ns, "").expect("write");
    let bundle = with_ns_path(Bundle::new(), "network", &not_ns);
    let c = Container::new(bundle.args(&["sh", "-c", "echo should-not-run"]));
    let out = c.run(&[]);
    out.assert_failed();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    c.assert_no_leftovers();
}

/// A uts namespace joined by path gets the config's hostname (conformance suite:
/// linux_ns_path); the host's name is untouched.
#[test]
fn hostname_is_set_in_a_uts_namespace_joined_by_path() {
    need_root!();
    let uts = NsFile::new("uts");
    let ino = fs::metadata(uts.path()).expect("stat ns").ino();
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let bundle = with_ns_path(Bundle::new(), "uts", &uts.path()).set("/hostname", json!("joined"));
    let c = Container::new(bundle.args(&["sh", "-c", "readlink /proc/self/ns/uts; hostname"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, format!("uts:[{ino}]\njoined\n"), "{out}");
    assert_eq!(uts.enter("uts", &["hostname"]), "joined\n");
    let after = fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    assert_eq!(after, host_name, "the host's hostname changed");
    c.assert_no_leftovers();
}
