//! What container engines send a runtime and read back, as hack/engine-*.sh found it with
//! containerd's runc shim, podman's conmon and dockerd. Runtime-agnostic: runc passes these.

use crate::common::{Bundle, Container, STATE_TIMEOUT};
use crate::host;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// The `msg` of the last `"level":"error"` line of a `--log-format json` log: what the shims
/// show the user.
fn last_error(log: &str) -> String {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error line in the log:\n{log}"))
}

/// `create` as the shims call it, with a JSON log; returns the last error it logged.
fn create_error(c: &mut Container) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.json");
    let (log_arg, bundle, pid_file) = (
        log.display().to_string(),
        c.bundle.path().display().to_string(),
        dir.path().join("pid").display().to_string(),
    );
    let id = c.id.clone();
    let out = c.rt(&[
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &bundle,
        "--pid-file",
        &pid_file,
        &id,
    ]);
    out.assert_failed();
    last_error(&fs::read_to_string(&log).unwrap_or_default())
}

/// docker run exits 127 when the error names the program and says "no such file or directory"
/// (podman too, on "no such file"), 126 on "permission denied": runc's (Go's) lower-case words.
#[test]
fn missing_program_errors_use_runcs_words() {
    need_root!();
    let cases = [
        (
            "/bin/no-such-program",
            r#"exec: "/bin/no-such-program": stat /bin/no-such-program: no such file or directory"#,
        ),
        (
            "no-such-program",
            r#"exec: "no-such-program": executable file not found in $PATH"#,
        ),
        ("/etc/passwd", r#"exec: "/etc/passwd": permission denied"#),
        ("/bin", r#"exec: "/bin": permission denied"#),
    ];
    for (program, want) in cases {
        let mut c = Container::new(Bundle::new().args(&[program]));
        let msg = create_error(&mut c);
        assert!(msg.contains(want), "{program}: wanted {want:?} in {msg:?}");
        c.assert_no_leftovers();
    }
}

/// A container that writes what happens to it into /out of its (writable) rootfs.
fn reporting_bundle() -> Bundle {
    Bundle::new().set("/root/readonly", json!(false)).args(&[
        "sh",
        "-c",
        "trap 'echo got-TERM >>/out; exit 0' TERM; echo up >/out; while :; do sleep 0.1; done",
    ])
}

fn wait_report(c: &Container, needle: &str) {
    let out = c.bundle.rootfs().join("out");
    let what = format!("{needle:?} in {}", out.display());
    host::wait_until(STATE_TIMEOUT, &what, || {
        fs::read_to_string(&out)
            .ok()
            .filter(|t| t.contains(needle))
            .map(drop)
    });
}

/// The log holds no error line.
fn assert_no_errors(log: &Path) {
    let text = fs::read_to_string(log).unwrap_or_default();
    assert!(!text.contains(r#""level":"error""#), "{text}");
}

/// containerd's runc shim: `--root R --log L --log-format json` before every command, a numeric
/// signal to kill, then `delete` and always `delete --force` again, which must succeed quietly
/// on the id that is already gone.
#[test]
fn lifecycle_as_the_runc_shim_drives_it() {
    need_root!();
    let c = Container::new(reporting_bundle());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.json");
    let (l, b, p) = (
        log.display().to_string(),
        c.bundle.path().display().to_string(),
        dir.path().join("init.pid").display().to_string(),
    );
    let g = ["--log", l.as_str(), "--log-format", "json"];
    let cmd = |args: &[&str]| c.rt(&[&g[..], args].concat());
    cmd(&["create", "--bundle", &b, "--pid-file", &p, &c.id]).assert_ok();
    cmd(&["start", &c.id]).assert_ok();
    wait_report(&c, "up");
    cmd(&["kill", &c.id, "15"]).assert_ok();
    wait_report(&c, "got-TERM");
    c.wait_status("stopped");
    cmd(&["delete", &c.id]).assert_ok();
    let again = cmd(&["delete", "--force", &c.id]);
    again.assert_ok();
    assert_eq!(again.stderr, "", "{again}");
    assert_no_errors(&log);
    c.assert_no_leftovers();
}

/// podman's conmon: `--log-format=json` in one word before `--log`, and no global flags on the
/// commands after create; `rm -f` sends `kill --all ID 9` and `delete --force`.
#[test]
fn lifecycle_as_conmon_drives_it() {
    need_root!();
    let c = Container::new(reporting_bundle());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("oci-log");
    let (l, b, p) = (
        log.display().to_string(),
        c.bundle.path().display().to_string(),
        dir.path().join("pidfile").display().to_string(),
    );
    c.rt(&[
        "--log-format=json",
        "--log",
        &l,
        "create",
        "--bundle",
        &b,
        "--pid-file",
        &p,
        &c.id,
    ])
    .assert_ok();
    c.rt(&["start", &c.id]).assert_ok();
    wait_report(&c, "up");
    c.rt(&["kill", "--all", &c.id, "9"]).assert_ok();
    c.wait_status("stopped");
    c.rt(&["delete", "--force", &c.id]).assert_ok();
    c.rt(&["delete", "--force", &c.id]).assert_ok();
    assert_no_errors(&log);
    c.assert_no_leftovers();
}
