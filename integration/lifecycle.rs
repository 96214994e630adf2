//! create / start / state / kill / delete / run, and the CLI's spec and features.

use crate::common::{Bundle, Container, CMD_TIMEOUT};
use crate::host::{self, HostDir};
use serde_json::Value;
use std::fs;

/// A container that says it is up, then waits to be killed.
fn long_running() -> Bundle {
    Bundle::new().args(&["sh", "-c", "echo ready; exec sleep 1000"])
}

#[test]
fn init_is_pid_1_and_sees_only_itself() {
    need_root!();
    // The glob is expanded by the shell itself: no other process exists while it runs.
    let c =
        Container::new(Bundle::new().args(&["sh", "-c", "echo pid=$$; echo procs /proc/[0-9]*"]));
    let out = c.run(&[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["pid=1", "procs /proc/1"], "{out}");
    c.assert_no_leftovers();
}

#[test]
fn state_moves_from_created_to_running_to_stopped() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", "echo started; exec sleep 1000"]));
    c.create(&[]).assert_ok();

    let state = c.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], c.id.as_str());
    assert_eq!(
        state["pid"],
        c.pid_file_proc().pid,
        "state.pid vs the pid file: {state}"
    );
    assert_eq!(state["bundle"], c.bundle.path().display().to_string());
    assert!(state["ociVersion"].is_string(), "{state}");
    // Created, not started: the user process has not run yet.
    assert_eq!(c.output(), "");

    let list = c.rt(&["list", "--format", "json"]);
    list.assert_ok();
    let list: Value = serde_json::from_str(&list.stdout).expect("list --format json");
    let listed = list.as_array().expect("list is an array");
    assert!(
        listed
            .iter()
            .any(|e| e["id"] == c.id.as_str() && e["status"] == "created"),
        "{list}"
    );

    c.start().assert_ok();
    c.wait_output("started");
    assert_eq!(c.status(), "running");

    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn kill_sends_term_by_default() {
    need_root!();
    // PID 1 only gets signals it has a handler for; the trap is one.
    let script = "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", script]));
    c.create_and_start();
    c.wait_output("ready");
    c.kill(None).assert_ok();
    c.wait_status("stopped");
    assert!(c.output().contains("got TERM"), "output: {:?}", c.output());
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn kill_accepts_signal_names_and_numbers() {
    need_root!();
    for sig in ["USR1", "SIGUSR1", "10"] {
        let script = "trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.05; done";
        let mut c = Container::new(Bundle::new().args(&["sh", "-c", script]));
        c.create_and_start();
        c.wait_output("ready");
        c.kill(Some(sig)).assert_ok();
        c.wait_output("got USR1");
        assert_eq!(c.status(), "running", "a handled {sig} must not stop it");
        c.delete(true).assert_ok();
        c.assert_no_leftovers();
    }
    for sig in ["KILL", "SIGKILL", "9"] {
        let mut c = Container::new(long_running());
        c.create_and_start();
        c.wait_output("ready");
        c.kill(Some(sig)).assert_ok();
        c.wait_status("stopped");
        c.delete(false).assert_ok();
        c.assert_no_leftovers();
    }
}

#[test]
fn delete_refuses_a_running_container_without_force() {
    need_root!();
    let mut c = Container::new(long_running());
    c.create_and_start();
    c.wait_output("ready");
    let pid = c.pid_file_proc();

    c.delete(false).assert_failed();
    assert_eq!(c.status(), "running");
    assert!(pid.alive(), "a refused delete killed the container");

    c.delete(true).assert_ok();
    assert!(!c.root().join(&c.id).exists());
    c.assert_no_leftovers();
}

/// The runtime-spec: deleting a container that is not stopped fails and has no effect, created
/// ones included (conformance suite: delete). runc 1.1.5 kills a created container instead.
#[test]
fn delete_refuses_a_created_container_without_force() {
    need_berth!();
    let mut c = Container::new(long_running());
    c.create(&[]).assert_ok();
    let pid = c.pid_file_proc();
    let out = c.delete(false);
    out.assert_failed();
    assert!(out.stderr.contains("created"), "{out}");
    assert_eq!(c.status(), "created");
    assert!(pid.alive(), "a refused delete killed the init");
    // Still a container that starts.
    c.start().assert_ok();
    c.wait_output("ready");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn delete_force_of_a_created_container_kills_it() {
    need_root!();
    let mut c = Container::new(long_running());
    c.create(&[]).assert_ok();
    let pid = c.pid_file_proc();
    assert!(pid.alive());
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
    assert_eq!(
        c.output(),
        "",
        "the process of a deleted created container ran"
    );
}

#[test]
fn start_twice_fails() {
    need_root!();
    let mut c = Container::new(long_running());
    c.create_and_start();
    c.wait_output("ready");
    c.start().assert_failed();
    assert_eq!(c.status(), "running");
    assert_eq!(
        c.output().matches("ready").count(),
        1,
        "the process ran twice"
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn run_returns_the_exit_status() {
    need_root!();
    let c = Container::new(Bundle::new().args(&["sh", "-c", "echo bye; exit 3"]));
    let out = c.run(&[]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout, "bye\n");
    c.assert_no_leftovers();
}

#[test]
fn run_of_a_killed_container_exits_128_plus_signal() {
    need_root!();
    let c = Container::new(long_running());
    let mut run = c.spawn_run();
    c.wait_output("ready");
    c.wait_status("running");
    c.kill(Some("KILL")).assert_ok();
    let status = host::wait_child(&mut run, CMD_TIMEOUT, "run");
    assert_eq!(status.code(), Some(137), "run exited with {status}");
    c.assert_no_leftovers();
}

#[test]
fn run_detach_leaves_it_running() {
    need_root!();
    let c = Container::new(long_running());
    // The container inherits run's stdout: a file, so nothing waits for EOF.
    c.run_detach().assert_ok();
    c.wait_output("ready");
    assert_eq!(c.status(), "running");
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

#[test]
fn spec_writes_a_usable_config() {
    need_root!();
    let c = Container::new(Bundle::new());
    let dir = HostDir::new();
    c.rt(&["spec", "--bundle", &dir.path().display().to_string()])
        .assert_ok();
    let text = fs::read_to_string(dir.path().join("config.json")).expect("spec wrote config.json");
    let spec: Value = serde_json::from_str(&text).expect("spec output is JSON");
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]), "{spec}");
    assert_eq!(spec["root"]["path"], "rootfs");
    let ns_types = |v: &Value| -> Vec<String> {
        let list = v["linux"]["namespaces"].as_array().expect("namespaces");
        list.iter()
            .map(|n| n["type"].as_str().unwrap_or("").to_string())
            .collect()
    };
    for ns in ["pid", "mount"] {
        assert!(
            ns_types(&spec).iter().any(|t| t == ns),
            "no {ns} namespace: {spec}"
        );
    }

    let rootless = HostDir::new();
    c.rt(&[
        "spec",
        "--rootless",
        "--bundle",
        &rootless.path().display().to_string(),
    ])
    .assert_ok();
    let text = fs::read_to_string(rootless.path().join("config.json")).expect("config.json");
    let spec: Value = serde_json::from_str(&text).expect("spec --rootless output is JSON");
    assert!(
        ns_types(&spec).iter().any(|t| t == "user"),
        "no user namespace: {spec}"
    );
    assert!(
        spec["linux"]["uidMappings"].is_array(),
        "no uidMappings: {spec}"
    );
}

#[test]
fn features_prints_json() {
    need_root!();
    let c = Container::new(Bundle::new());
    let out = c.rt(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert!(
        f["ociVersionMin"].is_string() && f["ociVersionMax"].is_string(),
        "{f}"
    );
    let opts = f["mountOptions"].as_array().expect("mountOptions");
    assert!(opts.iter().any(|o| o == "bind"), "{f}");
    let ns = f["linux"]["namespaces"]
        .as_array()
        .expect("linux.namespaces");
    for want in ["pid", "network", "mount", "uts", "ipc"] {
        assert!(ns.iter().any(|n| n == want), "no {want} in {f}");
    }
}

/// Changing config.json after create does not affect the container (conformance suite:
/// config_updates_without_affect): start runs the process it was created with, and state and
/// delete still work with a bundle config that is now useless.
#[test]
fn config_changes_after_create_do_not_affect_the_container() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["echo", "as-created"]));
    c.create(&[]).assert_ok();
    fs::write(
        c.bundle.path().join("config.json"),
        r#"{"ociVersion": "1.0.0", "process": {"args": ["echo", "changed"], "cwd": "/"}}"#,
    )
    .expect("rewrite config.json");
    c.start().assert_ok();
    c.wait_status("stopped");
    assert_eq!(c.output(), "as-created\n");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// state, start, kill and delete fail without an id, and with an id nobody created
/// (conformance suite: state, start, kill, delete).
#[test]
fn commands_need_an_existing_container() {
    need_root!();
    let c = Container::new(Bundle::new());
    for args in [
        vec!["state"],
        vec!["start"],
        vec!["kill"],
        vec!["delete"],
        vec!["state", "no-such-container"],
        vec!["start", "no-such-container"],
        vec!["kill", "no-such-container", "KILL"],
        vec!["delete", "no-such-container"],
    ] {
        c.rt(&args).assert_failed();
    }
    c.assert_no_leftovers();
}

/// delete removes the cgroup it created and no more (conformance suite:
/// delete_only_create_resources): a parent that existed before create stays.
#[test]
fn delete_keeps_cgroups_it_did_not_create() {
    need_root!();
    let mut c = Container::new(long_running());
    let parent = std::path::Path::new(&c.bundle.cgroup_path)
        .parent()
        .expect("cgroup parent")
        .to_path_buf();
    let rel = parent.strip_prefix("/").expect("absolute cgroup path");
    let made: Vec<_> = host::cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join(rel))
        .collect();
    for dir in &made {
        fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    c.create_and_start();
    c.wait_output("ready");
    c.delete(true).assert_ok();
    for dir in &made {
        assert!(
            dir.is_dir(),
            "delete removed {}, which it did not create",
            dir.display()
        );
    }
    c.assert_no_leftovers();
}
