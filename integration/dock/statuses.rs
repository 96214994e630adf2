//! Exit statuses and bad input: docker's codes (125 for dock's own failures, 126, 127, the
//! container's own, 128+N), one clear line, and nothing left in the store.

use super::containers::ps_status;
use super::dock_test;
use super::harness::Dock;
use crate::host;
use std::time::Duration;

dock_test!(exit_statuses_are_dockers, |d: &Dock| {
    d.busybox();
    assert_eq!(d.run(&["--rm", "busybox", "true"]).code(), Some(0));
    assert_eq!(
        d.run(&["--rm", "busybox", "sh", "-c", "exit 3"]).code(),
        Some(3)
    );
    let out = d.run(&["--rm", "nosuchimage"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr
            .contains("Unable to find image 'nosuchimage:latest' locally"),
        "{out}"
    );
    let out = d.run(&["--rm", "--bogus-flag", "busybox"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert_eq!(
        out.stderr,
        "dock: unexpected argument '--bogus-flag' found (see --help)\n"
    );
    let out = d.run(&["--rm", "BusyBox"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr.starts_with("dock: invalid reference format"),
        "{out}"
    );
    // -it without a terminal to read from: docker's CLI refuses it with status 1.
    let out = d.run(&["--rm", "-it", "busybox", "true"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "dock: the input device is not a TTY\n");
    let out = d.run(&["--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.code(), Some(126), "{out}");
    let out = d.run(&["--rm", "busybox", "/etc"]);
    assert_eq!(out.code(), Some(126), "{out}");
    let out = d.run(&["--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.code(), Some(127), "{out}");
    assert_eq!(
        out.stderr,
        "dock: exec: \"nosuchcommand\": executable file not found in $PATH\n"
    );
    // Killed by SIGKILL while the foreground run waits: 128 + 9.
    let mut c = d.cmd(&[
        "run",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--rm",
        "--name",
        "kk",
        "busybox",
        "sleep",
        "60",
    ]);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    host::wait_until(Duration::from_secs(10), "the container to run", || {
        ps_status(d, "kk").starts_with("Up").then_some(())
    });
    d.dock(&["kill", "kk"]).assert_ok();
    let status = host::wait_child(&mut child, Duration::from_secs(20), "dock run");
    assert_eq!(status.code(), Some(137));
    d.assert_clean();
});

dock_test!(
    bad_flags_fail_with_one_line_and_leave_nothing,
    |d: &Dock| {
        d.busybox();
        let before = d.store_snapshot();
        for (args, needle) in [
            (
                vec!["-v", "relative:dir", "busybox", "true"],
                "invalid volume specification",
            ),
            (
                vec!["-v", "/h:/c:bogus", "busybox", "true"],
                "invalid volume specification",
            ),
            (
                vec!["-v", "a:/c", "busybox", "true"],
                "invalid volume specification",
            ),
            (
                vec!["-e", "=x", "busybox", "true"],
                "invalid environment variable",
            ),
            (vec!["-u", "a:b:c", "busybox", "true"], "invalid user"),
            (
                vec!["-u", "nosuchuser", "busybox", "true"],
                "unable to find user nosuchuser",
            ),
            (
                vec!["-u", "root:nosuchgroup", "busybox", "true"],
                "unable to find group",
            ),
            (vec!["--memory", "lots", "busybox", "true"], "--memory"),
            (vec!["--cpus", "0", "busybox", "true"], "--cpus"),
            (
                vec!["--cap-add", "FLYING", "busybox", "true"],
                "unknown capability",
            ),
            (
                vec!["--network", "nowhere", "busybox", "true"],
                "network nowhere not found",
            ),
            (
                vec!["-w", "relative", "busybox", "true"],
                "working directory",
            ),
            (
                vec!["--mount", "type=tmpfs,dst=/t", "busybox", "true"],
                "is not supported",
            ),
            (
                vec![
                    "--mount",
                    "type=bind,src=/nonexistent-dock,dst=/t",
                    "busybox",
                    "true",
                ],
                "bind source path does not exist",
            ),
            (
                vec!["--name", "bad/name", "busybox", "true"],
                "Invalid container name",
            ),
            (
                vec!["-v", "newvol:/data", "busybox", "nosuchcommand"],
                "executable file not found",
            ),
        ] {
            let out = d.run(&args);
            assert!(
                matches!(out.code(), Some(125) | Some(127)),
                "{args:?}:\n{out}"
            );
            assert_eq!(out.stderr.lines().count(), 1, "{args:?}: one line:\n{out}");
            assert!(
                out.stderr.contains(needle),
                "{args:?}: wanted {needle:?}:\n{out}"
            );
            assert!(d.containers().is_empty(), "{args:?} left a container");
            assert_eq!(
                d.store_snapshot()
                    .into_iter()
                    .filter(|p| !p.starts_with("volumes/newvol"))
                    .collect::<Vec<_>>(),
                before,
                "{args:?} changed the store"
            );
        }
        d.run(&["--name", "taken", "busybox", "true"]).assert_ok();
        let out = d.run(&["--name", "taken", "busybox", "true"]);
        assert_eq!(out.code(), Some(125));
        assert!(out.stderr.contains("is already in use"), "{out}");
        d.dock(&["rm", "taken"]).assert_ok();
        let _ = d.dock(&["volume", "rm", "newvol"]);
        d.assert_clean();
    }
);

dock_test!(concurrent_runs_with_one_name_one_wins, |d: &Dock| {
    d.busybox();
    for round in 0..3 {
        let name = format!("same{round}");
        let children: Vec<_> = (0..3)
            .map(|_| {
                let mut c = d.cmd(&[
                    "run",
                    "--cgroup-parent",
                    &d.cgroup_parent,
                    "-d",
                    "--name",
                    &name,
                    "busybox",
                    "sleep",
                    "30",
                ]);
                c.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(won, 1, "round {round}: exactly one run takes the name");
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert_eq!(o.status.code(), Some(125));
            assert!(String::from_utf8_lossy(&o.stderr).contains("is already in use"));
        }
        assert!(
            ps_status(d, &name).starts_with("Up"),
            "{}",
            ps_status(d, &name)
        );
    }
    assert_eq!(d.containers().len(), 3);
    let names = std::fs::read_dir(d.root().join("containers/.names")).unwrap();
    assert_eq!(names.count(), 3, "one name each");
    for round in 0..3 {
        d.dock(&["rm", "-f", &format!("same{round}")]).assert_ok();
    }
    d.assert_clean();
});

dock_test!(a_runtime_refusing_delete_keeps_the_container, |d: &Dock| {
    d.busybox();
    // A runtime that refuses `delete` while a flag file exists.
    let flag = d.scratch("refusing").join("refuse");
    let refuse = format!(
        "for a in \"$@\"; do [ \"$a\" = delete ] && [ -e {} ] && {{ echo 'delete refused by test' >&2; exit 1; }}; done",
        flag.display()
    );
    let wrapper = d.wrapped_runtime("runtime", &refuse);
    let run = |name: &str| {
        let c = d.cmd_on(
            &wrapper,
            &[
                "run",
                "--cgroup-parent",
                &d.cgroup_parent,
                "--name",
                name,
                "busybox",
                "true",
            ],
        );
        d.out(c).assert_ok();
    };
    std::fs::write(&flag, "").unwrap();
    run("stuck");
    let v: serde_json::Value = serde_json::from_str(&d.dock(&["inspect", "stuck"]).stdout).unwrap();
    assert_eq!(
        v[0]["State"]["Error"], "runtime delete: delete refused by test",
        "{v}"
    );
    // rm says why and keeps it (the runtime still holds its state)...
    let out = d.dock(&["rm", "stuck"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "dock: runtime delete: delete refused by test\n");
    assert!(ps_status(d, "stuck").starts_with("Exited (0)"));
    // ...until the runtime lets go.
    std::fs::remove_file(&flag).unwrap();
    d.dock(&["rm", "stuck"]).assert_ok();
    // rm -f removes it all the same, with a warning (a runtime gone for good is no trap).
    std::fs::write(&flag, "").unwrap();
    run("stuck2");
    let id = d.containers()[0].clone();
    let out = d.dock(&["rm", "-f", "stuck2"]);
    out.assert_ok();
    assert!(
        out.stderr.starts_with("WARNING: ") && out.stderr.contains("delete refused by test"),
        "{out}"
    );
    assert!(d.containers().is_empty());
    let rt_root = d.root().join("runtime");
    let full = std::fs::read_dir(&rt_root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    assert!(
        full.to_string_lossy().starts_with(&id),
        "the runtime kept its state"
    );
    std::process::Command::new(&d.runtime)
        .arg("--root")
        .arg(&rt_root)
        .args(["delete", "--force"])
        .arg(&full)
        .status()
        .unwrap();
    d.assert_clean();
});

dock_test!(
    a_reader_that_goes_away_ends_a_listing_quietly,
    |d: &Dock| {
        d.busybox();
        d.run(&["--name", "listed", "busybox", "echo", "hi"])
            .assert_ok();
        // `dock ps -q | head -1` with head already gone: dock ends by SIGPIPE, as docker or any
        // Unix tool does, never with a panic on stderr.
        for args in [
            &["ps", "-a"][..],
            &["images"],
            &["inspect", "listed"],
            &["logs", "listed"],
            &["volume", "ls"],
        ] {
            let (reader, writer) = rustix::pipe::pipe().unwrap();
            drop(reader);
            let mut c = d.cmd(args);
            c.stdout(std::process::Stdio::from(writer))
                .stderr(std::process::Stdio::piped());
            let out = c.output().unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(13), "{args:?}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
        }
        d.dock(&["rm", "listed"]).assert_ok();
        d.assert_clean();
    }
);
