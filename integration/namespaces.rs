//! Namespaces: new ones are new, a path joins an existing one, hostname and domainname.

use crate::common::{berth_specific_enabled, runtime_bin, Bundle, Container};
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

/// `bundle` without a mount namespace (the container shares the runtime's).
fn without_mount_ns(bundle: Bundle) -> Bundle {
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .clone();
    list.retain(|n| n["type"] != "mount");
    bundle.set("/linux/namespaces", Value::Array(list))
}

/// Runs `sh -c script` in a throwaway mount namespace whose `/` is shared with nothing outside
/// (private first, then shared within), as root; returns stdout.
fn in_scratch_mount_ns(script: &str) -> String {
    let script = format!("mount --make-rshared /; {script}");
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    String::from_utf8_lossy(&out.stdout).into_owned()
        + &String::from_utf8_lossy(&out.stderr).replace('\n', "\n# ")
}

/// No mount namespace in the config: the container is in the runtime's (conformance suite:
/// linux_ns_itype), inside its rootfs. berth builds the rootfs there without touching that
/// namespace's propagation and leaves no mount behind (runc makes `/` a slave and leaves them).
#[test]
fn without_a_mount_namespace_the_container_shares_the_runtimes() {
    need_root!();
    // runc refuses masked and read-only paths without a mount namespace of its own.
    let bundle = without_mount_ns(Bundle::new())
        .set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]));
    fs::write(bundle.rootfs().join("inside-marker"), "").expect("marker");
    let c = Container::new(bundle.args(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/mnt; test -e /inside-marker && echo in-rootfs",
    ]));
    let b = c.bundle.path().display().to_string();
    let script = format!(
        "readlink /proc/self/ns/mnt; {bin} --root {root} run --bundle {b} {id}; \
         echo mounts-left $(grep -c ' {b}/rootfs' /proc/self/mountinfo); \
         echo propagation $(findmnt -no PROPAGATION /)",
        bin = runtime_bin().display(),
        root = c.root().display(),
        id = c.id,
    );
    let out = in_scratch_mount_ns(&script);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 5, "{out}");
    assert!(lines[0].starts_with("mnt:["), "{out}");
    assert_eq!(
        lines[1], lines[0],
        "not in the runtime's mount namespace: {out}"
    );
    assert_eq!(lines[2], "in-rootfs", "{out}");
    if berth_specific_enabled() {
        assert_eq!(lines[3], "mounts-left 0", "{out}");
        assert_eq!(lines[4], "propagation shared", "{out}");
    }
    c.assert_no_leftovers();
}

/// Without a mount namespace berth still masks paths (inside its own bind of the rootfs), and
/// neither a created container that is then deleted nor a create that fails half-way leaves a
/// mount in the namespace it shares.
#[test]
fn without_a_mount_namespace_nothing_is_left_mounted() {
    need_berth!();
    let c = Container::new(without_mount_ns(Bundle::new()).args(&[
        "sh",
        "-c",
        "stat -c 'keys %t,%T' /proc/keys",
    ]));
    let bad = Container::new(without_mount_ns(Bundle::new()).mount(json!({
        "destination": "/mnt", "type": "bind", "source": "/nonexistent-berth-source",
        "options": ["bind"]
    })));
    let (b, bad_b) = (c.bundle.path().display(), bad.bundle.path().display());
    let (bin, root) = (runtime_bin(), c.root());
    let (bin, root) = (bin.display(), root.display());
    let left = |b: &dyn std::fmt::Display| format!("$(grep -c ' {b}/rootfs' /proc/self/mountinfo)");
    let script = format!(
        "{bin} --root {root} create --bundle {b} {id} && echo created-with {l}; \
         {bin} --root {root} start {id}; sleep 0.5; \
         {bin} --root {root} delete --force {id} && echo deleted-with {l}; \
         {bin} --root {bad_root} create --bundle {bad_b} {bad_id} || echo failed-with {bl}",
        id = c.id,
        l = left(&b),
        bad_root = bad.root().display(),
        bad_id = bad.id,
        bl = left(&bad_b),
    );
    let out = in_scratch_mount_ns(&script);
    let created = out.lines().find_map(|l| l.strip_prefix("created-with "));
    assert!(created.is_some_and(|n| n != "0"), "{out}");
    assert!(out.contains("keys 1,3"), "/proc/keys not masked: {out}");
    assert!(out.contains("deleted-with 0\n"), "{out}");
    assert!(out.contains("failed-with 0\n"), "{out}");
    c.assert_no_leftovers();
    bad.assert_no_leftovers();
}

/// A create that fails on berth's side after the init built the rootfs (here a createRuntime
/// hook) leaves no mount in a mount namespace the container shares: the runtime's, or one
/// joined by path.
#[test]
fn a_failing_runtime_hook_leaves_no_mount_in_a_shared_mount_namespace() {
    need_berth!();
    let failing = |b: Bundle| {
        b.set("/hooks", json!({"createRuntime": [{"path": "/bin/false"}]}))
            .args(&["true"])
    };
    let c = Container::new(failing(without_mount_ns(Bundle::new())));
    let b = c.bundle.path().display().to_string();
    let script = format!(
        "{bin} --root {root} run --bundle {b} {id} || \
         echo failed-with $(grep -c ' {b}/rootfs' /proc/self/mountinfo)",
        bin = runtime_bin().display(),
        root = c.root().display(),
        id = c.id,
    );
    let out = in_scratch_mount_ns(&script);
    assert!(
        out.contains("failed-with 0\n"),
        "the runtime's namespace: {out}"
    );
    c.assert_no_leftovers();

    let mnt = NsFile::new("mount");
    let c = Container::new(failing(with_ns_path(Bundle::new(), "mount", &mnt.path())));
    let out = c.run(&[]);
    out.assert_failed();
    assert!(out.stderr.contains("createRuntime hook #0"), "{out}");
    let rootfs = format!(" {}/rootfs", c.bundle.path().display());
    let there = mnt.enter("mount", &["cat", "/proc/self/mountinfo"]);
    assert!(
        !there.contains(&rootfs),
        "left mounted in the joined namespace: {there}"
    );
    c.assert_no_leftovers();
}

/// A mount namespace joined by path (conformance suite: linux_ns_path): the container is in it,
/// its rootfs is built there, and nothing of it stays mounted there after delete (runc leaves
/// its mounts).
#[test]
fn joins_a_mount_namespace_by_path() {
    need_root!();
    let mnt = NsFile::new("mount");
    let ino = fs::metadata(mnt.path()).expect("stat ns").ino();
    let bundle = with_ns_path(Bundle::new(), "mount", &mnt.path());
    fs::write(bundle.rootfs().join("inside-marker"), "").expect("marker");
    let script = "readlink /proc/self/ns/mnt; test -e /inside-marker && echo in-rootfs";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, format!("mnt:[{ino}]\nin-rootfs\n"), "{out}");
    let rootfs = format!(" {}/rootfs", c.bundle.path().display());
    let host = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !host.contains(&rootfs),
        "mounted in the host's namespace: {host}"
    );
    if berth_specific_enabled() {
        let there = mnt.enter("mount", &["cat", "/proc/self/mountinfo"]);
        assert!(
            !there.contains(&rootfs),
            "left mounted in the joined namespace: {there}"
        );
    }
    c.assert_no_leftovers();
}

/// `exec` into a container without a mount namespace of its own (in the runtime's, or in one
/// joined by path) runs in the container's rootfs, where its init lives chrooted, not in that
/// namespace's own root (the host's, here).
#[test]
fn exec_without_a_mount_namespace_of_its_own_runs_in_the_rootfs() {
    need_berth!(); // runc refuses such containers with masked paths, or runs them differently
    let probe = "test -e /inside-marker && echo in-rootfs || echo elsewhere; pwd";
    let mnt = NsFile::new("mount");
    let joined = with_ns_path(Bundle::new(), "mount", &mnt.path());
    fs::write(joined.rootfs().join("inside-marker"), "").expect("marker");
    let mut c = Container::new(joined.args(&["sleep", "1000"]));
    c.create_and_start();
    let out = c.rt(&["exec", "--cwd", "/tmp", &c.id, "sh", "-c", probe]);
    out.assert_ok();
    assert_eq!(
        out.stdout, "in-rootfs\n/tmp\n",
        "joined mount namespace: {out}"
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();

    let shared = without_mount_ns(Bundle::new());
    fs::write(shared.rootfs().join("inside-marker"), "").expect("marker");
    let c = Container::new(shared.args(&["sleep", "1000"]));
    let script = format!(
        "{bin} --root {root} run --detach --bundle {b} {id} </dev/null >/dev/null && \
         {bin} --root {root} exec {id} sh -c '{probe}'; \
         {bin} --root {root} delete --force {id}",
        bin = runtime_bin().display(),
        root = c.root().display(),
        b = c.bundle.path().display(),
        id = c.id,
    );
    let out = in_scratch_mount_ns(&script);
    assert!(
        out.starts_with("in-rootfs\n/\n"),
        "the runtime's mount namespace: {out}"
    );
    c.assert_no_leftovers();
}

/// A namespace path of another type is refused (conformance suite: linux_ns_path_type).
#[test]
fn a_namespace_path_of_another_type_fails() {
    need_root!();
    let uts = NsFile::new("uts");
    let bundle = with_ns_path(Bundle::new(), "ipc", &uts.path());
    let mut c = Container::new(bundle.args(&["echo", "should-not-run"]));
    let out = c.create(&[]);
    out.assert_failed();
    assert_eq!(c.output(), "", "{out}");
    c.assert_no_leftovers();
}

/// A new network namespace gets its loopback up, as under runc: 127.0.0.1 answers.
#[test]
fn a_new_network_namespace_has_loopback_up() {
    need_root!();
    // IFF_UP (0x1) | IFF_LOOPBACK (0x8); the kernel adds RUNNING (carrier) once it is up.
    let c = Container::new(Bundle::new().args(&[
        "sh",
        "-c",
        "cat /sys/class/net/lo/flags; ls /sys/class/net",
    ]));
    let out = c.run(&[]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let flags = lines.next().unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 0x9, 0x9, "lo is not up: {out}");
    assert_eq!(lines.collect::<Vec<_>>(), ["lo"], "{out}");
    c.assert_no_leftovers();
}
