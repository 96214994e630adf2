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
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW"}),
            "linux.seccomp",
        ),
        ("/process/terminal", json!(true), "process.terminal"),
        (
            "/linux/sysctl",
            json!({"net.ipv4.ip_forward": "1"}),
            "linux.sysctl",
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
