//! A dock killed with SIGKILL part-way (mid-import, mid-run): what it leaves is never taken
//! for a whole image or container, and the next commands finish or sweep it.

use super::dock_test;
use super::harness::Dock;
use crate::host;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Entries of a directory of the store.
fn entries(d: &Dock, dir: &str) -> Vec<String> {
    fs::read_dir(d.root().join(dir))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Makes a file look as old as a leftover of a dock killed a while ago.
fn backdate(p: &Path) {
    let t = rustix::fs::Timespec {
        tv_sec: 1_600_000_000,
        tv_nsec: 0,
    };
    let ts = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(rustix::fs::CWD, p, &ts, rustix::fs::AtFlags::empty()).unwrap();
}

dock_test!(killed_import_leaves_no_image_and_is_swept, |d: &Dock| {
    let tar = fs::read(crate::dock::tarballs::busybox_tar()).unwrap();
    // The import reads stdin: half the tarball, then it waits for the rest and is killed.
    let mut c = d.cmd(&["import", "-", "half"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&tar[..tar.len() / 2]).unwrap();
    host::wait_until(Duration::from_secs(10), "the import to stage files", || {
        entries(d, "tmp")
            .first()
            .filter(|n| {
                fs::read_dir(d.root().join("tmp").join(n.as_str()))
                    .is_ok_and(|mut r| r.next().is_some())
            })
            .cloned()
    });
    kill9(&mut child);
    drop(input);
    assert_eq!(
        d.dock(&["images", "-q"]).stdout,
        "",
        "no image from a cut import"
    );
    assert!(
        entries(d, "layers").is_empty(),
        "no layer from a cut import"
    );
    let left = entries(d, "tmp");
    assert_eq!(left.len(), 1, "{left:?}");
    backdate(&d.root().join("tmp").join(&left[0]));
    // The next import sweeps the dead one's staging away.
    d.busybox();
    assert_eq!(entries(d, "tmp"), Vec::<String>::new());
    d.run(&["--rm", "busybox", "true"]).assert_ok();
    d.assert_clean();
});

/// The pid of the `dock _monitor ID` process of a detached container.
fn monitor_pid(id: &str) -> u32 {
    host::wait_until(Duration::from_secs(10), "the monitor process", || {
        fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
            let ours = args
                .windows(2)
                .any(|w| w[0] == b"_monitor" && w[1] == id.as_bytes());
            ours.then_some(pid)
        })
    })
}

fn status(d: &Dock, name: &str) -> String {
    super::containers::ps_status(d, name)
}

dock_test!(
    killed_monitor_is_finished_by_the_next_command,
    |d: &Dock| {
        d.busybox();
        let out = d.run(&[
            "-d",
            "--name",
            "orphan",
            "busybox",
            "sh",
            "-c",
            "echo ran; sleep 1",
        ]);
        out.assert_ok();
        let id = out.stdout.trim().to_string();
        // Killed once it has logged the output (what it has not read yet dies with it).
        host::wait_until(Duration::from_secs(10), "the first output logged", || {
            (d.dock(&["logs", "orphan"]).stdout == "ran\n").then_some(())
        });
        let mut monitor = std::process::Command::new("kill")
            .args(["-KILL", &monitor_pid(&id).to_string()])
            .spawn()
            .unwrap();
        monitor.wait().unwrap();
        // Unwatched, it still runs; once it has exited, nobody saw its status.
        assert!(
            status(d, "orphan").starts_with("Up"),
            "{}",
            status(d, "orphan")
        );
        host::wait_until(Duration::from_secs(10), "the orphan to exit", || {
            status(d, "orphan")
                .starts_with("Exited (255)")
                .then_some(())
        });
        assert!(
            host::mounts_under(d.root()).is_empty(),
            "its rootfs stayed mounted"
        );
        assert!(
            entries(d, "runtime").is_empty(),
            "the runtime kept its state"
        );
        let v: serde_json::Value =
            serde_json::from_str(&d.dock(&["inspect", "orphan"]).stdout).unwrap();
        assert!(v[0]["State"]["Error"]
            .as_str()
            .unwrap()
            .contains("monitor was killed"));
        // It starts again (the runtime no longer holds it) and runs to its own end.
        d.dock(&["start", "orphan"]).assert_ok();
        host::wait_until(Duration::from_secs(10), "the second run to end", || {
            status(d, "orphan").starts_with("Exited (0)").then_some(())
        });
        assert_eq!(d.dock(&["logs", "orphan"]).stdout, "ran\nran\n");
        d.dock(&["rm", "orphan"]).assert_ok();
        d.assert_clean();
    }
);

dock_test!(killed_runs_leave_no_half_made_container, |d: &Dock| {
    d.busybox();
    // A foreground `run --rm`, killed while its container runs: once the container has
    // exited, the next command removes it as its run would have.
    let mut c = d.cmd(&[
        "run",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--rm",
        "--name",
        "rmme",
        "busybox",
        "sleep",
        "1",
    ]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    host::wait_until(Duration::from_secs(10), "the container to run", || {
        status(d, "rmme").starts_with("Up").then_some(())
    });
    kill9(&mut child);
    host::wait_until(Duration::from_secs(10), "the --rm container to go", || {
        d.containers().is_empty().then_some(())
    });
    d.assert_clean();

    // A run killed while the runtime creates the container (a runtime that hangs in create).
    let mark = d.scratch("hang").join("pid");
    let hang = format!(
        "for a in \"$@\"; do [ \"$a\" = create ] && {{ echo $$ > {}; exec sleep 60; }}; done",
        mark.display()
    );
    let wrapper = d.wrapped_runtime("hang", &hang);
    let mut c = d.cmd_on(
        &wrapper,
        &[
            "run",
            "--cgroup-parent",
            &d.cgroup_parent,
            "--name",
            "half",
            "-v",
            "/anon",
            "busybox",
            "true",
        ],
    );
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let hung: u32 = host::wait_until(Duration::from_secs(10), "the runtime's create", || {
        fs::read_to_string(&mark).ok()?.trim().parse().ok()
    });
    kill9(&mut child);
    if let Some(p) = host::Proc::of(hung) {
        p.kill();
    }
    assert!(
        !host::mounts_under(d.root()).is_empty(),
        "the run had mounted its rootfs"
    );
    // ps finishes it: the container that never was is gone, with its volume and mount.
    assert_eq!(d.dock(&["ps", "-a"]).stdout.lines().count(), 1);
    assert_eq!(d.dock(&["volume", "ls", "-q"]).stdout, "");
    d.assert_clean();
});

dock_test!(monitor_killed_between_start_and_its_record, |d: &Dock| {
    d.busybox();
    // The runtime starts the container, then kills its caller (the monitor) before the
    // monitor could record it running.
    let snippet = format!(
        "for a in \"$@\"; do [ \"$a\" = start ] && {{ {} \"$@\"; kill -9 $PPID; exit 0; }}; done",
        d.runtime.display()
    );
    let wrapper = d.wrapped_runtime("killer", &snippet);
    let create = [
        "create",
        "--cgroup-parent",
        &d.cgroup_parent,
        "--name",
        "unwatched",
        "busybox",
        "sleep",
        "60",
    ];
    d.out(d.cmd_on(&wrapper, &create)).assert_ok();
    let out = d.dock(&["start", "unwatched"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("runs unwatched"), "{out}");
    // It is seen running (not "Created"), and stop/rm handle it.
    assert!(
        status(d, "unwatched").starts_with("Up"),
        "{}",
        status(d, "unwatched")
    );
    d.dock(&["stop", "-t", "1", "unwatched"]).assert_ok();
    assert!(
        status(d, "unwatched").starts_with("Exited (137)"),
        "{}",
        status(d, "unwatched")
    );
    d.dock(&["rm", "unwatched"]).assert_ok();
    d.assert_clean();
});
