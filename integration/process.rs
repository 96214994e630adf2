//! The process's attributes, as the container sees them in /proc/1 and through its tools:
//! user and groups, umask, rlimits, oom_score_adj, sysctl, I/O priority, scheduler,
//! personality.

use crate::bundle::Bundle;
use crate::common::Container;
use serde_json::json;

/// Runs `script` as the container's process with config changes; returns what it printed.
fn observe(bundle: Bundle, script: &str) -> String {
    let c = Container::new(bundle.args(&["sh", "-c", script]));
    let out = c.run(&[]);
    out.assert_ok();
    c.assert_no_leftovers();
    out.stdout
}

#[test]
fn user_groups_and_umask() {
    need_root!();
    let b = Bundle::new().set(
        "/process/user",
        json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 65534], "umask": 63}),
    );
    let out = observe(b, "id -u; id -g; id -G; umask");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["1001", "5", "65534"], "{out}");
    assert_eq!(lines[3], "0077", "{out}");
}

#[test]
fn rlimits_are_applied() {
    need_root!();
    let b = Bundle::new().set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
            {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88}
        ]),
    );
    let out = observe(b, "grep -E 'open files|processes' /proc/1/limits");
    assert!(
        out.contains("Max open files            321                  654"),
        "{out}"
    );
    assert!(
        out.contains("Max processes             77                   88"),
        "{out}"
    );
}

#[test]
fn oom_score_adj_is_set() {
    need_root!();
    let out = observe(
        Bundle::new().set("/process/oomScoreAdj", json!(345)),
        "cat /proc/1/oom_score_adj",
    );
    assert_eq!(out.trim(), "345");
}

#[test]
fn namespaced_sysctls_are_set() {
    need_root!();
    let b = Bundle::new().set(
        "/linux/sysctl",
        json!({"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}),
    );
    let out = observe(
        b,
        "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["1234", "1"]);
    // The host's values are untouched.
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmni").expect("host shmmni");
    assert_ne!(host.trim(), "1234");
}

/// berth-specific: a sysctl no namespace of the container scopes would change the host.
#[test]
fn host_wide_sysctls_are_refused() {
    need_berth!();
    for (key, namespaces) in [
        (
            "vm.swappiness",
            json!([{"type": "pid"}, {"type": "mount"}, {"type": "network"}]),
        ),
        (
            "net.ipv4.ip_forward",
            json!([{"type": "pid"}, {"type": "mount"}]),
        ),
    ] {
        let before = std::fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness");
        let b = Bundle::new()
            .set("/linux/namespaces", namespaces)
            .set("/hostname", json!(null))
            .set("/linux/sysctl", json!({key: "1"}));
        let mut c = Container::new(b);
        let out = c.create(&[]);
        out.assert_failed();
        assert!(
            out.stderr.contains(&format!("linux.sysctl.{key}")),
            "{}",
            out.stderr
        );
        c.assert_no_leftovers();
        let after = std::fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness");
        assert_eq!(before, after);
    }
}

#[test]
fn io_priority_is_set() {
    need_root!();
    let b = Bundle::new().set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let out = observe(b, "ionice -p 1");
    assert!(
        out.contains("best-effort") && out.contains("prio 6"),
        "{out}"
    );
}

#[test]
fn scheduler_policy_and_nice() {
    need_root!();
    let b = Bundle::new().set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 7}),
    );
    // /proc/1/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    let out = observe(b, "cut -d' ' -f19,41 /proc/1/stat");
    assert_eq!(out.trim(), "7 3", "{out}");
}

#[test]
fn personality_linux32() {
    need_root!();
    let b = Bundle::new().set("/linux/personality", json!({"domain": "LINUX32"}));
    let out = observe(b, "cat /proc/1/personality; uname -m");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "00000008", "{out}");
    assert_eq!(lines[1], "i686", "{out}");
}

/// A capability the runtime itself does not hold (a restricted environment: here berth runs
/// with CAP_SYS_TIME out of its bounding set) is left out with a warning instead of failing the
/// create, so a privileged config still runs (conformance suite: process_capabilities).
/// runc 1.1.5 fails with EPERM.
#[test]
fn capabilities_the_runtime_lacks_are_skipped() {
    need_berth!();
    let caps = json!(["CAP_KILL", "CAP_SYS_TIME"]);
    let b = Bundle::new()
        .set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/effective", caps.clone())
        .set("/process/capabilities/permitted", caps)
        .args(&["grep", "^Cap[EPB]", "/proc/self/status"]);
    let c = Container::new(b);
    let bundle = c.bundle.path().display().to_string();
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-sys_time"])
        .arg(&c.bin)
        .arg("--root")
        .arg(c.root())
        .args(["run", "--bundle", &bundle, &c.id])
        .output()
        .expect("run setpriv");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // CAP_KILL is bit 5.
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            stdout.contains(&format!("{set}:\t0000000000000020\n")),
            "{set}: {stdout}"
        );
    }
    assert!(stderr.contains("CAP_SYS_TIME"), "no warning: {stderr}");
    c.assert_no_leftovers();
}

/// process.args, env and cwd reach the process exactly (conformance suite: process): the
/// environment is the config's (plus HOME, as runc adds it), arguments keep their spaces and
/// empty ones.
#[test]
fn args_env_and_cwd_are_as_configured() {
    need_root!();
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let b = Bundle::new()
        .set("/process/cwd", json!("/test"))
        .set("/process/env", json!([path, "testa=valuea", "testb=123"]))
        .args(&[
            "sh",
            "-c",
            "pwd; tr '\\0' '\\n' </proc/1/environ | sort; printf '[%s]' \"$0\" \"$@\"",
            "zero",
            "a b",
            "",
        ]);
    std::fs::create_dir(b.rootfs().join("test")).expect("mkdir /test");
    let c = Container::new(b);
    let out = c.run(&[]);
    out.assert_ok();
    let want = format!("/test\nHOME=/root\n{path}\ntesta=valuea\ntestb=123\n[zero][a b][]");
    assert_eq!(out.stdout, want, "{out}");
    c.assert_no_leftovers();
}

/// A process running as another user can reopen its stdio when that is a pipe (what shims and
/// conmon pass), as under runc: the init's and an exec'd process's. A regular file given as
/// stdio keeps its owner (berth-specific: runc hands it to the container's user).
#[test]
fn a_non_root_process_can_reopen_its_stdio_pipe() {
    need_root!();
    use std::io::Read;
    use std::process::Stdio;
    // Prints either way, so that a failure shows (and the read below never waits forever).
    let reopen =
        "{ echo reopened >/proc/self/fd/1 || echo not-reopened; } 2>/dev/null; echo ok-$(id -u)";
    let b = Bundle::new()
        .set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .args(&[
            "sh",
            "-c",
            &format!("{reopen}; echo ready >/dev/stderr; exec sleep 1000"),
        ]);
    let c = Container::new(b);
    // The init: stdout a pipe, read once the process has written.
    let bundle = c.bundle.path().display().to_string();
    let args = [
        "run",
        "--detach",
        "--bundle",
        bundle.as_str(),
        c.id.as_str(),
    ];
    let mut cmd = c.command(&args, c.append("ctr.out"), c.append("ctr.err"));
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn run");
    let mut pipe = child.stdout.take().expect("stdout pipe");
    assert!(
        child.wait().expect("wait run").success(),
        "run --detach failed"
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    while !seen.ends_with(b"ok-1000\n") {
        let n = pipe.read(&mut buf).expect("read the init's stdout");
        assert!(
            n > 0,
            "the init's stdout closed: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let first = String::from_utf8_lossy(&seen).to_string();
    assert_eq!(
        first, "reopened\nok-1000\n",
        "the init could not reopen its stdout"
    );
    drop(pipe);
    // An exec'd process as another user, stdout a pipe.
    let id = c.id.clone();
    let mut cmd = c.command(
        &["exec", "--user", "1001:1001", &id, "sh", "-c", reopen],
        c.append("exec.out"),
        c.append("exec.err"),
    );
    cmd.stdout(Stdio::piped());
    let out = cmd.output().expect("exec");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text == "reopened\nok-1001\n",
        "exec: {:?} {text:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}
