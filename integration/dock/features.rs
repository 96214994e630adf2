//! What needs a runtime feature beyond create/start/kill/delete: exec, terminals, pause and
//! resource limits.

use super::containers::ps_status;
use super::dock_test;
use super::harness::Dock;

dock_test!(exec_runs_in_the_container, |d: &Dock| {
    d.busybox();
    d.run(&[
        "-d",
        "--name",
        "host",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sleep",
        "60",
    ])
    .assert_ok();
    let out = d.dock(&["exec", "host", "cat", "/etc/hostname"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim().len(), 12, "{out}");
    let out = d.dock(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "host",
        "sh",
        "-c",
        "echo $X $FROM_RUN $(pwd) $(id -u)",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "42 1 /tmp 65534\n", "{out}");
    assert_eq!(
        d.dock(&["exec", "host", "sh", "-c", "exit 4"]).code(),
        Some(4)
    );
    assert_eq!(d.dock(&["exec", "host", "nosuchcommand"]).code(), Some(127));
    assert_eq!(d.dock(&["exec", "host", "/etc/passwd"]).code(), Some(126));
    d.dock(&["stop", "-t", "1", "host"]).assert_ok();
    let out = d.dock(&["exec", "host", "true"]);
    assert!(out.stderr.contains("is not running"), "{out}");
    d.dock(&["rm", "host"]).assert_ok();
    d.assert_clean();
});

dock_test!(tty_comes_through_the_console_socket, |d: &Dock| {
    d.busybox();
    let out = d.run(&["--rm", "-t", "busybox", "sh", "-c", "tty; echo $TERM"]);
    out.assert_ok();
    assert_eq!(out.stdout.replace('\r', ""), "/dev/pts/0\nxterm\n", "{out}");
    d.run(&["-d", "--name", "tt", "busybox", "sleep", "60"])
        .assert_ok();
    let out = d.dock(&["exec", "-t", "tt", "tty"]);
    out.assert_ok();
    assert!(out.stdout.starts_with("/dev/pts/"), "{out}");
    d.dock(&["rm", "-f", "tt"]).assert_ok();
    d.assert_clean();
});

dock_test!(pause_and_unpause, |d: &Dock| {
    d.busybox();
    d.run(&["-d", "--name", "pp", "busybox", "sleep", "60"])
        .assert_ok();
    d.dock(&["pause", "pp"]).assert_ok();
    assert!(
        ps_status(d, "pp").ends_with("(Paused)"),
        "{}",
        ps_status(d, "pp")
    );
    d.dock(&["unpause", "pp"]).assert_ok();
    assert!(!ps_status(d, "pp").ends_with("(Paused)"));
    d.dock(&["rm", "-f", "pp"]).assert_ok();
    d.assert_clean();
});

dock_test!(resource_flags_reach_the_cgroup, |d: &Dock| {
    d.busybox();
    let out = d.run(&["--rm", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5", "busybox", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us"]);
    out.assert_ok();
    assert_eq!(out.stdout, "67108864\n20\n50000\n", "{out}");
    d.assert_clean();
});

dock_test!(interactive_terminal_with_it, |d: &Dock| {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|d| d.join("script").exists()) {
        println!("skipping: no script(1) (util-linux) to give dock a terminal");
        return;
    }
    d.busybox();
    // script(1) gives dock a terminal as stdin/stdout; the commands wait in it for the shell.
    let input = crate::dock::tarballs::write_tmp(d, "typed", "echo in-$((6*7)); tty\nexit 7\n");
    let line = format!(
        "{} --root {} --runtime {} run -it --rm --cgroup-parent {} busybox sh",
        crate::dock::harness::dock_bin().display(),
        d.root().display(),
        d.runtime.display(),
        d.cgroup_parent
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .stdin(std::fs::File::open(input).unwrap());
    let out = d.out(c);
    assert_eq!(out.code(), Some(7), "the shell's exit status:\n{out}");
    let text = out.stdout.replace('\r', "");
    assert!(text.contains("\nin-42\n/dev/pts/0\n"), "{out}");
    d.assert_clean();
});
