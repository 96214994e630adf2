//! What container engines send a runtime and read back, as hack/engine-*.sh found it with
//! containerd's runc shim, podman's conmon and dockerd. Runtime-agnostic: runc passes these.

use crate::common::{Bundle, Container};
use serde_json::Value;
use std::fs;

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
