//! berth-specific behaviour: failures inside the init clean up after themselves, unsupported
//! fields are refused by name, and runc's CLI conventions (single-dash flags, --version).

use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::json;

/// A failure in the container's init (after the clone, the cgroup and the state dir exist)
/// must still leave nothing behind, and say which step failed.
#[test]
fn failing_mount_in_the_init_leaves_nothing() {
    need_berth!();
    let mut c = Container::new(Bundle::new().mount(json!({
        "destination": "/data", "type": "bind", "source": "/nonexistent-berth-source",
        "options": ["bind"]
    })));
    let out = c.create(&[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("/nonexistent-berth-source"),
        "{}",
        out.stderr
    );
    let errors = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("berth: warning:"));
    assert_eq!(errors.count(), 1, "one line: {}", out.stderr);
    assert!(!out.stderr.contains("os error"), "{}", out.stderr);
    c.assert_no_leftovers();
}

#[test]
fn missing_program_fails_create_not_start() {
    need_berth!();
    let mut c = Container::new(Bundle::new().args(&["/bin/no-such-program"]));
    let out = c.create(&[]);
    out.assert_failed();
    assert!(out.stderr.contains("no-such-program"), "{}", out.stderr);
    c.assert_no_leftovers();
}

#[test]
fn unsupported_fields_are_refused_by_name() {
    need_berth!();
    for (pointer, value, field) in [
        (
            "/linux/intelRdt",
            json!({"closID": "x", "l3CacheSchema": "L3:0=f"}),
            "linux.intelRdt",
        ),
        (
            "/linux/timeOffsets",
            json!({"monotonic": {"secs": 1, "nanosecs": 0}}),
            "linux.timeOffsets",
        ),
    ] {
        let mut c = Container::new(Bundle::new().set(pointer, value));
        let out = c.create(&[]);
        out.assert_failed();
        assert!(out.stderr.contains(field), "{field}: {}", out.stderr);
        c.assert_no_leftovers();
    }
}

#[test]
fn hostname_without_a_uts_namespace_is_refused() {
    need_berth!();
    let ns = json!([{"type": "pid"}, {"type": "mount"}]);
    let mut c = Container::new(
        Bundle::new()
            .set("/linux/namespaces", ns)
            .set("/hostname", json!("x")),
    );
    let out = c.create(&[]);
    out.assert_failed();
    assert!(out.stderr.contains("hostname"), "{}", out.stderr);
    c.assert_no_leftovers();
}

#[test]
fn version_prints_runc_style_lines() {
    need_berth!();
    let c = Container::new(Bundle::new());
    for flag in ["--version", "-v"] {
        let out = c.rt(&[flag]);
        out.assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines[0].starts_with("berth version "), "{}", out.stdout);
        assert!(lines[1].starts_with("commit: "), "{}", out.stdout);
        assert_eq!(lines[2], "spec: 1.2.0");
    }
}

#[test]
fn single_dash_long_flags_work_like_runc() {
    need_berth!();
    let c = Container::new(Bundle::new().args(&["sh", "-c", "echo single-dash"]));
    let b = c.bundle.path().display().to_string();
    let root = c.root().display().to_string();
    let out = std::process::Command::new(crate::common::runtime_bin())
        .args(["-root", &root, "run", "-bundle", &b, &c.id])
        .output()
        .expect("run berth");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("single-dash"),
        "{out:?}"
    );
    c.assert_no_leftovers();
}

#[test]
fn systemd_cgroup_is_a_clear_error() {
    need_berth!();
    let c = Container::new(Bundle::new());
    let b = c.bundle.path().display().to_string();
    let out = c.rt(&["--systemd-cgroup", "create", "--bundle", &b, &c.id]);
    out.assert_failed();
    assert!(out.stderr.contains("--systemd-cgroup"), "{}", out.stderr);
    c.assert_no_leftovers();
}

#[test]
fn kill_of_a_stopped_container_is_an_error() {
    need_berth!();
    let mut c = Container::new(Bundle::new().args(&["true"]));
    c.create_and_start();
    c.wait_status("stopped");
    let out = c.kill(Some("TERM"));
    out.assert_failed();
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// A destination that climbs out of the rootfs through a relative symlink is refused by name;
/// the host directory it points at stays untouched.
#[test]
fn mount_through_a_dotdot_symlink_is_refused() {
    need_berth!();
    let host = tempfile::tempdir().expect("tempdir");
    let mut c = Container::new(Bundle::new().mount(json!({
        "destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"
    })));
    let depth = c.bundle.rootfs().components().count();
    let up = "../".repeat(depth + 2);
    let target = format!(
        "{up}{}",
        host.path().display().to_string().trim_start_matches('/')
    );
    std::os::unix::fs::symlink(&target, c.bundle.rootfs().join("evil")).expect("symlink");
    let out = c.create(&[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("mounts[") && out.stderr.contains("leads out of the rootfs"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_dir(host.path())
            .expect("read host dir")
            .count(),
        0
    );
    c.assert_no_leftovers();
}

/// `--preserve-fds N` hands fds 3..3+N to the container; any other fd of the caller does not
/// leak in.
#[test]
fn preserve_fds_passes_exactly_those() {
    need_berth!();
    use std::os::unix::process::CommandExt;
    let c = Container::new(Bundle::new().args(&["sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"]));
    let b = c.bundle.path().display().to_string();
    let root = c.root().display().to_string();
    let out_path = c.bundle.path().join("fd3.out");
    let fd3 = std::fs::File::create(&out_path).expect("create fd3 file");
    let stray = std::fs::File::open("/etc/hostname").expect("open a stray file");
    // Copies above 10, so that dup2 onto 3 and 4 never meets its own source (dup2(3, 3) would
    // keep close-on-exec set).
    let high = |f: &std::fs::File| {
        // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor for an open file.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(f),
                libc::F_DUPFD_CLOEXEC,
                10,
            )
        }
    };
    let (fd3_raw, stray_raw) = (high(&fd3), high(&stray));
    assert!(fd3_raw >= 10 && stray_raw >= 10);
    let mut cmd = std::process::Command::new(crate::common::runtime_bin());
    cmd.args([
        "--root",
        &root,
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        &b,
        &c.id,
    ]);
    // SAFETY: dup2 is async-signal-safe; the child only rearranges its own fds.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(fd3_raw, 3);
            libc::dup2(stray_raw, 4);
            Ok(())
        });
    }
    let out = cmd.output().expect("run berth");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&out_path).expect("read"),
        "via-fd3\n"
    );
    // The container sees 0, 1, 2, 3 and ls's own directory fd (the lowest free, 4): the
    // caller's fd 4 was not passed on.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fds: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4"], "{stdout}");
    c.assert_no_leftovers();
}

/// CVE-2024-21626: a cwd through /proc/self/fd/N must not reach a directory of the runtime's.
#[test]
fn cwd_through_a_runtime_fd_is_refused() {
    need_berth!();
    for n in 3..12 {
        let cwd = format!("/proc/self/fd/{n}");
        let mut c = Container::new(Bundle::new().set("/process/cwd", json!(cwd)).args(&["pwd"]));
        let out = c.create(&[]);
        if out.status.success() {
            c.start().assert_ok();
            let seen = c.wait_output("/");
            let inside = seen.trim_start().starts_with('/') && !seen.contains("unreachable");
            assert!(inside, "fd {n}: cwd {seen}");
            c.delete(true).assert_ok();
        }
        c.assert_no_leftovers();
    }
}

/// CVE-2019-5736, mounted as an attack: a created container's init is a process of the runtime
/// inside the container until its exec. A second container joins its pid namespace (with
/// CAP_SYS_PTRACE, past the init's non-dumpable guard) and tries to write the runtime's binary
/// through /proc/1/exe: directly while the init runs it, and by reopening an fd of it for writing
/// once the init has exec'd its program (the original exploit). Both must fail and the host's
/// binary must stay byte-identical. Runtime-agnostic: runc passes it too.
#[test]
fn container_cannot_overwrite_the_runtime_binary_through_proc_exe() {
    need_root!();
    let host_bin = crate::common::runtime_bin();
    let before = std::fs::read(&host_bin).expect("read the runtime binary");
    let mut victim = Container::new(Bundle::new().args(&["sleep", "100"]));
    victim.create(&[]).assert_ok();
    let pid = victim.state()["pid"].as_i64().expect("pid");
    // The reopen is retried while the binary is busy: the kernel refuses writes to a binary some
    // process still executes (a runtime command still finishing), which is not the defence.
    let script = r#"
        exec 3</proc/1/exe || { echo cannot-open; exit 1; }
        echo "opened $(readlink /proc/1/exe)"
        err=$( { printf x >>/proc/1/exe; } 2>&1 ) && echo direct-WROTE || echo "direct-refused: $err"
        # The original exploit: wait until pid 1 no longer executes the runtime, then reopen.
        while [ "$(readlink /proc/1/exe)" = "$(readlink /proc/self/fd/3)" ]; do sleep 0.02; done
        n=0
        while :; do
            if err=$( { printf x >>/proc/self/fd/3; } 2>&1 ); then echo reopen-WROTE; break; fi
            case $err in *busy*) n=$((n + 1)); [ $n -lt 250 ] && { sleep 0.02; continue; } ;; esac
            echo "reopen-refused: $err"; break
        done
        echo done
    "#;
    let mut namespaces = base_namespaces();
    namespaces.retain(|n| n["type"] != "pid");
    namespaces.push(json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_PTRACE"
    ]);
    let attacker = Container::new(
        Bundle::new()
            .set("/linux/namespaces", json!(namespaces))
            .set("/process/capabilities/bounding", caps.clone())
            .set("/process/capabilities/effective", caps.clone())
            .set("/process/capabilities/permitted", caps)
            .args(&["sh", "-c", script]),
    );
    // Detached: no runtime command of the attacker's keeps the binary busy.
    attacker.run_detach().assert_ok();
    let opened = attacker.wait_output("opened");
    victim.start().assert_ok();
    let out = attacker.wait_output("done");
    assert!(
        out.contains("direct-refused") && out.contains("reopen-refused"),
        "{opened}\n{out}"
    );
    victim.delete(true).assert_ok();
    attacker.delete(true).assert_ok();
    victim.assert_no_leftovers();
    attacker.assert_no_leftovers();
    assert!(
        std::fs::read(&host_bin).expect("read the runtime binary") == before,
        "the runtime binary changed"
    );
}

fn base_namespaces() -> Vec<serde_json::Value> {
    crate::bundle::base_config()["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .clone()
}

/// CVE-2025-31133 class: masking binds the container's /dev/null over files; a /dev/null that
/// is not the real 1:3 device (here a regular file from a bound /dev) is refused, not used.
#[test]
fn masking_refuses_a_fake_dev_null() {
    need_berth!();
    let fake_dev = tempfile::tempdir().expect("tempdir");
    std::fs::write(fake_dev.path().join("null"), "not a device").expect("fake null");
    let b = Bundle::new()
        .set("/linux/maskedPaths", json!(["/proc/keys"]))
        .set("/linux/readonlyPaths", json!([]));
    let dev = fake_dev.path().display().to_string();
    // Replace the /dev tmpfs with a bind of the fake directory, keeping the other mounts.
    let mut cfg = b.config.clone();
    for m in cfg["mounts"].as_array_mut().expect("mounts") {
        if m["destination"] == "/dev" {
            *m =
                json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]});
        }
    }
    let mut c = Container::new(b.set("/mounts", cfg["mounts"].clone()));
    let out = c.create(&[]);
    out.assert_failed();
    assert!(out.stderr.contains("not the null device"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(fake_dev.path().join("null")).expect("read"),
        "not a device"
    );
    c.assert_no_leftovers();
}

/// A command line berth cannot parse is one line naming what is wrong, like every other error.
#[test]
fn usage_errors_are_one_line() {
    need_berth!();
    let c = Container::new(Bundle::new());
    for (args, names) in [
        (vec!["state"], "<ID>"),
        (vec!["kill"], "<ID>"),
        (vec!["--no-such-flag", "list"], "--no-such-flag"),
        (vec!["no-such-command"], "no-such-command"),
    ] {
        let out = c.rt(&args);
        out.assert_failed();
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        assert!(out.stderr.contains(names), "{out}");
    }
}

/// Where overlayfs is available (as here, as root), berth seals itself without copying: the
/// init's binary is berth seen through a read-only overlayfs, not a memfd copy (sys::exe).
#[test]
fn init_runs_from_a_read_only_overlay_of_berth() {
    need_berth!();
    let mut c = Container::new(Bundle::new().args(&["true"]));
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().expect("pid");
    let fs = rustix::fs::statfs(format!("/proc/{pid}/exe").as_str()).expect("statfs exe");
    assert_eq!(fs.f_type as u64, 0x794c_7630, "not on overlayfs");
    assert_ne!(fs.f_flags as u64 & libc::ST_RDONLY, 0, "not read-only");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}
