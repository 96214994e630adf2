//! User namespaces: the maps inside, who the container's root is on the host, files, capabilities,
//! namespaces joined by path, refused mappings, sysctl and cgroup delegation (mounts and devices
//! in a user namespace: userns_mounts.rs). Every bundle's rootfs is chowned into the mapped
//! range, as an image prepared for a user namespace is.

use crate::common::{berth_specific_enabled, Bundle, Container, STATE_TIMEOUT};
use crate::host::{self, HostDir};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The host ids the container's 0-65535 are mapped to.
pub const HOST: u32 = 100_000;
pub const SIZE: u32 = 65_536;

/// Shifts the owner of everything under `dir` by `by` (root-owned files become `by`).
fn shift_owner(dir: &Path, by: u32) {
    let m = fs::symlink_metadata(dir).expect("stat");
    std::os::unix::fs::lchown(dir, Some(m.uid() + by), Some(m.gid() + by)).expect("lchown");
    if m.is_dir() {
        for e in fs::read_dir(dir).expect("read_dir").flatten() {
            shift_owner(&e.path(), by);
        }
    }
}

/// Lets host uid `HOST` (the container's root) through `dir`, a 0700 temp dir.
pub fn open_up(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
}

pub fn maps(host: u32, size: u32) -> Value {
    json!([{"containerID": 0, "hostID": host, "size": size}])
}

/// A bundle with a new user namespace mapping container 0-65535 to host `HOST`..., its rootfs
/// chowned to match.
pub fn userns_bundle() -> Bundle {
    let b = Bundle::new();
    shift_owner(&b.rootfs(), HOST);
    open_up(b.path());
    b.set("/linux/namespaces/-", json!({"type": "user"}))
        .set("/linux/uidMappings", maps(HOST, SIZE))
        .set("/linux/gidMappings", maps(HOST, SIZE))
}

/// A scratch directory on the host, owned by `uid:gid`, bind-mounted at /scratch.
fn with_scratch(bundle: Bundle, scratch: &HostDir, uid: u32, gid: u32) -> Bundle {
    std::os::unix::fs::chown(scratch.path(), Some(uid), Some(gid)).expect("chown scratch");
    open_up(scratch.path());
    bundle.mount(json!({"destination": "/scratch", "type": "bind",
        "source": scratch.path(), "options": ["bind"]}))
}

/// A field of /proc/<pid>/status, its values split.
fn status_field(pid: u32, name: &str) -> Vec<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in status"));
    line.split_whitespace().skip(1).map(String::from).collect()
}

/// Map text with its column padding squeezed: "0 100000 65536".
pub fn squeeze(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Runs `script` in the container until it prints "ready", then checks it from the host
/// with `check(pid, output)`, and stops and deletes it.
fn while_running(mut c: Container, script: &str, check: impl FnOnce(u32, &str)) {
    c.bundle.config["process"]["args"] =
        json!(["sh", "-c", format!("{script}; echo ready; sleep 60")]);
    c.bundle.write();
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let out = c.wait_output("ready");
    let pid = c.pid_file_proc().pid;
    check(pid, &out);
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// Inside, the maps are the config's and `id` is root; on the host the same process is the
/// mapped uid and gid, in a user namespace of its own.
#[test]
fn the_containers_root_is_the_mapped_host_uid() {
    need_root!();
    let c = Container::new(userns_bundle());
    let script = "cat /proc/self/uid_map /proc/self/gid_map; echo id $(id -u) $(id -g)";
    while_running(c, script, |pid, out| {
        let lines = squeeze(out);
        let map = format!("0 {HOST} {SIZE}");
        assert_eq!(lines[..3], [map.clone(), map, "id 0 0".into()], "{out}");
        let h = HOST.to_string();
        assert_eq!(status_field(pid, "Uid"), [h.as_str(); 4]);
        assert_eq!(status_field(pid, "Gid"), [h.as_str(); 4]);
        let ns = fs::read_link(format!("/proc/{pid}/ns/user")).expect("ns");
        assert_ne!(ns, fs::read_link("/proc/self/ns/user").expect("own ns"));
    });
}

/// What the container creates lands on the host with the mapped owner (root and uid 1000);
/// host files show with their container ids, unmapped ones as the overflow id.
#[test]
fn files_made_inside_belong_to_the_mapped_ids() {
    need_root!();
    let scratch = HostDir::new();
    fs::write(scratch.path().join("by-host-5"), "").expect("write");
    std::os::unix::fs::lchown(
        scratch.path().join("by-host-5"),
        Some(HOST + 5),
        Some(HOST + 5),
    )
    .expect("chown");
    fs::write(scratch.path().join("by-host-root"), "").expect("write");
    let bundle = with_scratch(userns_bundle(), &scratch, HOST, HOST);
    let script = "touch /scratch/by-root; mkdir /scratch/dir; \
                  stat -c '%n %u %g' /scratch/by-host-5 /scratch/by-host-root";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(
        out.stdout, "/scratch/by-host-5 5 5\n/scratch/by-host-root 65534 65534\n",
        "{out}"
    );
    for name in ["by-root", "dir"] {
        let m = fs::metadata(scratch.path().join(name)).expect("made inside");
        assert_eq!((m.uid(), m.gid()), (HOST, HOST), "{name}");
    }
    c.assert_no_leftovers();
    drop(c);

    // process.user 1000 in the container is host HOST+1000.
    let bundle = with_scratch(userns_bundle(), &scratch, HOST, HOST)
        .set("/process/user", json!({"uid": 1000, "gid": 1000}));
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let c = Container::new(bundle.args(&["sh", "-c", "id -u; touch /scratch/by-1000"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "1000\n", "{out}");
    let m = fs::metadata(scratch.path().join("by-1000")).expect("made by 1000");
    assert_eq!((m.uid(), m.gid()), (HOST + 1000, HOST + 1000));
    c.assert_no_leftovers();
}

/// Capabilities hold in the container's own user namespace: the bits are what the config asks
/// (inside and in the host's view of the same process), but CAP_DAC_OVERRIDE opens only files
/// whose owner is mapped, never the host root's.
#[test]
fn capabilities_count_only_in_the_containers_namespace() {
    need_root!();
    let scratch = HostDir::new();
    for (name, owner) in [("host-secret", 0), ("mapped-secret", HOST + 5)] {
        let p = scratch.path().join(name);
        fs::write(&p, "secret\n").expect("write");
        std::os::unix::fs::lchown(&p, Some(owner), Some(owner)).expect("chown");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let caps = json!(["CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SYS_ADMIN"]);
    let bundle = with_scratch(userns_bundle(), &scratch, HOST, HOST).set(
        "/process/capabilities",
        json!({"bounding": caps, "effective": caps,
            "permitted": caps}),
    );
    let script = "grep CapEff /proc/self/status; cat /scratch/mapped-secret; \
                  cat /scratch/host-secret 2>/dev/null || echo host-secret refused";
    let c = Container::new(bundle);
    while_running(c, script, |pid, out| {
        let want: u64 = (1 << 1) | (1 << 5) | (1 << 21);
        let inside = out.lines().next().and_then(|l| l.split_whitespace().nth(1));
        assert_eq!(inside, Some(format!("{want:016x}").as_str()), "{out}");
        assert_eq!(status_field(pid, "CapEff"), [format!("{want:016x}")]);
        assert!(out.contains("secret\nhost-secret refused\n"), "{out}");
    });
}

/// A process holding a user namespace with the given maps; killed on drop.
struct UserNs {
    child: Child,
}

impl UserNs {
    fn new(host: u32, size: u32) -> UserNs {
        let child = Command::new("unshare")
            .args(["--user", "sleep", "120"])
            .spawn()
            .expect("unshare");
        let pid = child.id();
        let own = fs::read_link("/proc/self/ns/user").expect("own ns");
        host::wait_until(STATE_TIMEOUT, "unshare's user namespace", || {
            let ns = fs::read_link(format!("/proc/{pid}/ns/user")).ok()?;
            (ns != own).then_some(())
        });
        for file in ["uid_map", "gid_map"] {
            fs::write(format!("/proc/{pid}/{file}"), format!("0 {host} {size}\n")).expect(file);
        }
        UserNs { child }
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/user", self.child.id())
    }
}

impl Drop for UserNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user namespace that owns the namespace at `path` (ioctl NS_GET_USERNS), as a link.
fn owner_of(path: &str) -> String {
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    let f = fs::File::open(path).expect("open ns");
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd (or -1).
    let fd = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), NS_GET_USERNS) };
    assert!(fd >= 0, "NS_GET_USERNS on {path}");
    let link = fs::read_link(format!("/proc/self/fd/{fd}")).expect("readlink");
    // SAFETY: the fd is ours, from the ioctl.
    unsafe { libc::close(fd) };
    link.display().to_string()
}

/// A user namespace joined by path: the container is in it, with its maps and its root, and
/// the container's new namespaces are owned by it (joined first, as the spec orders).
#[test]
fn joins_a_user_namespace_by_path() {
    need_root!();
    let userns = UserNs::new(HOST, SIZE);
    let want = fs::read_link(userns.path()).expect("ns link");
    // The namespace's own mappings stay in the config, as containerd writes it (runc 1.1.5
    // needs them; berth warns that they repeat the namespace's).
    let bundle = userns_bundle();
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("list")
        .clone();
    list.retain(|n| n["type"] != "user");
    list.insert(0, json!({"type": "user", "path": userns.path()}));
    let bundle = bundle.set("/linux/namespaces", Value::Array(list));
    let c = Container::new(bundle);
    let script = "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; hostname";
    while_running(c, script, |pid, out| {
        let lines = squeeze(out);
        assert_eq!(lines[0], want.display().to_string(), "{out}");
        assert_eq!(lines[1], format!("0 {HOST} {SIZE}"), "{out}");
        assert_eq!(lines[2..4], ["0", "runc"], "{out}");
        assert_eq!(status_field(pid, "Uid")[0], HOST.to_string());
        for ns in ["net", "mnt", "pid", "uts", "ipc"] {
            let owner = owner_of(&format!("/proc/{pid}/ns/{ns}"));
            assert_eq!(
                owner,
                want.display().to_string(),
                "owner of the {ns} namespace"
            );
        }
    });
}

/// Mappings given with a joined namespace are refused unless they are its own (runc 1.1.5
/// ignores them; berth follows later runc, which refuses differing ones).
#[test]
fn mappings_other_than_the_joined_namespaces_are_refused() {
    need_berth!();
    let userns = UserNs::new(HOST, SIZE);
    let joined = |uid_host: u32| {
        let mut b = userns_bundle().set("/linux/uidMappings", maps(uid_host, SIZE));
        let mut list = b.config["linux"]["namespaces"]
            .as_array()
            .expect("list")
            .clone();
        list.retain(|n| n["type"] != "user");
        list.push(json!({"type": "user", "path": userns.path()}));
        b = b.set("/linux/namespaces", Value::Array(list));
        b.args(&["id", "-u"])
    };
    let c = Container::new(joined(HOST + 1));
    let out = c.run(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("linux.uidMappings: must not be given with a user namespace joined by path"),
        "{out}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    c.assert_no_leftovers();
    drop(c);
    let c = Container::new(joined(HOST));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "0\n", "{out}");
    assert!(
        out.stderr.contains("warning: linux.uidMappings: repeats"),
        "{out}"
    );
    c.assert_no_leftovers();
}

/// Mappings the kernel would refuse fail create with one line naming the entry, and leave
/// nothing behind (runc fails them too, with the kernel's EINVAL).
#[test]
fn refused_mappings_fail_clearly_and_leave_nothing() {
    need_root!();
    let over_lines: Vec<Value> = (0..341)
        .map(|i| json!({"containerID": 70000 + i, "hostID": 300000 + i, "size": 1}))
        .chain([json!({"containerID": 0, "hostID": HOST, "size": SIZE})])
        .collect();
    let cases = [
        (
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": HOST, "size": SIZE},
                   {"containerID": 1000, "hostID": 300000, "size": 1}]),
            "linux.uidMappings[1]: container uids 1000-1000 overlap",
        ),
        (
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": HOST, "size": SIZE},
                   {"containerID": 70000, "hostID": HOST + 10, "size": 5}]),
            "linux.gidMappings[1]: host gids 100010-100014 overlap",
        ),
        (
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": HOST, "size": SIZE},
                   {"containerID": 4294967295u32, "hostID": 300000, "size": 1}]),
            "linux.uidMappings[1]: containerID 4294967295",
        ),
        (
            "/linux/uidMappings",
            Value::Array(over_lines),
            "linux.uidMappings: 342 entries, more than the kernel's limit of 340",
        ),
        (
            "/process/user",
            json!({"uid": 70000, "gid": 0}),
            "process.user.uid: 70000 is not mapped by linux.uidMappings",
        ),
    ];
    for (pointer, value, msg) in cases {
        let mut c = Container::new(userns_bundle().set(pointer, value).args(&["echo", "ran"]));
        let out = c.create(&[]);
        out.assert_failed();
        assert_eq!(c.output(), "", "{out}");
        if berth_specific_enabled() {
            assert!(out.stderr.contains(msg), "want {msg:?}:\n{out}");
            assert_eq!(out.stderr.lines().count(), 1, "{out}");
        }
        c.assert_no_leftovers();
    }
}

/// Mappings without a user namespace are refused by name (runc 1.1.5 ignores them).
#[test]
fn mappings_without_a_user_namespace_are_refused() {
    need_berth!();
    let bundle = Bundle::new()
        .set("/linux/uidMappings", maps(HOST, SIZE))
        .set("/linux/gidMappings", maps(HOST, SIZE));
    let mut c = Container::new(bundle.args(&["echo", "ran"]));
    let out = c.create(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("linux.uidMappings: needs a user namespace"),
        "{out}"
    );
    c.assert_no_leftovers();
}

/// Namespaced sysctls and oomScoreAdj are applied in a user namespace too (kernel.domainname
/// through setdomainname: the file is the host root's; runc 1.1.5 fails on it).
#[test]
fn sysctl_and_oom_score_adj() {
    need_root!();
    let mut sysctl = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456"});
    if berth_specific_enabled() {
        sysctl["kernel.domainname"] = json!("inside.example");
    }
    let bundle = userns_bundle()
        .set("/linux/sysctl", sysctl)
        .set("/process/oomScoreAdj", json!(321));
    let script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax \
                  /proc/self/oom_score_adj /proc/sys/kernel/domainname";
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..3], ["1", "123456", "321"], "{out}");
    if berth_specific_enabled() {
        assert_eq!(lines[3], "inside.example", "{out}");
    }
    c.assert_no_leftovers();
}

/// A sysctl in a user namespace that shares the host's pid namespace: berth writes sysctls
/// through a procfs instance of the container's own, which the kernel refuses there; create
/// says so in one line and leaves nothing (runc fails earlier: it cannot mount /proc).
#[test]
fn sysctl_without_a_pid_namespace_in_a_user_namespace_says_why() {
    need_berth!();
    let bundle = userns_bundle();
    let mut list = bundle.config["linux"]["namespaces"]
        .as_array()
        .expect("list")
        .clone();
    list.retain(|n| n["type"] != "pid");
    let bundle = bundle
        .set("/linux/namespaces", Value::Array(list))
        .set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    let c = Container::new(bundle.args(&["true"]));
    let out = c.run(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("give the container a pid namespace of its own"),
        "{out}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    c.assert_no_leftovers();
}

/// On a cgroup v2 host (only: never with v1 in use, as the runtime-spec says) a container with
/// a cgroup namespace and a read-write cgroup mount owns its cgroup and can make sub-cgroups.
#[test]
fn cgroup_v2_is_delegated_to_the_containers_root() {
    need_berth!();
    let v2_only = host::cgroup_hierarchies() == [PathBuf::from("/sys/fs/cgroup")];
    if !v2_only {
        println!("skipping: not a cgroup v2 host");
        return;
    }
    let mut bundle = userns_bundle().set("/linux/namespaces/-", json!({"type": "cgroup"}));
    for m in bundle.config["mounts"].as_array_mut().expect("mounts") {
        if m["type"] == "cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev"]);
        }
    }
    let c = Container::new(bundle.args(&["sh", "-c", "mkdir /sys/fs/cgroup/sub && echo made"]));
    let out = c.run(&["--keep"]);
    out.assert_ok();
    assert_eq!(out.stdout, "made\n", "{out}");
    let dir = Path::new("/sys/fs/cgroup").join(c.bundle.cgroup_path.trim_start_matches('/'));
    assert_eq!(fs::metadata(&dir).expect("cgroup").uid(), HOST);
    assert_eq!(
        fs::metadata(dir.join("cgroup.procs")).expect("procs").uid(),
        HOST
    );
    assert_ne!(
        fs::metadata(dir.join("cgroup.max.depth"))
            .expect("max")
            .uid(),
        HOST
    );
    let _ = fs::remove_dir(dir.join("sub"));
}

/// A new user namespace with a network namespace joined by path: the join happens before the
/// user namespace exists (after, the container's root has no privilege over the host's
/// namespaces). A new sysfs is refused for that network namespace, which the container's user
/// namespace does not own: without /sys the container runs; with it, create says why not.
#[test]
fn a_new_user_namespace_joins_a_network_namespace_by_path() {
    need_root!();
    let netns = host::NetNs::new();
    netns.ip(&["link", "set", "lo", "up"]);
    netns.ip(&["addr", "add", "127.0.0.42/8", "dev", "lo"]);
    let joined = |with_sys: bool| {
        let mut b = userns_bundle();
        let mut list = b.config["linux"]["namespaces"]
            .as_array()
            .expect("list")
            .clone();
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "network", "path": netns.path()}));
        b = b.set("/linux/namespaces", Value::Array(list));
        if !with_sys {
            let mut mounts = b.config["mounts"].as_array().expect("mounts").clone();
            mounts.retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/sys"));
            b = b.set("/mounts", Value::Array(mounts));
            b = b.set("/linux/maskedPaths", json!([]));
        }
        b
    };
    let script = "cat /proc/self/uid_map; id -u; ip -o addr show dev lo | grep -c 127.0.0.42";
    let c = Container::new(joined(false).args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(
        squeeze(&out.stdout),
        [format!("0 {HOST} {SIZE}"), "0".into(), "1".into()],
        "{out}"
    );
    c.assert_no_leftovers();
    drop(c);
    if berth_specific_enabled() {
        let c = Container::new(joined(true).args(&["true"]));
        let out = c.run(&[]);
        out.assert_failed();
        assert!(
            out.stderr.contains("mount sysfs on /sys")
                && out
                    .stderr
                    .contains("the container's network namespace does not"),
            "{out}"
        );
        c.assert_no_leftovers();
    }
}

/// `exec` into a container with a user namespace joins it first: the process is the container's
/// root inside, the mapped uid outside, in the init's user namespace.
#[test]
fn exec_joins_the_user_namespace() {
    need_root!();
    let mut c = Container::new(userns_bundle().args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    c.create_and_start();
    c.wait_output("ready");
    let init = c.pid_file_proc();
    let out = c.rt(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/1/ns/user",
    ]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(squeeze(lines[1]), [format!("0 {HOST} {SIZE}")], "{out}");
    assert_eq!(
        lines[2], lines[3],
        "not in the init's user namespace: {out}"
    );
    let host_ns = fs::read_link("/proc/self/ns/user").expect("own userns");
    assert_ne!(lines[2], host_ns.display().to_string(), "{out}");
    // From the host: a detached exec runs as the mapped root.
    let dir = tempfile::tempdir().expect("tempdir");
    let pf = dir.path().join("exec.pid");
    c.rt(&[
        "exec",
        "--detach",
        "--pid-file",
        &pf.display().to_string(),
        &c.id,
        "sleep",
        "1000",
    ])
    .assert_ok();
    let pid: u32 = fs::read_to_string(&pf)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(status_field(pid, "Uid")[0], HOST.to_string());
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/ns/user")).expect("ns"),
        fs::read_link(format!("/proc/{}/ns/user", init.pid)).expect("ns")
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// A container joining a sandbox's user, pid, network and ipc namespaces by path (a pod's
/// second container with user namespaces, as CRI runtimes write it): the pid berth records is
/// the init's pid on the host, not its pid in the sandbox's pid namespace.
#[test]
fn joins_a_sandboxs_user_and_pid_namespaces() {
    need_root!();
    let mut sandbox =
        Container::new(userns_bundle().args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    sandbox.create_and_start();
    sandbox.wait_output("ready");
    let sandbox_pid = sandbox.pid_file_proc().pid;
    let ns = |kind: &str| format!("/proc/{sandbox_pid}/ns/{kind}");
    let bundle = userns_bundle().set(
        "/linux/namespaces",
        json!([
            {"type": "user", "path": ns("user")},
            {"type": "pid", "path": ns("pid")},
            {"type": "network", "path": ns("net")},
            {"type": "ipc", "path": ns("ipc")},
            {"type": "mount"},
            {"type": "uts"}
        ]),
    );
    let mut c = Container::new(bundle.args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    c.create(&[]).assert_ok();
    let init = c.pid_file_proc();
    assert_eq!(
        c.state()["pid"],
        json!(init.pid),
        "state and pid file agree"
    );
    for kind in ["user", "pid", "net"] {
        assert_eq!(
            fs::read_link(format!("/proc/{}/ns/{kind}", init.pid)).expect("ns"),
            fs::read_link(ns(kind)).expect("sandbox ns"),
            "pid {} (from the pid file) is not the container's init: {kind} namespace",
            init.pid
        );
    }
    // Its host pid, then its pid in the sandbox's namespace.
    assert_eq!(status_field(init.pid, "NSpid").len(), 2);
    assert_eq!(status_field(init.pid, "NSpid")[0], init.pid.to_string());
    c.start().assert_ok();
    c.wait_output("ready");
    let procs = host::procs_in_cgroup(&c.bundle.cgroup_path);
    assert_eq!(
        procs.iter().map(|p| p.pid).collect::<Vec<_>>(),
        [init.pid],
        "the container's cgroup holds its init"
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
    sandbox.delete(true).assert_ok();
    sandbox.assert_no_leftovers();
}
