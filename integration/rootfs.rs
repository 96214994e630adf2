//! The container's filesystem: `pivot_root`, the standard mounts and devices, readonly root,
//! bind and tmpfs mounts, linux.devices.

use crate::common::{Bundle, Container, Out};
use crate::host::{parse_mountinfo, HostDir, Mount};
use serde_json::json;
use std::fs;
use std::process::Command;

/// Runs `script` in a container built from `bundle`, asserting success; returns its stdout.
fn probe(bundle: Bundle, script: &str) -> (Container, Out) {
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    (c, out)
}

/// The mount at `point` as the container's mountinfo shows it (the topmost one).
#[track_caller]
fn mount_at(mountinfo: &str, point: &str) -> Mount {
    let mounts = parse_mountinfo(mountinfo);
    let m = mounts.into_iter().rev().find(|m| m.mount_point == point);
    m.unwrap_or_else(|| panic!("no mount at {point} in:\n{mountinfo}"))
}

/// Probes whether host paths are visible; `extra` goes to `run` (e.g. `--no-pivot`).
fn host_files_are_hidden(extra: &[&str]) {
    let host_tmp = tempfile::NamedTempFile::new().expect("host marker");
    let bundle = Bundle::new();
    let bundle_marker = bundle.path().join("host-marker");
    fs::write(&bundle_marker, "host").expect("write bundle marker");
    fs::write(bundle.rootfs().join("inside-marker"), "inside").expect("write rootfs marker");
    let paths = [
        bundle_marker.display().to_string(),
        host_tmp.path().display().to_string(),
        "/inside-marker".to_string(),
    ];
    let script = format!(
        "for p in {}; do test -e $p && echo seen $p || echo absent $p; done",
        paths.join(" ")
    );
    let c = Container::new(bundle.args(&["sh", "-c", &script]));
    let out = c.run(extra);
    out.assert_ok();
    let want = format!(
        "absent {}\nabsent {}\nseen /inside-marker\n",
        paths[0], paths[1]
    );
    assert_eq!(out.stdout, want, "{out}");
    c.assert_no_leftovers();
}

#[test]
fn pivot_root_hides_host_files() {
    need_root!();
    host_files_are_hidden(&[]);
}

#[test]
fn no_pivot_hides_host_files() {
    need_root!();
    host_files_are_hidden(&["--no-pivot"]);
}

#[test]
fn proc_sys_dev_mounts_are_as_configured() {
    need_root!();
    let (c, out) = probe(Bundle::new(), "cat /proc/self/mountinfo");
    let mi = &out.stdout;
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
    ] {
        assert_eq!(
            mount_at(mi, point).fstype,
            fstype,
            "fstype at {point}:\n{mi}"
        );
    }
    let sys = mount_at(mi, "/sys");
    assert!(
        sys.vfs_opts.iter().any(|o| o == "ro"),
        "/sys is not ro: {sys:?}"
    );
    for opt in ["nosuid", "noexec", "nodev"] {
        assert!(
            mount_at(mi, "/dev/shm").has_opt(opt),
            "/dev/shm lacks {opt}"
        );
    }
    assert!(mount_at(mi, "/dev").has_opt("mode=755"), "{mi}");
    assert!(mount_at(mi, "/dev/pts").has_opt("ptmxmode=666"), "{mi}");
    assert!(
        mount_at(mi, "/").vfs_opts.iter().any(|o| o == "ro"),
        "root is not ro:\n{mi}"
    );
    // readonlyPaths
    assert!(
        mount_at(mi, "/proc/sys").vfs_opts.iter().any(|o| o == "ro"),
        "{mi}"
    );
    c.assert_no_leftovers();
}

#[test]
fn masked_and_readonly_paths() {
    need_root!();
    // /proc/keys and /sys/firmware exist on any recent kernel; both must be masked.
    let script = "echo keys=$(wc -c </proc/keys); echo firmware=$(ls /sys/firmware | wc -l); \
                  echo x 2>&1 >/proc/sys/kernel/hostname; echo write=$?";
    let (c, out) = probe(Bundle::new(), script);
    assert!(out.stdout.contains("keys=0\n"), "{out}");
    assert!(out.stdout.contains("firmware=0\n"), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!out.stdout.contains("write=0"), "{out}");
    c.assert_no_leftovers();
}

#[test]
fn default_devices_exist() {
    need_root!();
    let names = "null zero full random urandom tty";
    let script = format!(
        "cd /dev; stat -c '%n %F %t:%T' {names}; stat -L -c 'ptmx %F %t:%T' ptmx; \
         for l in fd stdin stdout stderr; do echo $l $(readlink $l); done"
    );
    let (c, out) = probe(Bundle::new(), &script);
    let mut seen: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    seen.sort();
    let mut want: Vec<String> = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
        ("ptmx", 5, 2),
    ]
    .iter()
    // stat prints major and minor in hex.
    .map(|(n, maj, min)| format!("{n} character special file {maj:x}:{min:x}"))
    .chain(
        [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2",
        ]
        .map(String::from),
    )
    .collect();
    want.sort();
    assert_eq!(seen, want, "{out}");
    c.assert_no_leftovers();
}

#[test]
fn readonly_root_refuses_writes() {
    need_root!();
    let (c, out) = probe(Bundle::new(), "touch /x 2>&1; echo rc=$?");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!out.stdout.contains("rc=0"), "{out}");
    assert!(!c.bundle.rootfs().join("x").exists());
    c.assert_no_leftovers();
}

#[test]
fn writable_root_allows_writes() {
    need_root!();
    let bundle = Bundle::new().set("/root/readonly", json!(false));
    let (c, out) = probe(bundle, "echo written >/x 2>&1; echo rc=$?");
    assert_eq!(out.stdout, "rc=0\n", "{out}");
    let on_host =
        fs::read_to_string(c.bundle.rootfs().join("x")).expect("file written in the container");
    assert_eq!(on_host, "written\n");
    c.assert_no_leftovers();
}

#[test]
fn bind_mount_ro_nosuid_noexec() {
    need_root!();
    let src = HostDir::new();
    fs::write(src.path().join("data.txt"), "from the host\n").expect("write");
    let bundle = Bundle::new().mount(json!({
        "destination": "/data", "type": "bind", "source": src.path(),
        "options": ["bind", "ro", "nosuid", "noexec"]
    }));
    let script = "cat /data/data.txt; touch /data/new 2>&1; echo rc=$?; cat /proc/self/mountinfo";
    let (c, out) = probe(bundle, script);
    assert!(out.stdout.starts_with("from the host\n"), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!out.stdout.contains("rc=0"), "{out}");
    let data = mount_at(&out.stdout, "/data");
    for opt in ["ro", "nosuid", "noexec"] {
        assert!(
            data.vfs_opts.iter().any(|o| o == opt),
            "/data lacks {opt}: {data:?}"
        );
    }
    assert_eq!(src.entries(), ["data.txt"]);
    c.assert_no_leftovers();
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    need_root!();
    let src = HostDir::new();
    let sub = src.path().join("sub");
    fs::create_dir(&sub).expect("mkdir");
    // A host mount inside the source; HostDir unmounts it when dropped.
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&sub)
        .status();
    assert!(
        st.expect("run mount").success(),
        "mounting a tmpfs on the host failed"
    );
    fs::write(sub.join("inner.txt"), "submount\n").expect("write");
    let bundle = Bundle::new()
        .mount(json!({"destination": "/rec", "type": "bind", "source": src.path(), "options": ["rbind"]}))
        .mount(json!({"destination": "/flat", "type": "bind", "source": src.path(), "options": ["bind"]}));
    let (c, out) = probe(
        bundle,
        "cat /rec/sub/inner.txt; echo flat=$(ls /flat/sub | wc -l)",
    );
    assert_eq!(out.stdout, "submount\nflat=0\n", "{out}");
    c.assert_no_leftovers();
}

#[test]
fn file_bind_mount() {
    need_root!();
    let src = HostDir::new();
    let file = src.path().join("berth.conf");
    fs::write(&file, "key=value\n").expect("write");
    let bundle = Bundle::new().mount(json!({
        "destination": "/etc/berth.conf", "type": "bind", "source": file, "options": ["bind", "ro"]
    }));
    let (c, out) = probe(
        bundle,
        "cat /etc/berth.conf; test -f /etc/berth.conf && echo regular",
    );
    assert_eq!(out.stdout, "key=value\nregular\n", "{out}");
    c.assert_no_leftovers();
}

#[test]
fn tmpfs_mount_with_mode_and_size() {
    need_root!();
    let bundle = Bundle::new().mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "mode=0711", "size=1m"]
    }));
    let script = "stat -c 'mode=%a' /scratch; \
                  dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>&1 | grep -o 'No space left on device'; \
                  cat /proc/self/mountinfo";
    let (c, out) = probe(bundle, script);
    assert!(
        out.stdout
            .starts_with("mode=711\nNo space left on device\n"),
        "{out}"
    );
    let m = mount_at(&out.stdout, "/scratch");
    assert_eq!(m.fstype, "tmpfs");
    for opt in ["size=1024k", "mode=711", "nosuid"] {
        assert!(m.has_opt(opt), "/scratch lacks {opt}: {m:?}");
    }
    c.assert_no_leftovers();
}

#[test]
fn linux_devices_are_created() {
    need_root!();
    let bundle = Bundle::new().set(
        "/linux/devices",
        json!([
            {"path": "/dev/berth-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
             "uid": 65534, "gid": 65534},
            {"path": "/dev/berth-loop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600,
             "uid": 0, "gid": 0}
        ]),
    );
    let (c, out) = probe(
        bundle,
        "stat -c '%n|%F|%t:%T|%a|%u:%g' /dev/berth-null /dev/berth-loop",
    );
    let want = "/dev/berth-null|character special file|1:3|640|65534:65534\n\
                /dev/berth-loop|block special file|7:0|600|0:0\n";
    assert_eq!(out.stdout, want, "{out}");
    c.assert_no_leftovers();
}

/// linux.rootfsPropagation as the conformance suite (linux_rootfs_propagation) checks it from
/// inside: bind `/` recursively elsewhere, then mount under `/` and look through the copy.
/// runc 1.1.5 fails "unbindable" (it cannot bind the rootfs) and "shared".
#[test]
fn rootfs_propagation_modes() {
    need_root!();
    let script = "mkdir -p /target /mnt1 /test && touch /test/example; \
        if mount -o rbind / /target 2>/dev/null; then echo bind=ok; else echo bind=refused; fi; \
        mount --bind /test /mnt1 && test -e /target/mnt1/example && echo exposed || echo hidden";
    for (mode, want) in [
        ("slave", "bind=ok\nhidden\n"),
        ("private", "bind=ok\nhidden\n"),
        // Returns from here on runc (see above).
        ("shared", "bind=ok\nexposed\n"),
        ("unbindable", "bind=refused\nhidden\n"),
    ] {
        if mode == "shared" || mode == "unbindable" {
            need_berth!();
        }
        let caps = json!(["CAP_SYS_ADMIN"]);
        let bundle = Bundle::new()
            .set("/linux/rootfsPropagation", json!(mode))
            .set("/root/readonly", json!(false))
            .set("/process/capabilities/bounding", caps.clone())
            .set("/process/capabilities/effective", caps.clone())
            .set("/process/capabilities/permitted", caps);
        let (c, out) = probe(bundle, script);
        assert_eq!(out.stdout, want, "{mode}: {out}");
        c.assert_no_leftovers();
    }
}

/// maskedPaths and readonlyPaths on the rootfs's own files and directories, nested ones and a
/// device node included (conformance suite: linux_masked_paths, linux_readonly_paths).
#[test]
fn masked_and_readonly_paths_in_the_rootfs() {
    need_root!();
    let bundle = Bundle::new()
        .set("/root/readonly", json!(false))
        .set(
            "/linux/maskedPaths",
            json!([
                "/masked-dir",
                "/masked-file",
                "/masked-dir/masked-subdir",
                "/masked-dir/masked-file",
                "/masked-device"
            ]),
        )
        .set(
            "/linux/readonlyPaths",
            json!(["/ro-dir", "/ro-file", "/ro-dir/sub"]),
        );
    let r = bundle.rootfs();
    for dir in ["masked-dir/masked-subdir", "ro-dir/sub"] {
        fs::create_dir_all(r.join(dir)).expect("mkdir");
    }
    for file in [
        "masked-file",
        "masked-dir/masked-file",
        "masked-dir/masked-subdir/f",
    ] {
        fs::write(r.join(file), "secret").expect("write");
    }
    fs::write(r.join("ro-file"), "kept").expect("write");
    fs::write(r.join("ro-dir/sub/file"), "kept").expect("write");
    let node = r.join("masked-device");
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "5"])
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mknod");
    let script = "echo masked-file=[$(cat /masked-file)]; \
        echo masked-dir=$(ls -A /masked-dir | wc -l); \
        echo device=[$(head -c 4 /masked-device | wc -c)]; \
        echo ro-file=$(cat /ro-file) ro-sub=$(cat /ro-dir/sub/file); \
        for p in /ro-file /ro-dir/new /ro-dir/sub/new /masked-dir/new; do \
          touch $p 2>/dev/null && echo wrote $p || echo refused $p; done";
    let (c, out) = probe(bundle, script);
    let want = "masked-file=[]\nmasked-dir=0\ndevice=[0]\nro-file=kept ro-sub=kept\n\
        refused /ro-file\nrefused /ro-dir/new\nrefused /ro-dir/sub/new\nrefused /masked-dir/new\n";
    assert_eq!(out.stdout, want, "{out}");
    c.assert_no_leftovers();
}
