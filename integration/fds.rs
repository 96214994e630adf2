//! Socket activation: fds that systemd passed to the runtime (LISTEN_FDS, LISTEN_PID = the
//! runtime's pid) reach the container's process, before the --preserve-fds ones, with
//! LISTEN_FDS and LISTEN_PID set for it, as runc passes them.

use crate::common::{Bundle, Container};
use std::fs;
use std::process::Command;

#[test]
fn listen_fds_reach_the_container_with_listen_pid() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("listen"), "socket-activation fd\n").expect("write");
    fs::write(dir.path().join("preserved"), "preserved fd\n").expect("write");
    let script = "echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID pid=$$; cat <&3; cat <&4; \
                  ls /proc/self/fd";
    let c = Container::new(Bundle::new().args(&["sh", "-c", script]));
    // The shell opens the fds and execs the runtime: LISTEN_PID is the runtime's own pid.
    let launcher = format!(
        "exec 3<{dir}/listen 4<{dir}/preserved; LISTEN_PID=$$ LISTEN_FDS=1 exec {bin} --root {root} \
         run --preserve-fds 1 --bundle {bundle} {id}",
        dir = dir.path().display(),
        bin = c.bin.display(),
        root = c.root().display(),
        bundle = c.bundle.path().display(),
        id = c.id
    );
    let out = Command::new("sh")
        .args(["-c", &launcher])
        .output()
        .expect("run the launcher");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "LISTEN_FDS=1 LISTEN_PID=1 pid=1", "{stdout}");
    assert_eq!(lines[1], "socket-activation fd", "{stdout}");
    assert_eq!(lines[2], "preserved fd", "{stdout}");
    // 0-2, the two passed fds, and ls's own directory fd.
    assert_eq!(&lines[3..], ["0", "1", "2", "3", "4", "5"], "{stdout}");
    c.assert_no_leftovers();
}

/// LISTEN_FDS addressed to another process (LISTEN_PID is not the runtime's) are not passed.
#[test]
fn listen_fds_for_another_process_are_not_passed() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("listen"), "not for the runtime\n").expect("write");
    let c = Container::new(Bundle::new().args(&[
        "sh",
        "-c",
        "echo LISTEN_FDS=$LISTEN_FDS; ls /proc/self/fd",
    ]));
    let launcher = format!(
        "exec 3<{dir}/listen; LISTEN_PID=1 LISTEN_FDS=1 exec {bin} --root {root} run --bundle \
         {bundle} {id}",
        dir = dir.path().display(),
        bin = c.bin.display(),
        root = c.root().display(),
        bundle = c.bundle.path().display(),
        id = c.id
    );
    let out = Command::new("sh")
        .args(["-c", &launcher])
        .output()
        .expect("run the launcher");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "LISTEN_FDS=", "{stdout}");
    assert_eq!(&lines[1..], ["0", "1", "2", "3"], "{stdout}");
    c.assert_no_leftovers();
}
