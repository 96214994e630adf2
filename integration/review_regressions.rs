//! Regression tests for bugs found in review: each one reproduces what went wrong.

use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::{json, Value};

/// A config without process.capabilities gives the container no capabilities, as runc does.
#[test]
fn absent_capabilities_mean_none() {
    need_root!();
    let mut b = Bundle::new().args(&["grep", "-E", "^Cap(Eff|Prm|Bnd|Amb|Inh)", "/proc/1/status"]);
    b.config["process"]
        .as_object_mut()
        .expect("process")
        .remove("capabilities");
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    for l in lines {
        assert!(l.ends_with("0000000000000000"), "{l}");
    }
    c.assert_no_leftovers();
}

/// The program starts with no ignored signals (Rust ignores SIGPIPE; exec kept that).
#[test]
fn no_signal_is_ignored_at_start() {
    need_root!();
    let c = Container::new(Bundle::new().args(&["grep", "SigIgn", "/proc/1/status"]));
    let out = c.run(&[]);
    out.assert_ok();
    assert!(
        out.stdout.trim().ends_with("0000000000000000"),
        "{}",
        out.stdout
    );
    c.assert_no_leftovers();
}

/// Real-time signals reach the container by number and by name.
#[test]
fn realtime_signals_are_delivered() {
    need_root!();
    let script = "trap 'echo got-rt' 37; echo ready; while true; do sleep 0.05; done";
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", script]));
    c.create_and_start();
    c.wait_output("ready");
    c.kill(Some("37")).assert_ok();
    c.wait_output("got-rt");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// berth-specific: --preserve-fds beyond what the caller passed is refused instead of handing
/// berth's own fds to the container.
#[test]
fn preserve_fds_beyond_the_callers_is_refused() {
    need_berth!();
    let c = Container::new(Bundle::new().args(&["true"]));
    let out = c.rt(&[
        "run",
        "--preserve-fds",
        "40",
        "--bundle",
        &c.bundle.path().display().to_string(),
        &c.id,
    ]);
    out.assert_failed();
    assert!(out.stderr.contains("--preserve-fds 40"), "{}", out.stderr);
    c.assert_no_leftovers();
}

/// `..` in linux.cgroupsPath cannot climb out of the cgroup hierarchy onto the host.
#[test]
fn cgroups_path_dotdot_stays_in_the_hierarchy() {
    need_root!();
    let tag = format!("berth-it-escape-{}", std::process::id());
    let path = format!("/../../../../tmp/{tag}");
    let c = Container::new(
        Bundle::new()
            .set("/linux/cgroupsPath", json!(path))
            .args(&["cat", "/proc/self/cgroup"]),
    );
    let out = c.run(&[]);
    out.assert_ok();
    assert!(!std::path::Path::new(&format!("/tmp/{tag}")).exists());
    assert!(
        out.stdout.contains(&format!(":/tmp/{tag}")),
        "{}",
        out.stdout
    );
    // The cgroup went under each hierarchy's root, and was removed with the container.
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/pids/tmp/{tag}")).exists());
    for h in ["pids", "memory", "cpu"] {
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{h}/tmp"));
    }
}

/// A missing process.cwd is created inside the rootfs, as runc does.
#[test]
fn missing_cwd_is_created() {
    need_root!();
    let c = Container::new(
        Bundle::new()
            .set("/root/readonly", json!(false))
            .set("/process/cwd", json!("/work/here"))
            .args(&["pwd"]),
    );
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "/work/here");
    c.assert_no_leftovers();
}

/// `delete --force` of an id that does not exist succeeds, as in runc.
#[test]
fn force_delete_of_an_unknown_id_succeeds() {
    need_root!();
    let c = Container::new(Bundle::new());
    c.delete(true).assert_ok();
    c.delete(false).assert_failed();
}

/// berth-specific: a create killed halfway leaves an id that `delete` can clean up.
#[test]
fn killed_create_can_be_deleted() {
    need_berth!();
    // The init blocks while the parent is stopped; SIGKILL the parent at that point.
    let c = Container::new(Bundle::new().args(&["true"]));
    let b = c.bundle.path().display().to_string();
    let mut child = c
        .command(
            &["create", "--bundle", &b, &c.id],
            c.append("k.out"),
            c.append("k.err"),
        )
        .spawn()
        .expect("spawn create");
    // Stop it as soon as its state dir appears, then kill it.
    let state = c.root().join(&c.id).join("state.json");
    let t0 = std::time::Instant::now();
    while !state.exists() && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// With a non-recursive rootfsPropagation, detaching the old root after pivot_root must not
/// propagate and unmount the caller's mounts. Runs inside `unshare -m --propagation shared`
/// so that the shared peer groups exist only in a throwaway mount namespace.
#[test]
fn rootfs_propagation_private_leaves_the_callers_mounts() {
    need_root!();
    for prop in ["private", "slave", "shared"] {
        let c = Container::new(
            Bundle::new()
                .set("/linux/rootfsPropagation", json!(prop))
                .args(&["true"]),
        );
        let scratch = c.bundle.path().join("pt");
        let script = format!(
            "set -e; mkdir -p {s}/a; mount -t tmpfs t {s}/a; mkdir {s}/a/leaf; \
             mount -t tmpfs leaf {s}/a/leaf; \
             {bin} --root {root} run --bundle {b} {id} >/dev/null; \
             mountpoint -q {s}/a/leaf && echo leaf-still-mounted",
            s = scratch.display(),
            bin = crate::common::runtime_bin().display(),
            root = c.root().display(),
            b = c.bundle.path().display(),
            id = c.id,
        );
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "shared", "sh", "-c", &script])
            .output()
            .expect("unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("leaf-still-mounted"), "{prop}: {out:?}");
        c.assert_no_leftovers();
    }
}

/// linux.resources.devices is enforced: with CAP_MKNOD the container can create any node, but
/// opens only what the rules (runc's defaults plus the config's) allow.
#[test]
fn device_rules_are_enforced() {
    need_root!();
    let caps = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
    let script = "mknod /dev/lc c 10 237; cat /dev/lc 2>&1; echo x > /dev/null && echo null-ok; \
                  mknod /dev/mem2 c 1 1; head -c1 /dev/mem2 2>&1; true";
    let b = Bundle::new()
        .set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/effective", caps.clone())
        .set("/process/capabilities/permitted", caps)
        .set(
            "/linux/resources/devices",
            json!([{"allow": false, "access": "rwm"}]),
        )
        .args(&["sh", "-c", script]);
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_ok();
    let denied = out.stdout.matches("Operation not permitted").count();
    assert_eq!(denied, 2, "{}", out.stdout);
    assert!(out.stdout.contains("null-ok"), "{}", out.stdout);
    c.assert_no_leftovers();
}

/// `run --keep` leaves the stopped container for `state` and `delete`.
#[test]
fn run_keep_leaves_a_stopped_container() {
    need_root!();
    let c = Container::new(Bundle::new().args(&["sh", "-c", "exit 4"]));
    let out = c.run(&["--keep"]);
    assert_eq!(out.code(), Some(4), "{}", out.stderr);
    assert_eq!(c.status(), "stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// Without any resources.devices rule (and with rules that only allow), the container still
/// gets runc's default allow-list and nothing more.
#[test]
fn device_defaults_apply_without_config_rules() {
    need_root!();
    let caps = json!(["CAP_MKNOD"]);
    for rules in [
        json!(null),
        json!([{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]),
    ] {
        let mut b = Bundle::new()
            .set("/process/capabilities/bounding", caps.clone())
            .set("/process/capabilities/effective", caps.clone())
            .set("/process/capabilities/permitted", caps.clone())
            .args(&[
                "sh",
                "-c",
                "mknod /dev/m2 c 1 1; head -c1 /dev/m2 2>&1; true",
            ]);
        if rules.is_null() {
            b.config["linux"]
                .as_object_mut()
                .expect("linux")
                .remove("resources");
        } else {
            b = b.set("/linux/resources/devices", rules);
        }
        let c = Container::new(b);
        let out = c.run(&[]);
        out.assert_ok();
        assert!(
            out.stdout.contains("Operation not permitted"),
            "{}",
            out.stdout
        );
        c.assert_no_leftovers();
    }
}

/// berth-specific: while its `berth create` is still setting it up, a container is "creating",
/// and delete (even --force) refuses it rather than killing the half-made container.
#[test]
fn a_container_being_created_is_not_deleted() {
    need_berth!();
    let c = Container::new(Bundle::new());
    let dir = c.root().join(&c.id);
    std::fs::create_dir_all(&dir).expect("state dir");
    // The provisional state of a create in progress; this test process plays the creator.
    let me = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).expect("stat");
    let start: u64 = stat[stat.rfind(')').expect(")") + 2..]
        .split(' ')
        .nth(19)
        .and_then(|s| s.parse().ok())
        .expect("starttime");
    let state = json!({
        "id": c.id, "pid": 0, "startTime": 0, "bundle": c.bundle.path(), "rootfs": "/",
        "created": "", "annotations": {}, "cgroup": {"dirs": []}, "ownPidNs": true,
        "creator": [me, start]
    });
    std::fs::write(dir.join("state.json"), state.to_string()).expect("write state");
    assert_eq!(c.status(), "creating");
    c.delete(false).assert_failed();
    c.delete(true).assert_failed();
    c.kill(Some("KILL")).assert_failed();
    assert!(dir.join("state.json").exists());
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// berth-specific: a `berth run` SIGKILLed between telling its init to exec and saving the state
/// leaves a running program and a state with no init pid, whose creator is dead. delete kills
/// what is in the container's cgroup and removes everything (it skipped the kill, since the
/// container has its own pid namespace, and the busy cgroup made it fail).
#[test]
fn delete_cleans_up_after_a_run_killed_before_its_state() {
    need_berth!();
    let mut c = Container::new(Bundle::new().args(&["sleep", "600"]));
    c.create_and_start();
    let file = c.root().join(&c.id).join("state.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read state")).expect("json");
    let init = state["pid"].as_i64().expect("pid");
    // What a killed run leaves: pid 0, and a creator that is gone (no process has pid 0's
    // start time 1 here).
    state["pid"] = json!(0);
    state["startTime"] = json!(0);
    state["creator"] = json!([init, 1]);
    std::fs::write(&file, state.to_string()).expect("write state");
    assert_eq!(c.status(), "stopped");
    c.delete(false).assert_ok();
    assert!(
        !std::path::Path::new(&format!("/proc/{init}")).exists()
            || std::fs::read_to_string(format!("/proc/{init}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true),
        "the program still runs"
    );
    c.assert_no_leftovers();
}

/// A foreground `run` survives glibc's reserved signals (32, 33), which it blocks and forwards
/// like the others, instead of dying of them and leaving the container behind.
#[test]
fn run_survives_signal_33() {
    need_berth!();
    let script = "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.05; done";
    let c = Container::new(Bundle::new().args(&["sh", "-c", script]));
    let mut child = c.spawn_run();
    c.wait_output("ready");
    let pid = child.id() as i32;
    // SAFETY: kill(2) on the berth process this test started.
    unsafe { libc::kill(pid, 33) };
    // Wait until berth has taken the signal (nothing pending), then it must still be running.
    crate::host::wait_until(
        std::time::Duration::from_secs(10),
        "signal 33 consumed",
        || {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let pending = status
                .lines()
                .filter(|l| l.starts_with("ShdPnd:") || l.starts_with("SigPnd:"))
                .any(|l| !l.ends_with("0000000000000000"));
            (!pending).then_some(())
        },
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "berth run died of signal 33"
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    c.wait_output("got-usr1");
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(0), "{status:?}");
    c.assert_no_leftovers();
}

/// rootfsPropagation rshared with an rshared bind volume ("Bidirectional" in Kubernetes): a
/// mount the container makes inside the volume appears outside, while the container's own
/// mounts (rootfs, /proc, ...) do not leak out. Runs inside `unshare -m --propagation shared`.
#[test]
fn rshared_volume_propagates_both_ways() {
    need_root!();
    let mut b = Bundle::new()
        .set("/linux/rootfsPropagation", json!("rshared"))
        .args(&["sh", "-c", "mount -t tmpfs inner /vol/sub && echo mounted"]);
    // Inside the bundle's own directory, so it goes with the bundle.
    let vol = b.path().join("vol");
    let caps = json!(["CAP_SYS_ADMIN"]);
    b = b
        .set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/effective", caps.clone())
        .set("/process/capabilities/permitted", caps)
        .mount(json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rshared"]}));
    let c = Container::new(b);
    let script = format!(
        "set -e; mkdir -p {v}/sub; mount --bind {v} {v}; mount --make-shared {v}; \
         {bin} --root {root} run --bundle {bd} {id}; \
         mountpoint -q {v}/sub && echo seen-outside; \
         grep -c ' {bd}/rootfs' /proc/self/mountinfo || true",
        v = vol.display(),
        bin = crate::common::runtime_bin().display(),
        root = c.root().display(),
        bd = c.bundle.path().display(),
        id = c.id,
    );
    std::fs::create_dir_all(&vol).expect("vol");
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "shared", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mounted") && stdout.contains("seen-outside"),
        "{out:?}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("0"),
        "container mounts leaked: {out:?}"
    );
    c.assert_no_leftovers();
}
