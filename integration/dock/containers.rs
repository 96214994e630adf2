//! Containers: what they see, their isolation, volumes and binds, detached runs with logs,
//! --rm, create/start, and that nothing is left behind.

use super::dock_test;
use super::harness::Dock;
use crate::host;
use std::fs;
use std::time::Duration;

pub fn ps_status(d: &Dock, name: &str) -> String {
    let out = d.dock(&["ps", "-a", "--format", "json"]);
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["Names"] == name)
        .map(|v| v["Status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

dock_test!(run_applies_dockers_defaults, |d: &Dock| {
    d.busybox();
    let out = d.run(&["--name", "defaults", "-e", "GREETING=hi there", "-w", "/work/dir", "busybox", "sh", "-c", "grep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; hostname; cat /etc/hostname; echo \"$GREETING\"; pwd; wc -c < /proc/timer_list; touch / 2>&1 | head -c0; cat /proc/net/dev | grep -c lo"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Docker's 14 default capabilities; its seccomp profile (filter mode 2).
    assert_eq!(
        lines[0].split_whitespace().nth(1),
        Some("00000000a80425fb"),
        "{out}"
    );
    assert_eq!(lines[1].split_whitespace().nth(1), Some("0"), "{out}");
    assert_eq!(lines[2].split_whitespace().nth(1), Some("2"), "{out}");
    let id = d.dock(&["ps", "-aq"]).stdout.trim().to_string();
    assert_eq!(lines[3], id, "hostname is the short ID:\n{out}");
    assert_eq!(lines[4], id);
    assert_eq!(lines[5], "hi there");
    assert_eq!(lines[6], "/work/dir", "-w made the directory:\n{out}");
    assert_eq!(lines[7], "0", "/proc/timer_list is masked:\n{out}");
    let ins = d.dock(&["inspect", "defaults"]);
    let v: serde_json::Value = serde_json::from_str(&ins.stdout).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["ExitCode"], 0);
    d.dock(&["rm", "defaults"]).assert_ok();
    d.assert_clean();
});

dock_test!(containers_share_layers_but_not_writes, |d: &Dock| {
    d.busybox();
    d.run(&[
        "--name",
        "ca",
        "busybox",
        "sh",
        "-c",
        "echo from-a > /written; echo x >> /bin/busybox.note",
    ])
    .assert_ok();
    let out = d.run(&[
        "--name",
        "cb",
        "busybox",
        "sh",
        "-c",
        "cat /written; ls /bin/busybox.note",
    ]);
    assert_eq!(out.code(), Some(1), "b must not see a's writes:\n{out}");
    assert_eq!(out.stdout, "", "{out}");
    let inspect = |n: &str| -> serde_json::Value {
        serde_json::from_str(&d.dock(&["inspect", n]).stdout).unwrap()
    };
    let (a, b) = (inspect("ca"), inspect("cb"));
    let lower = |v: &serde_json::Value| {
        v[0]["GraphDriver"]["Data"]["LowerDir"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        lower(&a),
        lower(&b),
        "both stack the same layer directories"
    );
    assert_ne!(
        a[0]["GraphDriver"]["Data"]["UpperDir"],
        b[0]["GraphDriver"]["Data"]["UpperDir"]
    );
    assert_eq!(
        fs::read_dir(d.root().join("layers")).unwrap().count(),
        1,
        "the layer is unpacked once"
    );
    // The image's layer itself is untouched.
    assert!(!std::path::Path::new(&lower(&a)).join("written").exists());
    d.dock(&["rm", "ca", "cb"]).assert_ok();
    d.assert_clean();
});

dock_test!(named_volume_outlives_its_container, |d: &Dock| {
    d.busybox();
    d.run(&[
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/file",
    ])
    .assert_ok();
    let out = d.dock(&["volume", "rm", "data"]);
    out.assert_failed();
    assert!(out.stderr.contains("volume is in use"), "{out}");
    // -f neither (as docker): it would pull the data from under the container.
    let out = d.dock(&["volume", "rm", "-f", "data", "nosuch"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "only the in-use one fails:\n{out}"
    );
    assert!(out.stderr.contains("volume is in use"), "{out}");
    let data = d.root().join("volumes/data/_data/file");
    assert_eq!(fs::read_to_string(&data).unwrap(), "persisted\n");
    let out = d.dock(&["volume", "rm", "nosuch", "nosuch2"]);
    assert_eq!(out.stderr.lines().count(), 2, "one line per volume:\n{out}");
    d.dock(&["rm", "writer"]).assert_ok();
    assert!(d
        .dock(&["volume", "ls", "-q"])
        .stdout
        .lines()
        .any(|l| l == "data"));
    let out = d.run(&[
        "--rm",
        "-v",
        "data:/again:ro",
        "busybox",
        "sh",
        "-c",
        "cat /again/file; touch /again/x",
    ]);
    assert_ne!(out.code(), Some(0), "a :ro volume is read-only:\n{out}");
    assert!(
        out.stdout.starts_with("persisted\n") && out.stderr.contains("Read-only"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&d.dock(&["volume", "inspect", "data"]).stdout).unwrap();
    assert_eq!(v[0]["Name"], "data");
    d.dock(&["volume", "rm", "data"]).assert_ok();
    assert_eq!(d.dock(&["volume", "ls", "-q"]).stdout, "");
    d.assert_clean();
});

dock_test!(bind_mounts_share_host_files, |d: &Dock| {
    d.busybox();
    let dir = d.scratch("bind");
    fs::write(dir.join("in"), "from host\n").unwrap();
    let spec = format!("{}:/mnt", dir.display());
    let out = d.run(&[
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /mnt/in; echo from container > /mnt/out",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "from host\n");
    assert_eq!(
        fs::read_to_string(dir.join("out")).unwrap(),
        "from container\n"
    );
    // A relative source is taken from where dock runs (docker since 23, podman).
    let mut c = d.cmd(&[
        "run",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--rm",
        "-v",
        "./bind:/rel",
        "busybox",
        "cat",
        "/rel/out",
    ]);
    c.current_dir(dir.parent().unwrap());
    let out = d.out(c);
    assert_eq!(out.stdout, "from container\n", "{out}");
    // --mount, as the seeds use it: a bind (its source must exist) and a named volume.
    let m = format!("type=bind,source={},target=/m,readonly", dir.display());
    let out = d.run(&[
        "--rm",
        "--mount",
        &m,
        "--mount",
        "source=mvol,target=/v",
        "busybox",
        "sh",
        "-c",
        "cat /m/in; touch /m/x 2>/dev/null || echo ro; echo kept > /v/f",
    ]);
    assert_eq!(out.stdout, "from host\nro\n", "{out}");
    let missing = format!("type=bind,src={}/nope,dst=/m", dir.display());
    let out = d.run(&["--rm", "--mount", &missing, "busybox", "true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(
        out.stderr.contains("bind source path does not exist"),
        "{out}"
    );
    assert!(!dir.join("nope").exists());
    let out = d.run(&["--rm", "-v", "mvol:/v", "busybox", "cat", "/v/f"]);
    assert_eq!(out.stdout, "kept\n", "{out}");
    d.dock(&["volume", "rm", "mvol"]).assert_ok();
    let ro = format!("{}:/mnt:ro", dir.display());
    let out = d.run(&["--rm", "-v", &ro, "busybox", "touch", "/mnt/x"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(!dir.join("x").exists());
    d.assert_clean();
});

dock_test!(detached_logs_stop_rm, |d: &Dock| {
    d.busybox();
    let script = "trap 'echo got TERM; exit 0' TERM; echo started; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";
    let out = d.run(&["-d", "--name", "bg", "busybox", "sh", "-c", script]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "-d prints the full ID:\n{out}");
    host::wait_until(Duration::from_secs(10), "two ticks in the log", || {
        d.dock(&["logs", "bg"])
            .stdout
            .contains("tick 1")
            .then_some(())
    });
    assert!(
        ps_status(d, "bg").starts_with("Up "),
        "{}",
        ps_status(d, "bg")
    );
    let logs = d.dock(&["logs", "bg"]);
    assert!(logs.stdout.starts_with("started\ntick 0\n"), "{logs}");
    assert_eq!(logs.stderr, "oops\n", "stderr stays stderr:\n{logs}");
    let tail = d.dock(&["logs", "--tail", "1", "bg"]);
    assert_eq!(
        tail.stdout.lines().count() + tail.stderr.lines().count(),
        1,
        "{tail}"
    );
    let out = d.dock(&["rm", "bg"]);
    assert_eq!(
        out.code(),
        Some(1),
        "a running container is not removed without -f:\n{out}"
    );
    // logs -f follows until the container stops.
    let follow_out = d.scratch("follow").join("out");
    let mut follow = d.cmd(&["logs", "-f", "bg"]);
    follow
        .stdout(fs::File::create(&follow_out).unwrap())
        .stderr(std::process::Stdio::null());
    let mut follow = follow.spawn().unwrap();
    d.dock(&["stop", "-t", "5", "bg"]).assert_ok();
    let status = host::wait_child(&mut follow, Duration::from_secs(10), "logs -f");
    assert!(status.success());
    let followed = fs::read_to_string(&follow_out).unwrap();
    assert!(
        followed.starts_with("started\n") && followed.ends_with("got TERM\n"),
        "{followed}"
    );
    assert!(
        ps_status(d, "bg").starts_with("Exited (0)"),
        "{}",
        ps_status(d, "bg")
    );
    assert!(d.dock(&["logs", "bg"]).stdout.ends_with("got TERM\n"));
    assert!(
        host::mounts_under(d.root()).is_empty(),
        "a stopped container keeps no mount"
    );
    // start runs it again, restart too; the log keeps growing.
    d.dock(&["start", "bg"]).assert_ok();
    assert!(ps_status(d, "bg").starts_with("Up "));
    d.dock(&["restart", "-t", "5", "bg"]).assert_ok();
    assert!(ps_status(d, "bg").starts_with("Up "));
    d.dock(&["kill", "bg"]).assert_ok();
    host::wait_until(Duration::from_secs(10), "the kill to be recorded", || {
        ps_status(d, "bg").starts_with("Exited (137)").then_some(())
    });
    assert_eq!(
        d.dock(&["logs", "bg"]).stdout.matches("started\n").count(),
        3
    );
    d.dock(&["rm", &id[..12]]).assert_ok();
    d.assert_clean();
});

dock_test!(rm_flag_removes_everything, |d: &Dock| {
    d.busybox();
    let out = d.run(&[
        "--rm",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo x > /anon/f; echo done",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "done\n");
    assert_eq!(
        d.dock(&["volume", "ls", "-q"]).stdout,
        "",
        "--rm removes anonymous volumes"
    );
    let out = d.run(&["-d", "--rm", "busybox", "sleep", "30"]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    d.dock(&["stop", "-t", "1", &id]).assert_ok();
    host::wait_until(Duration::from_secs(10), "the --rm container to go", || {
        d.containers().is_empty().then_some(())
    });
    d.assert_clean();
});

dock_test!(force_rm_kills_a_running_container, |d: &Dock| {
    d.busybox();
    d.run(&["-d", "--name", "victim", "busybox", "sleep", "60"])
        .assert_ok();
    d.dock(&["rm", "-f", "victim"]).assert_ok();
    d.assert_clean();
});

dock_test!(create_then_start, |d: &Dock| {
    d.busybox();
    let out = d.dock(&[
        "create",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo ran; exit 5",
    ]);
    out.assert_ok();
    assert_eq!(ps_status(d, "later"), "Created");
    assert!(
        host::mounts_under(d.root()).is_empty(),
        "a created container keeps no mount"
    );
    d.dock(&["start", "later"]).assert_ok();
    host::wait_until(Duration::from_secs(10), "the container to exit", || {
        ps_status(d, "later")
            .starts_with("Exited (5)")
            .then_some(())
    });
    assert_eq!(d.dock(&["logs", "later"]).stdout, "ran\n");
    d.dock(&["rm", "later"]).assert_ok();
    d.assert_clean();
});

dock_test!(capabilities_privileged_and_read_only, |d: &Dock| {
    d.busybox();
    let caps = |args: &[&str]| -> (String, String) {
        let mut a = vec!["--rm"];
        a.extend_from_slice(args);
        a.extend([
            "busybox",
            "sh",
            "-c",
            "grep -E '^(CapBnd|Seccomp):' /proc/self/status | awk '{print $2}'",
        ]);
        let out = d.run(&a);
        out.assert_ok();
        let v: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        (v[0].clone(), v[1].clone())
    };
    assert_eq!(caps(&["--cap-drop", "chown"]).0, "00000000a80425fa");
    assert_eq!(
        caps(&["--cap-drop", "ALL", "--cap-add", "KILL"]).0,
        "0000000000000020"
    );
    // --privileged: every capability dock holds itself, and no seccomp filter.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let ours = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(caps(&["--privileged"]), (ours.to_string(), "0".to_string()));
    // mount needs CAP_SYS_ADMIN and the seccomp entries Docker's profile gives with it.
    let mount = "mkdir -p /mnt; mount -t tmpfs none /mnt && echo mounted";
    assert_ne!(
        d.run(&["--rm", "busybox", "sh", "-c", mount]).code(),
        Some(0)
    );
    let out = d.run(&[
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sh",
        "-c",
        mount,
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "mounted\n");
    let out = d.run(&[
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x || echo refused; touch /tmp/y 2>/dev/null || echo tmp-too",
    ]);
    assert!(
        out.stdout.starts_with("refused\n") && out.stderr.contains("Read-only"),
        "{out}"
    );
    // -i hands the caller's stdin to the container; loopback is up in its own network namespace.
    let mut c = d.cmd(&[
        "run",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--rm",
        "-i",
        "busybox",
        "sh",
        "-c",
        "cat; cat /sys/class/net/lo/flags",
    ]);
    c.stdin(fs::File::open(crate::dock::tarballs::write_tmp(d, "stdin", "piped in\n")).unwrap());
    let out = d.out(c);
    out.assert_ok();
    assert_eq!(out.stdout, "piped in\n0x9\n", "{out}");
    d.assert_clean();
});

dock_test!(entrypoint_user_hostname_env_file, |d: &Dock| {
    d.busybox();
    let env =
        crate::dock::tarballs::write_tmp(d, "env", "# a comment\nFROM_FILE=yes\n\nBOTH=file\n");
    let env = env.to_str().unwrap();
    let out = d.run(&[
        "--rm",
        "--env-file",
        env,
        "-e",
        "BOTH=flag",
        "-u",
        "nobody",
        "--hostname",
        "box.example",
        "--entrypoint",
        "sh",
        "busybox",
        "-c",
        "echo $FROM_FILE $BOTH $(id -u):$(id -g) $(hostname) $HOSTNAME",
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout, "yes flag 65534:65534 box.example box.example\n",
        "{out}"
    );
    // The image's CMD (sh) is replaced by the arguments; an image ENTRYPOINT stays in front.
    let out = d.run(&["--rm", "--entrypoint", "echo", "busybox", "a", "b"]);
    assert_eq!(out.stdout, "a b\n", "{out}");
    // --network host: the host's network namespace, and its hostname by default.
    let out = d.run(&[
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; ls /sys/class/net",
    ]);
    out.assert_ok();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut ours: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ours.sort();
    assert_eq!(out.stdout, format!("{host}{}\n", ours.join("\n")), "{out}");
    d.assert_clean();
});

dock_test!(later_commands_use_the_containers_runtime, |d: &Dock| {
    d.busybox();
    d.run(&["-d", "--name", "rt", "busybox", "sleep", "60"])
        .assert_ok();
    // No --runtime now: dock must use the one the container was made with (else berth).
    let plain = |args: &[&str]| {
        let mut c = std::process::Command::new(crate::dock::harness::dock_bin());
        c.arg("--root")
            .arg(d.root())
            .args(args)
            .stdin(std::process::Stdio::null());
        d.out(c)
    };
    let v: serde_json::Value = serde_json::from_str(&plain(&["inspect", "rt"]).stdout).unwrap();
    assert_eq!(
        v[0]["HostConfig"]["Runtime"],
        d.runtime.display().to_string()
    );
    assert_eq!(v[0]["State"]["Status"], "running");
    plain(&["stop", "-t", "1", "rt"]).assert_ok();
    assert!(
        ps_status(d, "rt").starts_with("Exited (137)"),
        "{}",
        ps_status(d, "rt")
    );
    plain(&["start", "rt"]).assert_ok();
    plain(&["rm", "-f", "rt"]).assert_ok();
    d.assert_clean();
});

dock_test!(image_stopsignal_and_volumes, |d: &Dock| {
    let tar = crate::dock::tarballs::busybox_tar().display().to_string();
    d.dock(&[
        "import",
        "-c",
        "STOPSIGNAL SIGUSR1",
        "-c",
        "VOLUME /data",
        &tar,
        "sig",
    ])
    .assert_ok();
    let script = "trap 'echo got USR1; exit 0' USR1; ls -d /data; while true; do sleep 0.1; done";
    d.run(&["-d", "--name", "sg", "sig", "sh", "-c", script])
        .assert_ok();
    // The image's VOLUME became an anonymous volume.
    let vols = d.dock(&["volume", "ls", "-q"]).stdout;
    assert_eq!(vols.lines().count(), 1, "{vols}");
    d.dock(&["stop", "-t", "10", "sg"]).assert_ok();
    assert!(
        ps_status(d, "sg").starts_with("Exited (0)"),
        "STOPSIGNAL was sent: {}",
        ps_status(d, "sg")
    );
    assert_eq!(d.dock(&["logs", "sg"]).stdout, "/data\ngot USR1\n");
    // rm keeps an anonymous volume, rm -v removes it (as docker).
    d.dock(&["rm", "-v", "sg"]).assert_ok();
    assert_eq!(d.dock(&["volume", "ls", "-q"]).stdout, "");
    d.assert_clean();
});

dock_test!(container_signals_start_unblocked, |d: &Dock| {
    d.busybox();
    // dock's monitor reads signals from a signalfd: none of that may reach the container.
    for extra in [&[][..], &["-t"][..]] {
        let mut args = vec!["--rm"];
        args.extend_from_slice(extra);
        args.extend([
            "busybox",
            "grep",
            "-E",
            "^Sig(Blk|Ign)",
            "/proc/self/status",
        ]);
        let out = d.run(&args);
        out.assert_ok();
        let v: Vec<u64> = out
            .stdout
            .lines()
            .map(|l| u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("x"), 16).unwrap())
            .collect();
        assert_eq!(v[0], 0, "{args:?}: signals blocked:\n{out}");
        // dock ignores SIGPIPE (as every Rust program); the container must not inherit that.
        assert_eq!(v[1] & (1 << 12), 0, "{args:?}: SIGPIPE ignored:\n{out}");
    }
    d.assert_clean();
});

dock_test!(
    logs_keep_order_and_every_line_of_a_large_output,
    |d: &Dock| {
        d.busybox();
        let script = "echo o1; sleep 0.1; echo e1 >&2; sleep 0.1; echo o2; sleep 0.1; echo e2 >&2; sleep 0.1; seq 1 200000";
        d.run(&["--name", "mix", "busybox", "sh", "-c", script])
            .assert_ok();
        // Both streams into one pipe: the lines come in the order the container wrote them.
        let line = format!(
            "{} --root {} logs mix 2>&1",
            crate::dock::harness::dock_bin().display(),
            d.root().display()
        );
        let mut c = std::process::Command::new("sh");
        c.args(["-c", &line]);
        let out = d.out(c);
        out.assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines[..4],
            ["o1", "e1", "o2", "e2"],
            "{}",
            &out.stdout[..40]
        );
        assert_eq!(lines.len(), 200_004);
        assert_eq!(lines.last(), Some(&"200000"));
        let tail = d.dock(&["logs", "--tail", "3", "mix"]);
        assert_eq!(tail.stdout, "199998\n199999\n200000\n");
        d.dock(&["rm", "mix"]).assert_ok();
        d.assert_clean();
    }
);

dock_test!(a_given_cgroup_parent_is_left_alone, |d: &Dock| {
    d.busybox();
    // The user's own parent (made before, in every hierarchy): dock runs in it, never
    // removes it (it may hold the limits of a group of containers).
    let made: Vec<_> = host::cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join(d.cgroup_parent.trim_start_matches('/')))
        .filter(|p| fs::create_dir(p).is_ok())
        .collect();
    assert!(!made.is_empty());
    let out = d.run(&["--rm", "busybox", "cat", "/proc/self/cgroup"]);
    out.assert_ok();
    assert!(out.stdout.contains(&d.cgroup_parent), "{out}");
    for p in &made {
        assert!(p.is_dir(), "{} was removed", p.display());
    }
    d.assert_clean();
});
