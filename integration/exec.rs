//! `exec`: a second process in a running (or created) container: its namespaces, cgroup,
//! identity and exit status; detached with a pid file; fds passed with --preserve-fds; the
//! refusals (stopped, unknown, paused, bad --process) that leave nothing behind.

use crate::common::{Bundle, Container, Out, CMD_TIMEOUT};
use crate::host;
use serde_json::json;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// A started container whose init waits to be killed.
fn running(bundle: Bundle) -> Container {
    let mut c = Container::new(bundle.args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    c.create_and_start();
    c.wait_output("ready");
    c
}

/// `exec [FLAGS...] ID ARGS...`, run to completion.
fn exec(c: &Container, flags: &[&str], args: &[&str]) -> Out {
    let mut a = vec!["exec"];
    a.extend_from_slice(flags);
    a.push(&c.id);
    a.extend_from_slice(args);
    c.rt(&a)
}

/// The container is gone and nothing of it is left.
fn finish(c: Container) {
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

fn pid_file(dir: &tempfile::TempDir) -> (PathBuf, String) {
    let p = dir.path().join("exec.pid");
    let s = p.display().to_string();
    (p, s)
}

#[test]
fn exec_sees_the_containers_pid_1_hostname_and_namespaces() {
    need_root!();
    let c = running(Bundle::new().set("/hostname", json!("exec-box")));
    let script = "echo pid=$$; tr '\\0' ' ' </proc/1/cmdline; echo; hostname; \
                  for k in pid net ipc uts mnt; do \
                  [ $(readlink /proc/1/ns/$k) = $(readlink /proc/self/ns/$k) ] && echo same-$k; done";
    let out = exec(&c, &[], &["sh", "-c", script]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("pid=") && lines[0] != "pid=1",
        "the exec'd process is not pid 1 of the container: {out}"
    );
    assert_eq!(lines[1].trim(), "sleep 1000", "{out}");
    assert_eq!(lines[2], "exec-box", "{out}");
    assert_eq!(
        &lines[3..],
        ["same-pid", "same-net", "same-ipc", "same-uts", "same-mnt"],
        "{out}"
    );
    finish(c);
}

/// On the host: a detached exec's pid file names the process, which is in every namespace of
/// the init and, in every hierarchy (the v2 tree of a hybrid host too), in the init's cgroup.
#[test]
fn detached_exec_writes_its_pid_and_joins_the_init_cgroup_and_namespaces() {
    need_root!();
    let c = running(Bundle::new());
    let init = c.pid_file_proc();
    let dir = tempfile::tempdir().expect("tempdir");
    let (pf, pf_arg) = pid_file(&dir);
    exec(&c, &["--detach", "--pid-file", &pf_arg], &["sleep", "1000"]).assert_ok();
    let text = fs::read_to_string(&pf).expect("the pid file");
    let pid: u32 = text.trim().parse().expect("a pid");
    assert_eq!(text, pid.to_string(), "exactly the pid, as runc writes it");
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).expect("its cmdline");
    assert_eq!(cmdline, "sleep\x001000\x00");
    for kind in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"] {
        let ns = |p: u32| fs::read_link(format!("/proc/{p}/ns/{kind}")).expect("ns link");
        assert_eq!(ns(pid), ns(init.pid), "{kind} namespace");
    }
    let cgroups = |p: u32| fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cgroups(pid), cgroups(init.pid));
    let mine = cgroups(pid);
    for line in mine.lines() {
        assert!(
            line.ends_with(&format!(":{}", c.bundle.cgroup_path)),
            "{line} (all: {mine})"
        );
    }
    // The v1 hierarchies, and the cgroup2 tree where the host has one.
    assert_eq!(
        mine.lines().count(),
        host::cgroup_hierarchies().len(),
        "{mine}"
    );
    finish(c);
}

#[test]
fn exec_exits_with_the_process_status() {
    need_root!();
    let c = running(Bundle::new());
    for (script, code) in [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137)] {
        let out = exec(&c, &[], &["sh", "-c", script]);
        assert_eq!(out.code(), Some(code), "{script}: {out}");
    }
    finish(c);
}

#[test]
fn exec_forwards_signals_to_the_process() {
    need_root!();
    let c = running(Bundle::new());
    let script = "trap 'echo got-term; exit 4' TERM; echo waiting; while :; do sleep 0.05; done";
    let args = ["exec", c.id.as_str(), "sh", "-c", script];
    let mut cmd = c.command(&args, c.append("fwd.out"), c.append("fwd.err"));
    let mut child = cmd.spawn().expect("spawn exec");
    let out_path = c.root().parent().expect("work dir").join("fwd.out");
    host::wait_until(crate::common::STATE_TIMEOUT, "the exec'd shell", || {
        fs::read_to_string(&out_path)
            .ok()
            .filter(|s| s.contains("waiting"))
    });
    // SAFETY: kill(2) of the runtime process this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = host::wait_child(&mut child, CMD_TIMEOUT, "exec");
    assert_eq!(status.code(), Some(4), "{status}");
    assert!(fs::read_to_string(&out_path)
        .expect("output")
        .contains("got-term"));
    finish(c);
}

#[test]
fn exec_flags_shape_the_process() {
    need_root!();
    let c = running(Bundle::new());
    let script = "id -u; id -g; id -G; pwd; echo $FOO; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status";
    let out = exec(
        &c,
        &[
            "--user",
            "0:7",
            "--additional-gids",
            "11",
            "--additional-gids",
            "12",
            "--cwd",
            "/tmp",
            "-e",
            "FOO=bar baz",
            "--cap",
            "CAP_SYS_NICE",
        ],
        &["sh", "-c", script],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], "7", "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["11", "12", "7"], "{out}");
    assert_eq!(lines[3], "/tmp", "{out}");
    assert_eq!(lines[4], "bar baz", "{out}");
    // The config's AUDIT_WRITE, KILL, NET_BIND_SERVICE plus SYS_NICE (23).
    let caps = format!("{:016x}", (1u64 << 29) | (1 << 5) | (1 << 10) | (1 << 23));
    assert_eq!(lines[5], format!("CapEff:\t{caps}"), "{out}");
    assert_eq!(lines[6], format!("CapBnd:\t{caps}"), "{out}");
    assert_eq!(lines[7], "NoNewPrivs:\t1", "{out}");
    finish(c);
}

/// `exec --process FILE` (what containerd's shim runs): the process is the file's, the
/// container's own process settings do not leak in.
#[test]
fn exec_process_json_sets_user_env_cwd_caps_and_rlimits() {
    need_root!();
    let c = running(Bundle::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let process = json!({
        "args": ["sh", "-c", "id -u; id -g; id -G; pwd; echo $GREETING; ulimit -n; \
                              grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status"],
        "env": ["PATH=/bin:/usr/bin", "GREETING=hello"],
        "cwd": "/etc",
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [20]},
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_NET_RAW"],
            "permitted": ["CAP_KILL", "CAP_NET_RAW"],
            "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
            "ambient": ["CAP_KILL", "CAP_NET_RAW"]
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 99, "hard": 100}],
        "noNewPrivileges": false
    });
    let file = dir.path().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = exec(&c, &["--process", &file.display().to_string()], &[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let kill_raw = format!("{:016x}", (1u64 << 5) | (1 << 13));
    let bnd = format!("{:016x}", 1u64 | (1 << 5) | (1 << 13));
    assert_eq!(
        lines,
        [
            "1000".to_string(),
            "1001".into(),
            "1001 20".into(),
            "/etc".into(),
            "hello".into(),
            "99".into(),
            format!("CapInh:\t{kill_raw}"),
            // A non-root process keeps exactly its ambient capabilities across execve.
            format!("CapPrm:\t{kill_raw}"),
            format!("CapEff:\t{kill_raw}"),
            format!("CapBnd:\t{bnd}"),
            format!("CapAmb:\t{kill_raw}"),
            "NoNewPrivs:\t0".into(),
        ],
        "{out}"
    );
    finish(c);
}

#[test]
fn preserve_fds_passes_an_extra_fd_to_the_exec_process() {
    need_root!();
    let c = running(Bundle::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    fs::write(&data, "through fd 3\n").expect("write");
    let file = fs::File::open(&data).expect("open");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor (above 10, so dup2 onto 3 never meets
    // its own source) for an open file.
    let high = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 10) };
    assert!(high >= 10);
    let args = [
        "exec",
        "--preserve-fds",
        "1",
        c.id.as_str(),
        "sh",
        "-c",
        "cat <&3; ls /proc/self/fd",
    ];
    let mut cmd = c.command(&args, c.append("pfd.out"), c.append("pfd.err"));
    // SAFETY: dup2 is async-signal-safe; the child only rearranges its own fds.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(high, 3);
            Ok(())
        });
    }
    let status = host::wait_child(&mut cmd.spawn().expect("spawn"), CMD_TIMEOUT, "exec");
    let out = fs::read_to_string(c.root().parent().expect("work").join("pfd.out")).expect("output");
    assert!(status.success(), "{status}: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "through fd 3", "{out}");
    // 0-2, 3, and ls's own directory fd: nothing else of the caller's or the runtime's.
    assert_eq!(&lines[1..], ["0", "1", "2", "3", "4"], "{out}");
    finish(c);
}

/// As runc: a created container (its init waiting for start) can be exec'd into; the process
/// sees the container set up, and the container's own process has not run.
#[test]
fn exec_into_a_created_container_works_before_start() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["sh", "-c", "echo started; exec sleep 1000"]));
    c.create(&[]).assert_ok();
    let out = exec(
        &c,
        &[],
        &[
            "sh",
            "-c",
            "hostname; ls /proc | grep -c '^[0-9]'; \
             [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup",
        ],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "runc", "{out}");
    assert!(lines[1].parse::<u32>().is_ok_and(|n| n >= 2), "{out}");
    assert_eq!(lines[2], "same-cgroup", "{out}");
    assert_eq!(c.status(), "created");
    assert_eq!(c.output(), "", "the container's process ran before start");
    c.start().assert_ok();
    c.wait_output("started");
    finish(c);
}

/// Refusals: one line on stderr, and nothing left (no process, no file beside the container).
#[track_caller]
fn refused(c: &Container, flags: &[&str], args: &[&str], expect: &str) {
    let before: Vec<_> = host::procs_in_cgroup(&c.bundle.cgroup_path)
        .iter()
        .map(|p| p.pid)
        .collect();
    let state_before = dir_entries(&c.root().join(&c.id));
    let out = exec(c, flags, args);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert_eq!(out.stderr.lines().count(), 1, "one line: {out}");
        assert!(out.stderr.contains(expect), "wanted {expect:?}: {out}");
        assert_eq!(
            out.code(),
            Some(255),
            "runc's exit code for a failed exec: {out}"
        );
    }
    let after: Vec<_> = host::procs_in_cgroup(&c.bundle.cgroup_path)
        .iter()
        .map(|p| p.pid)
        .collect();
    assert_eq!(before, after, "processes left in the container: {out}");
    assert_eq!(state_before, dir_entries(&c.root().join(&c.id)), "{out}");
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bad_exec_requests_are_refused_and_leave_nothing() {
    need_root!();
    let c = running(Bundle::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_json = dir.path().join("bad.json");
    fs::write(&bad_json, "{\"args\": [\"true\"], ").expect("write");
    let no_cwd = dir.path().join("nocwd.json");
    fs::write(&no_cwd, r#"{"args": ["true"], "cwd": "relative"}"#).expect("write");
    let missing_sock = dir.path().join("missing.sock");
    let bad = bad_json.display().to_string();
    let relative = no_cwd.display().to_string();
    let sock = missing_sock.display().to_string();
    refused(&c, &["--process", &bad], &[], "bad.json");
    refused(&c, &["--process", &relative], &[], "cwd");
    refused(&c, &[], &["/no/such/program"], "no such file or directory");
    refused(&c, &[], &["no-such-program"], "executable file not found");
    refused(
        &c,
        &["--tty", "--detach", "--console-socket", &sock],
        &["true"],
        "missing.sock",
    );
    assert!(!missing_sock.exists());
    refused(&c, &["--cwd", "/proc/self/fd/4"], &["true"], "cwd");
    finish(c);
}

#[test]
fn exec_into_a_stopped_or_unknown_container_is_refused() {
    need_root!();
    let mut c = Container::new(Bundle::new().args(&["true"]));
    c.create_and_start();
    c.wait_status("stopped");
    let out = exec(&c, &[], &["true"]);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert!(out.stderr.contains("stopped"), "{out}");
    }
    let out = c.rt(&["exec", "no-such-container", "true"]);
    out.assert_failed();
    if crate::common::berth_specific_enabled() {
        assert!(out.stderr.contains("does not exist"), "{out}");
    }
    c.delete(false).assert_ok();
    c.assert_no_leftovers();
}

/// A paused container refuses exec unless --ignore-paused; then the process runs once the
/// container is thawed. (Frozen here through the container's own freezer cgroup.)
#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    need_root!();
    let c = running(Bundle::new());
    let Some(freezer) = host::existing_cgroup_dirs(&c.bundle.cgroup_path)
        .into_iter()
        .map(|d| d.join("freezer.state"))
        .find(|f| f.exists())
    else {
        println!("skipping: no v1 freezer here");
        finish(c);
        return;
    };
    fs::write(&freezer, "FROZEN").expect("freeze");
    host::wait_until(crate::common::STATE_TIMEOUT, "frozen", || {
        (fs::read_to_string(&freezer).ok()?.trim() == "FROZEN").then_some(())
    });
    assert_eq!(c.status(), "paused");
    let out = exec(&c, &[], &["echo", "should-not-run"]);
    out.assert_failed();
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    if crate::common::berth_specific_enabled() {
        assert!(out.stderr.contains("--ignore-paused"), "{out}");
    }
    let args = [
        "exec",
        "--ignore-paused",
        c.id.as_str(),
        "echo",
        "ran-after-thaw",
    ];
    let mut cmd = c.command(&args, c.append("paused.out"), c.append("paused.err"));
    let mut child = cmd.spawn().expect("spawn exec");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "exec finished while the container was frozen"
    );
    fs::write(&freezer, "THAWED").expect("thaw");
    let status = host::wait_child(&mut child, CMD_TIMEOUT, "exec --ignore-paused");
    assert!(status.success(), "{status}");
    let out =
        fs::read_to_string(c.root().parent().expect("work").join("paused.out")).expect("output");
    assert_eq!(out, "ran-after-thaw\n");
    finish(c);
}

/// The container's seccomp filter holds for exec'd processes too.
#[test]
fn exec_gets_the_containers_seccomp_filter() {
    need_root!();
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let c = running(Bundle::new().set("/linux/seccomp", seccomp));
    let out = exec(
        &c,
        &[],
        &[
            "sh",
            "-c",
            "mkdir /tmp/x 2>&1; grep ^Seccomp: /proc/self/status",
        ],
    );
    out.assert_ok();
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    finish(c);
}

/// process.execCPUAffinity: `final` is where the process runs once in the container's cgroup
/// (runc 1.1.5 does not know the field).
#[test]
fn exec_cpu_affinity_final_is_applied() {
    need_berth!();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        println!("skipping: needs two CPUs");
        return;
    }
    let c = running(Bundle::new().set(
        "/process/execCPUAffinity",
        json!({"initial": "0", "final": "1"}),
    ));
    let out = exec(&c, &[], &["grep", "Cpus_allowed_list", "/proc/self/status"]);
    out.assert_ok();
    assert_eq!(out.stdout.split_whitespace().nth(1), Some("1"), "{out}");
    finish(c);
}

/// Without execCPUAffinity the process does not keep the narrow affinity of berth's caller.
/// (Since Linux 6.2 joining a cpuset keeps an affinity the user set; runc 1.1.5 leaves the
/// caller's in place, runc 1.2 resets it as berth does.)
#[test]
fn exec_does_not_inherit_the_callers_cpu_affinity() {
    need_berth!();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        println!("skipping: needs two CPUs");
        return;
    }
    let c = running(Bundle::new());
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .arg(&c.bin)
        .arg("--root")
        .arg(c.root())
        .args([
            "exec",
            c.id.as_str(),
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ]);
    let out = cmd.output().expect("run taskset");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.split_whitespace().nth(1),
        Some(format!("0-{}", cpus - 1).as_str()),
        "{stdout}"
    );
    finish(c);
}

/// CVE-2019-5736: exec runs from berth's sealed copy too; the host binary is never what the
/// container's processes could reach through /proc/<pid>/exe.
#[test]
fn exec_runs_from_the_sealed_copy() {
    need_berth!();
    let c = running(Bundle::new());
    let args = ["exec", c.id.as_str(), "sleep", "1000"];
    let mut cmd = c.command(&args, c.append("sealed.out"), c.append("sealed.err"));
    let mut child = cmd.spawn().expect("spawn exec");
    let berth = child.id();
    // The runtime process re-executes sealed before it clones (here, where overlayfs works: its
    // binary seen through a read-only overlayfs); the exec'd process is its child.
    host::wait_until(crate::common::STATE_TIMEOUT, "the exec'd sleep", || {
        let children = fs::read_to_string(format!("/proc/{berth}/task/{berth}/children")).ok()?;
        (!children.trim().is_empty()).then_some(())
    });
    let fs = rustix::fs::statfs(format!("/proc/{berth}/exe").as_str()).expect("statfs exe");
    assert_eq!(fs.f_type as u64, 0x794c_7630, "not on overlayfs");
    assert_ne!(fs.f_flags as u64 & libc::ST_RDONLY, 0, "not read-only");
    let write = fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{berth}/exe"));
    assert!(write.is_err(), "berth's exe opened for writing");
    child.kill().expect("kill the exec");
    let _ = host::wait_child(&mut child, CMD_TIMEOUT, "exec");
    finish(c);
}

/// SCMP_ACT_NOTIFY: an exec'd process's listener goes to the agent too, with the container's
/// state (running, the init's pid) and the process's own pid. The agent here drops the fd, so
/// the notified call fails with ENOSYS.
#[test]
fn exec_hands_its_seccomp_listener_to_the_agent() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind the agent");
    let agent = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let conn = crate::terminal::accept(&listener, std::time::Duration::from_secs(30))?;
            let (msg, fd) = crate::terminal::recv_fd(&conn)?;
            drop(fd);
            seen.push(serde_json::from_str::<serde_json::Value>(&msg).map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(seen)
    });
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let c = running(Bundle::new().set("/linux/seccomp", seccomp));
    let init = c.pid_file_proc();
    let out = exec(
        &c,
        &[],
        &["sh", "-c", "mkdir /tmp/y 2>/dev/null; echo rc=$?"],
    );
    out.assert_ok();
    assert_eq!(out.stdout, "rc=1\n", "{out}");
    let seen = agent.join().expect("agent").expect("two hand-offs");
    let m = &seen[1];
    assert_eq!(m["state"]["status"], "running", "{m}");
    assert_eq!(m["state"]["pid"], json!(init.pid), "{m}");
    assert_eq!(m["state"]["id"], json!(c.id), "{m}");
    assert!(
        m["pid"].as_u64().is_some_and(|p| p != u64::from(init.pid)),
        "the exec'd process's pid: {m}"
    );
    finish(c);
}

/// The session keyring an exec'd process gets, as runc gives it: a new one, unless the container
/// was created with --no-new-keyring (then the caller's, like the init's).
#[test]
fn exec_joins_a_new_session_keyring_unless_created_without() {
    need_root!();
    // KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3), without creating one.
    // SAFETY: keyctl with integer arguments only.
    let mine = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3i64, 0) };
    assert!(mine > 0, "keyctl: {}", std::io::Error::last_os_error());
    let step = "sys:fa:0:fffffffffffffffd:0";
    for no_new in [false, true] {
        let b = Bundle::new().args(&["sh", "-c", "echo ready; exec sleep 1000"]);
        fs::copy(crate::seccomp::probe(), b.rootfs().join("probe")).expect("copy the probe");
        let mut c = Container::new(b);
        let flags: &[&str] = if no_new { &["--no-new-keyring"] } else { &[] };
        c.create(flags).assert_ok();
        c.start().assert_ok();
        c.wait_output("ready");
        let out = exec(&c, &[], &["/probe", step]);
        out.assert_ok();
        let theirs: i64 = out
            .stdout
            .trim()
            .rsplit(" = ")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no keyring id: {out}"));
        assert!(theirs > 0, "keyctl in the container: {out}");
        if no_new {
            assert_eq!(
                theirs, mine,
                "--no-new-keyring: the caller's keyring expected"
            );
        } else {
            assert_ne!(theirs, mine, "a new session keyring expected");
        }
        finish(c);
    }
}
