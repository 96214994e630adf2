//! pause / resume, ps and events on running containers.

use super::{read_cg, sleeper, v2, wait_for, wait_out};
use crate::common::{Bundle, Container};
use crate::host;
use std::time::Duration;

/// `pause` stops a counting process (its output stops growing; `state` says paused; the
/// freezer says frozen) and `resume` lets it go on.
#[test]
fn pause_stops_and_resume_continues() {
    need_root!();
    let script = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done";
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", script]));
    c.create_and_start();
    wait_out(&c, "tick 3");
    c.rt(&["pause", &c.id]).assert_ok();
    assert_eq!(c.status(), "paused");
    let frozen = if v2() {
        read_cg(&c.bundle, "", "cgroup.freeze")
    } else {
        read_cg(&c.bundle, "freezer", "freezer.state")
    };
    assert!(frozen == "1" || frozen == "FROZEN", "{frozen}");
    let ticks = || c.output().lines().count();
    // Output in flight when the freezer hit may still land: settle, then watch.
    std::thread::sleep(Duration::from_millis(300));
    let before = ticks();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ticks(), before, "output grew while paused: {}", c.output());
    // A paused container is not resumed twice, nor paused twice.
    c.rt(&["pause", &c.id]).assert_failed();
    c.rt(&["resume", &c.id]).assert_ok();
    assert_eq!(c.status(), "running");
    c.rt(&["resume", &c.id]).assert_failed();
    wait_for("ticks after resume", || {
        (ticks() > before + 2).then_some(())
    });
    // delete --force works on a paused container too.
    c.rt(&["pause", &c.id]).assert_ok();
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// A created container can be paused; `start` then refuses it (its frozen init could not
/// answer) and leaves it created, and starts it once resumed.
#[test]
fn a_paused_created_container_is_not_started() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["echo", "started"]));
    c.create(&[]).assert_ok();
    c.rt(&["pause", &c.id]).assert_ok();
    assert_eq!(c.status(), "paused");
    let out = c.start();
    out.assert_failed();
    assert!(out.stderr.contains("paused"), "{out}");
    c.rt(&["resume", &c.id]).assert_ok();
    assert_eq!(c.status(), "created");
    c.start().assert_ok();
    c.wait_output("started");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// `ps` lists the container's processes: `--format json` their host pids, the table the host
/// ps lines of exactly those (with ps arguments passed through).
#[test]
fn ps_lists_the_container_processes() {
    need_root!();
    let b = Bundle::new().args(&["sh", "-c", "sleep 1001 & sleep 1002 & echo ready; wait"]);
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "ready");
    let mut want: Vec<u64> = host::procs_in_cgroup(&c.bundle.cgroup_path)
        .iter()
        .map(|p| u64::from(p.pid))
        .collect();
    want.sort_unstable();
    assert_eq!(want.len(), 3, "{want:?}");

    let out = c.rt(&["ps", "--format", "json", &c.id]);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("ps json");
    let mut got: Vec<u64> = v
        .as_array()
        .expect("array of pids")
        .iter()
        .filter_map(|p| p.as_u64())
        .collect();
    got.sort_unstable();
    assert_eq!(got, want, "{out}");

    let out = c.rt(&["ps", &c.id]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("PID"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        out.stdout.contains("sleep 1001") && out.stdout.contains("sleep 1002"),
        "{out}"
    );

    let out = c.rt(&["ps", &c.id, "-o", "pid,comm"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"],
        "{out}"
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// `events --stats` prints one stats line in runc's shape with the container's numbers.
#[test]
fn events_stats_reports_the_cgroup() {
    need_root!();
    let b = sleeper()
        .set("/linux/resources/pids", serde_json::json!({"limit": 64}))
        .set(
            "/linux/resources/memory",
            serde_json::json!({"limit": 268435456}),
        );
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "ready");
    let out = c.rt(&["events", "--stats", &c.id]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("events JSON");
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], c.id.as_str(), "{v}");
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 1, "{v}");
    assert_eq!(d["pids"]["limit"], 64, "{v}");
    assert_eq!(d["memory"]["usage"]["limit"], 268435456, "{v}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{v}");
    for key in ["cpuset", "blkio", "hugetlb", "intel_rdt"] {
        assert!(d.get(key).is_some(), "{key} missing: {v}");
    }
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}
