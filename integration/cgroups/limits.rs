//! Limits from config.json and from `update`, read back from the host's cgroup files and seen
//! to hold inside the container.

use super::{read_cg, scaled, sleeper, v2, wait_for, wait_out, with_caps};
use crate::common::{berth_specific_enabled, runtime_is_berth, Bundle, Container, STATE_TIMEOUT};
use serde_json::json;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// A memory limit holds: a process allocating past it is OOM-killed, the cgroup counts the
/// kill, and `events` reports it as `{"type":"oom"}`.
#[test]
fn oom_kill_is_reported_by_events() {
    need_root!();
    let limit = 32 << 20;
    // dd reads 128 MiB into one buffer: a single process whose pages the kernel charges while
    // it is inside read(2), so nothing of its own refaults meanwhile. (`head | tail` took up to
    // a minute now and then: each process refaulted busybox's pages the other's charge had
    // reclaimed, and a charge that reclaims anything retries without counting down to the OOM.)
    let script = "dd if=/dev/zero of=/dev/null bs=134217728 count=1 2>/dev/null; \
                  echo dd-status=$?; exec sleep 1000";
    let b = Bundle::new()
        .set(
            "/linux/resources/memory",
            json!({"limit": limit, "swap": limit}),
        )
        .args(&["sh", "-c", script]);
    let mut c = Container::new(b);
    c.create(&[]).assert_ok();
    let limit_file = if v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read_cg(&c.bundle, "memory", limit_file), limit.to_string());

    // events watches before the container allocates: its first stats line says it is up.
    let args = ["events", "--interval", "1s", c.id.as_str()];
    let mut events = c
        .command(&args, c.append("events.out"), c.append("events.err"))
        .spawn()
        .expect("spawn events");
    let events_out = || std::fs::read_to_string(c.root().join("../events.out")).unwrap_or_default();
    wait_for("a stats line from events", || {
        events_out().contains("\"stats\"").then_some(())
    });
    c.start().assert_ok();
    // Near its limit the cgroup reclaims (and refaults busybox's own pages) before the kernel
    // gives up and kills: on a loaded host that has taken over 10 s.
    let out = crate::host::wait_until(
        scaled(STATE_TIMEOUT * 6),
        &format!("the OOM kill in {}", c.id),
        || {
            let out = c.output();
            out.contains("dd-status=").then_some(out)
        },
    );
    assert!(out.contains("dd-status=137"), "{out}");
    let oom = wait_for("an oom event", || {
        events_out()
            .lines()
            .find(|l| l.contains("\"oom\""))
            .map(String::from)
    });
    let _ = events.kill();
    let _ = events.wait();
    let v: serde_json::Value = serde_json::from_str(&oom).expect("oom line is JSON");
    assert_eq!(v["type"], "oom", "{oom}");
    assert_eq!(v["id"], c.id.as_str(), "{oom}");
    // The kernel's own count of the kill.
    let (file, key) = if v2() {
        ("memory.events", "oom_kill ")
    } else {
        ("memory.oom_control", "oom_kill ")
    };
    let counts = read_cg(&c.bundle, "memory", file);
    let kills: u64 = counts
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "{file}: {counts}");
    // The stats lines carry runc's shape.
    let stats: serde_json::Value = events_out()
        .lines()
        .find(|l| l.contains("\"stats\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a stats line");
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], limit, "{stats}");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// pids.limit stops a fork loop: forks past the limit fail inside ("Resource temporarily
/// unavailable"), and the cgroup never holds more than the limit.
#[test]
fn pids_limit_stops_a_fork_loop() {
    need_root!();
    // The loop runs in a shell of its own: ash gives up on a failed fork by exiting. Bounded,
    // in case the limit does not hold. The count is a glob: no fork needed.
    let script =
        "sh -c 'i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done' 2>/dev/shm/err; \
                  echo loop-status=$?; read e < /dev/shm/err; echo \"error=$e\"; \
                  set -- /proc/[0-9]*; echo procs=$#; exec sleep 1000";
    let b = Bundle::new()
        .set("/linux/resources/pids", json!({"limit": 10}))
        .args(&["sh", "-c", script]);
    let mut c = Container::new(b);
    c.create_and_start();
    let out = wait_out(&c, "procs=");
    assert_eq!(read_cg(&c.bundle, "pids", "pids.max"), "10");
    let current: u32 = read_cg(&c.bundle, "pids", "pids.current")
        .parse()
        .expect("pids.current");
    assert!(current <= 10, "pids.current {current}");
    assert!(!out.contains("loop-status=0"), "{out}");
    assert!(out.contains("Resource temporarily unavailable"), "{out}");
    // The init and the sleeps that fitted beside the loop's shell: never the 101 asked for.
    let procs: u32 = out
        .trim()
        .rsplit("procs=")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(999);
    assert!((2..=10).contains(&procs), "{out}");
    assert!(host_pids(&c) <= 10);
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

fn host_pids(c: &Container) -> usize {
    crate::host::procs_in_cgroup(&c.bundle.cgroup_path).len()
}

/// CPU values land converted: cfs quota/period and shares on v1; cpu.max and cpu.weight on v2
/// (berth: the current runc/crun quadratic shares→weight map, 512 → 59; runc 1.1 gives 20).
/// The container reads the same values through its own /sys/fs/cgroup (berth: runc 1.1 shows
/// the host's root cgroup there on v2 without a cgroup namespace).
#[test]
fn cpu_values_are_converted() {
    need_root!();
    let script = "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight \
                  /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
                  /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset.cpus \
                  /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null; exec sleep 1000";
    let b = Bundle::new()
        .set(
            "/linux/resources/cpu",
            json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}),
        )
        .args(&["sh", "-c", script]);
    let mut c = Container::new(b);
    c.create_and_start();
    let host: Vec<String> = if v2() {
        ["cpu.max", "cpu.weight", "cpuset.cpus"]
            .iter()
            .map(|f| read_cg(&c.bundle, "", f))
            .collect()
    } else {
        [
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
            ("cpu", "cpu.shares"),
            ("cpuset", "cpuset.cpus"),
        ]
        .iter()
        .map(|(ctl, f)| read_cg(&c.bundle, ctl, f))
        .collect()
    };
    if v2() {
        assert_eq!(host[0], "50000 100000");
        if runtime_is_berth() {
            assert_eq!(host[1], "59");
        } else {
            assert!(["59", "20"].contains(&host[1].as_str()), "{host:?}");
        }
        assert_eq!(host[2], "0");
    } else {
        assert_eq!(host, ["50000", "100000", "512", "0"]);
    }
    if berth_specific_enabled() || !v2() {
        let inside = wait_for("the container's view", || {
            let out = c.output();
            (out.lines().count() == host.len()).then_some(out)
        });
        assert_eq!(inside.lines().collect::<Vec<_>>(), host, "{inside}");
    }
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// Memory, pids and (v2) hugetlb and `unified` land in their files: v1's memory+swap as is,
/// v2's swap as swap alone (memory+swap minus memory), -1 as max, unified last.
#[test]
fn memory_pids_hugetlb_and_unified_land() {
    need_root!();
    let mut b = sleeper()
        .set(
            "/linux/resources/memory",
            json!({"limit": 100663296, "reservation": 50331648, "swap": 134217728}),
        )
        .set("/linux/resources/pids", json!({"limit": -1}));
    if v2() {
        // Only where hugetlb is a v2 controller the tests may delegate (not this hybrid host's
        // v2 root).
        b = b
            .set(
                "/linux/resources/hugepageLimits",
                json!([{"pageSize": "2MB", "limit": 4194304}]),
            )
            .set(
                "/linux/resources/unified",
                json!({"memory.high": "90000000"}),
            );
    } else {
        b = b.set("/linux/resources/memory/swappiness", json!(10));
    }
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "ready");
    let files: &[(&str, &str, &str)] = if v2() {
        &[
            ("memory", "memory.max", "100663296"),
            ("memory", "memory.low", "50331648"),
            ("memory", "memory.swap.max", "33554432"),
            // Rounded down to whole pages by the kernel.
            ("memory", "memory.high", "89997312"),
            ("pids", "pids.max", "max"),
            ("hugetlb", "hugetlb.2MB.max", "4194304"),
        ]
    } else {
        &[
            ("memory", "memory.limit_in_bytes", "100663296"),
            ("memory", "memory.soft_limit_in_bytes", "50331648"),
            ("memory", "memory.memsw.limit_in_bytes", "134217728"),
            ("memory", "memory.swappiness", "10"),
            ("pids", "pids.max", "max"),
        ]
    };
    for (ctl, file, want) in files {
        assert_eq!(read_cg(&c.bundle, ctl, file), *want, "{file}");
    }
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// Device rules deny open and mknod. In allow-list mode (deny-all first, as docker and
/// `runc spec` write it) runc's defaults let mknod through for every device, and the rules
/// decide open; in deny-list mode (allow-all first) a deny rule stops mknod too. Enforced by
/// the v1 devices controller, or berth's eBPF program on cgroup v2.
#[test]
fn device_rules_deny_open_and_mknod() {
    need_root!();
    let script = "mknod /dev/m1 c 1 1 2>&1 && echo mknod-mem=ok; \
                  mknod /dev/k1 c 1 11 && echo mknod-kmsg=ok; \
                  { true > /dev/k1; } 2>&1 && echo open-kmsg=ok; \
                  mknod /dev/z1 c 1 5 && head -c1 /dev/z1 | wc -c | sed s/^/read-zero=/; \
                  true > /dev/null && echo open-null=ok; true";
    for (rules, want) in [
        (
            json!([{"allow": false, "access": "rwm"}]),
            [
                "mknod-mem=ok",
                "mknod-kmsg=ok",
                "read-zero=1",
                "open-null=ok",
            ],
        ),
        (
            json!([
                {"allow": true, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 1, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rw"}
            ]),
            ["", "mknod-kmsg=ok", "read-zero=1", "open-null=ok"],
        ),
    ] {
        let b = with_caps(Bundle::new(), &["CAP_MKNOD"])
            .set("/linux/resources/devices", rules.clone())
            .args(&["sh", "-c", script]);
        let c = Container::new(b);
        let out = c.run(&[]);
        out.assert_ok();
        for w in want.iter().filter(|w| !w.is_empty()) {
            assert!(out.stdout.contains(w), "{rules}: {w} missing: {out}");
        }
        // kmsg (1:11) is never opened; in deny-list mode mem (1:1) is not even created.
        assert!(!out.stdout.contains("open-kmsg=ok"), "{rules}: {out}");
        assert!(
            out.stdout.contains("Operation not permitted"),
            "{rules}: {out}"
        );
        if want[0].is_empty() {
            assert!(!out.stdout.contains("mknod-mem=ok"), "{rules}: {out}");
        }
        c.assert_no_leftovers();
    }
}

/// Runs `RUNTIME update ARGS... ID` with `stdin` on its standard input.
fn update(c: &Container, args: &[&str], stdin: Option<&str>) -> crate::common::Out {
    let mut all = vec!["update"];
    all.extend_from_slice(args);
    all.push(&c.id);
    if stdin.is_none() {
        return c.rt(&all);
    }
    let mut cmd = c.command(&all, c.append("update.out"), c.append("update.err"));
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn update");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    let status = crate::host::wait_child(&mut child, scaled(Duration::from_secs(60)), "update");
    let read = |f: &str| std::fs::read_to_string(c.root().join("..").join(f)).unwrap_or_default();
    crate::common::Out {
        cmd: format!("update {args:?} (stdin)"),
        status,
        stdout: read("update.out"),
        stderr: read("update.err"),
    }
}

/// `update` changes live limits: with runc's flags, with LinuxResources JSON on stdin
/// (`--resources -`, as dockerd sends it) and from a file (`--resources=FILE`).
#[test]
fn update_changes_live_limits() {
    need_root!();
    let b = sleeper().set(
        "/linux/resources",
        json!({"memory": {"limit": 134217728, "swap": 134217728}, "pids": {"limit": 100},
               "cpu": {"quota": 50000, "period": 100000},
               "devices": [{"allow": false, "access": "rwm"}]}),
    );
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "ready");
    let (mem, swap) = if v2() {
        ("memory.max", "memory.swap.max")
    } else {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    };
    let quota = || {
        if v2() {
            read_cg(&c.bundle, "cpu", "cpu.max")
        } else {
            read_cg(&c.bundle, "cpu", "cpu.cfs_quota_us")
        }
    };

    update(
        &c,
        &[
            "--memory",
            "64m",
            "--memory-swap",
            "96m",
            "--pids-limit",
            "50",
            "--cpu-quota",
            "20000",
        ],
        None,
    )
    .assert_ok();
    assert_eq!(read_cg(&c.bundle, "memory", mem), (64u64 << 20).to_string());
    let want_swap = if v2() { 32u64 << 20 } else { 96 << 20 };
    assert_eq!(read_cg(&c.bundle, "memory", swap), want_swap.to_string());
    assert_eq!(read_cg(&c.bundle, "pids", "pids.max"), "50");
    // The period stays as configured when only the quota changes.
    let q = quota();
    assert!(q == "20000" || q == "20000 100000", "{q}");

    let json = r#"{"memory": {"limit": 50331648, "swap": 50331648}, "pids": {"limit": 40}}"#;
    update(&c, &["--resources", "-"], Some(json)).assert_ok();
    assert_eq!(read_cg(&c.bundle, "memory", mem), "50331648");
    assert_eq!(read_cg(&c.bundle, "pids", "pids.max"), "40");

    let file = c.bundle.path().join("resources.json");
    std::fs::write(&file, r#"{"pids": {"limit": 30}}"#).expect("write resources.json");
    update(&c, &[&format!("--resources={}", file.display())], None).assert_ok();
    assert_eq!(read_cg(&c.bundle, "pids", "pids.max"), "30");
    // Unchanged by the later updates.
    assert_eq!(read_cg(&c.bundle, "memory", mem), "50331648");
    assert_eq!(c.status(), "running");

    // A limit below what the container uses fails by name and changes nothing (v1 refuses
    // it; on v2 only memory.checkBeforeUpdate makes it an error, which runc 1.1 ignores).
    if !v2() || berth_specific_enabled() {
        let low = r#"{"memory": {"limit": 4096, "swap": 4096, "checkBeforeUpdate": true}}"#;
        let out = update(&c, &["-r", "-"], Some(low));
        out.assert_failed();
        if berth_specific_enabled() {
            assert!(out.stderr.contains("linux.resources.memory.limit"), "{out}");
            assert_eq!(out.stderr.lines().count(), 1, "{out}");
        }
        assert_eq!(read_cg(&c.bundle, "memory", mem), "50331648");
    }
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// berth-specific (runc cannot update devices): `update --resources` with new device rules
/// replaces them on the live container: the v1 rules by difference, the v2 eBPF program
/// atomically.
#[test]
fn update_replaces_device_rules() {
    need_berth!();
    let script = "mknod /dev/k1 c 1 11; while :; do \
                  if { true > /dev/k1; } 2>/dev/null; then echo open-ok; else echo open-denied; fi; \
                  sleep 0.2; done";
    let b = with_caps(Bundle::new(), &["CAP_MKNOD"]).args(&["sh", "-c", script]);
    let mut c = Container::new(b);
    c.create_and_start();
    wait_out(&c, "open-denied");
    let lines = |c: &Container| c.output().lines().count();
    let allow =
        r#"{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}]}"#;
    update(&c, &["-r", "-"], Some(allow)).assert_ok();
    let from = lines(&c);
    wait_for("open-ok after the update", || {
        c.output()
            .lines()
            .skip(from)
            .any(|l| l == "open-ok")
            .then_some(())
    });
    let deny = r#"{"devices": [{"allow": false, "access": "rwm"}]}"#;
    update(&c, &["-r", "-"], Some(deny)).assert_ok();
    let from = lines(&c) + 1;
    wait_for("open-denied after the second update", || {
        c.output()
            .lines()
            .skip(from)
            .any(|l| l == "open-denied")
            .then_some(())
    });
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}
