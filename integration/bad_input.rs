//! Bad bundles and bad ids: the runtime refuses them and leaves nothing behind.

use crate::common::{berth_specific_enabled, Bundle, Container};
use crate::host::{is_rfc3339, mounts_under, HostDir};
use serde_json::{json, Value};
use std::fs;

/// `create` must fail and leave nothing; returns its stderr.
#[track_caller]
fn create_fails(c: &mut Container) -> String {
    let out = c.create(&[]);
    out.assert_failed();
    c.assert_no_leftovers();
    out.stderr
}

#[test]
fn missing_config_json() {
    need_root!();
    let mut c = Container::new(Bundle::new());
    fs::remove_file(c.bundle.path().join("config.json")).expect("remove config.json");
    create_fails(&mut c);
}

#[test]
fn unparsable_config_json() {
    need_root!();
    let mut c = Container::new(Bundle::new());
    fs::write(c.bundle.path().join("config.json"), "{").expect("write");
    create_fails(&mut c);
}

#[test]
fn wrong_field_type_names_the_field() {
    need_root!();
    let mut c = Container::new(Bundle::new().set("/process/args", json!(5)));
    let stderr = create_fails(&mut c);
    // berth-specific: the error names the JSON path of the bad field.
    if berth_specific_enabled() {
        assert!(stderr.contains("process.args"), "stderr: {stderr}");
    }
}

#[test]
fn invalid_ids_are_refused() {
    need_root!();
    for id in ["", "/", "..", "a b", "x/y"] {
        let mut c = Container::new(Bundle::new().args(&["echo", "should-not-run"]));
        c.id = id.to_string();
        let stderr = create_fails(&mut c);
        assert_eq!(c.output(), "", "id {id:?}: {stderr}");
    }
}

#[test]
fn an_existing_id_is_refused() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", "echo first"]));
    c.create(&[]).assert_ok();
    let out = c.create(&[]);
    out.assert_failed();
    // berth-specific wording (runc 1.1.5 says "container with given ID already exists" too).
    if berth_specific_enabled() {
        assert!(out.stderr.contains("already exists"), "{out}");
    }
    // The first container is untouched.
    assert_eq!(c.status(), "created");
    c.start().assert_ok();
    c.wait_output("first");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn missing_rootfs() {
    need_root!();
    let mut c = Container::new(Bundle::new());
    fs::remove_dir_all(c.bundle.rootfs()).expect("remove rootfs");
    create_fails(&mut c);
}

#[test]
fn rootfs_that_is_a_file() {
    need_root!();
    let mut c = Container::new(Bundle::new());
    fs::remove_dir_all(c.bundle.rootfs()).expect("remove rootfs");
    fs::write(c.bundle.rootfs(), "not a directory").expect("write");
    create_fails(&mut c);
}

#[test]
fn mount_through_a_symlink_stays_inside_the_rootfs() {
    need_root!();
    let host = HostDir::new();
    let bundle = Bundle::new()
        .mount(json!({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"}));
    std::os::unix::fs::symlink(host.path(), bundle.rootfs().join("evil")).expect("symlink");
    let c = Container::new(bundle.args(&["sh", "-c", "echo x >/evil/sub/file && echo ran"]));
    // The runtime may refuse the bundle or resolve the symlink inside the rootfs (runc does):
    // either way the host directory gets neither the mount nor the file.
    let out = c.run(&[]);
    assert_eq!(
        host.entries(),
        Vec::<String>::new(),
        "host dir was written to: {out}"
    );
    assert!(
        mounts_under(host.path()).is_empty(),
        "host dir got a mount: {out}"
    );
    if out.status.success() {
        assert_eq!(out.stdout, "ran\n", "{out}");
    }
    c.assert_no_leftovers();
}

#[test]
fn unknown_capability_is_only_a_warning() {
    need_root!();
    let mut bundle = Bundle::new();
    for set in ["bounding", "effective", "permitted"] {
        bundle = bundle.set(
            &format!("/process/capabilities/{set}/-"),
            json!("CAP_NOT_A_CAP"),
        );
    }
    let c = Container::new(bundle.args(&["grep", "CapEff", "/proc/self/status"]));
    let out = c.run(&[]);
    out.assert_ok();
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): the known ones still apply.
    assert_eq!(out.stdout, "CapEff:\t0000000020000420\n", "{out}");
    c.assert_no_leftovers();
}

// berth-specific: the format of --log-format json.
#[test]
fn log_json_on_failed_create() {
    need_berth!();
    let c = Container::new(Bundle::new());
    fs::remove_dir_all(c.bundle.rootfs()).expect("remove rootfs");
    let log = c.bundle.path().join("log.json");
    let b = c.bundle.path().display().to_string();
    let log_arg = log.display().to_string();
    let args = [
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &b,
        &c.id,
    ];
    c.rt(&args).assert_failed();
    c.assert_no_leftovers();

    let text = fs::read_to_string(&log).expect("log file written");
    let entries: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let error = entries.iter().find(|e| e["level"] == "error");
    let error = error.unwrap_or_else(|| panic!("no level=error entry in:\n{text}"));
    assert!(
        error["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    for e in &entries {
        let time = e["time"].as_str().unwrap_or("");
        assert!(is_rfc3339(time), "time is not RFC 3339: {e}");
    }
}

/// Unknown properties and annotation keys are ignored (conformance suite: misc_props).
#[test]
fn unknown_properties_and_annotations_are_accepted() {
    need_root!();
    let bundle = Bundle::new()
        .set("/unknownProperty", json!("x"))
        .set("/process/unknownProperty", json!({"nested": 1}))
        .set("/annotations", json!({"org.example.unknown-key": ""}))
        .args(&["echo", "ran"]);
    let c = Container::new(bundle);
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "ran\n", "{out}");
    c.assert_no_leftovers();
}

/// Values that cannot be applied are refused by name (conformance suite: misc_props,
/// process_rlimits_fail). runc 1.1.5 never reads ociVersion.
#[test]
fn values_that_cannot_be_applied_are_refused() {
    need_root!();
    let rlimit = json!([{"type": "RLIMIT_TEST", "soft": 1024, "hard": 1024}]);
    let mut cases = vec![("/process/rlimits", rlimit, "process.rlimits[0].type")];
    if berth_specific_enabled() {
        cases.push(("/ociVersion", json!("invalid"), "ociVersion"));
        cases.push(("/ociVersion", json!("2.0.0"), "ociVersion"));
    }
    for (pointer, value, field) in cases {
        let bundle = Bundle::new()
            .set(pointer, value)
            .args(&["echo", "should-not-run"]);
        let mut c = Container::new(bundle);
        let stderr = create_fails(&mut c);
        assert_eq!(c.output(), "", "{field}: {stderr}");
        if berth_specific_enabled() {
            assert!(stderr.contains(field), "{field}: {stderr}");
        }
    }
}

/// `run` with a pid file it cannot write fails before the program runs, and leaves nothing (as
/// `create` would). A large state (its annotations are saved in state.json) gives the program
/// time to run if the init were started before the pid file is written.
#[test]
fn run_with_an_unwritable_pid_file_never_starts_the_program() {
    need_root!();
    let out_dir = HostDir::new();
    let bundle = Bundle::new()
        .mount(json!({"destination": "/out", "type": "bind",
                      "source": out_dir.path(), "options": ["rbind", "rw"]}))
        .set(
            "/annotations/org.berth.test.padding",
            json!("x".repeat(64 << 20)),
        )
        .args(&["sh", "-c", "echo ran > /out/ran"]);
    let c = Container::new(bundle);
    let pid_file = out_dir.path().join("missing-dir/pid").display().to_string();
    let out = c.run(&["--pid-file", &pid_file]);
    out.assert_failed();
    assert!(
        !out_dir.path().join("ran").exists(),
        "the program ran: {out}"
    );
    c.assert_no_leftovers();
}
