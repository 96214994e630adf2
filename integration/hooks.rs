//! OCI hooks on real containers: each kind runs once, in order, at its moment, in its
//! namespaces, with the state on stdin, its args and env; failures and timeouts behave as
//! runtime-spec 1.2 says. The hooks are shell scripts in the test's directory that append to a
//! log the test reads; the directory is also bound into the container at /hooklog, where the
//! startContainer hook (whose path resolves inside the container) finds the same script.

use crate::bundle::Bundle;
use crate::common::{berth_specific_enabled, Container};
use crate::host::{self, HostDir, Proc};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Logs `NAME arg=... env=... mnt=... net=... pidns=... cwd=... root=...` to DIR/log and saves
/// its stdin to DIR/NAME.json. Called as `hook.sh NAME DIR EXTRA-ARG`. `root` says whether `/`
/// is the container's (it holds /inside-marker).
const HOOK: &str = r#"#!/bin/sh
name=$1 dir=$2
cat > "$dir/$name.json"
echo "$name arg=$3 env=$HOOK_ENV mnt=$(readlink /proc/self/ns/mnt) net=$(readlink /proc/self/ns/net) pidns=$(readlink /proc/self/ns/pid) cwd=$(pwd) root=$(test -e /inside-marker && echo container || echo other)" >> "$dir/log"
"#;

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The test's hook directory, bound into the container at /hooklog.
struct HookDir {
    dir: HostDir,
}

impl HookDir {
    fn new() -> HookDir {
        let dir = HostDir::new();
        let script = dir.path().join("hook.sh");
        fs::write(&script, HOOK).expect("write hook.sh");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        HookDir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A hook entry running hook.sh; startContainer's path and log dir are the container's.
    fn hook(&self, kind: &str) -> Value {
        let (script, dir) = if kind == "startContainer" {
            ("/hooklog/hook.sh".to_string(), "/hooklog".to_string())
        } else {
            (
                self.path().join("hook.sh").display().to_string(),
                self.path().display().to_string(),
            )
        };
        json!({
            "path": script,
            "args": ["hook.sh", kind, dir, format!("{kind}-arg")],
            "env": [format!("HOOK_ENV={kind}-env"), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "timeout": 20
        })
    }

    /// `bundle` with the log dir bound at /hooklog and one hook.sh entry per kind.
    fn bundle(&self, bundle: Bundle) -> Bundle {
        let mut hooks = json!({});
        for k in KINDS {
            hooks[k] = json!([self.hook(k)]);
        }
        bundle
            .mount(json!({"destination": "/hooklog", "type": "bind",
                          "source": self.path(), "options": ["rbind", "rw"]}))
            .set("/hooks", hooks)
            .set("/annotations", json!({"org.berth.test": "hooks"}))
    }

    /// Log lines so far: (hook name, key=value fields).
    fn log(&self) -> Vec<(String, Vec<(String, String)>)> {
        let text = fs::read_to_string(self.path().join("log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let mut words = l.split(' ');
                let name = words.next().unwrap_or_default().to_string();
                let fields = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (name, fields)
            })
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.log().into_iter().map(|(n, _)| n).collect()
    }

    fn state(&self, kind: &str) -> Value {
        let text = fs::read_to_string(self.path().join(format!("{kind}.json")))
            .unwrap_or_else(|e| panic!("{kind} hook left no state: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} state {text:?}: {e}"))
    }
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}

fn own_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("read own namespace")
        .display()
        .to_string()
}

/// A container joining a pid namespace by path: the hooks berth itself runs (prestart,
/// createRuntime, poststart, poststop) still start in the runtime's pid namespace, where no
/// process of the container can see or signal them.
#[test]
fn runtime_hooks_stay_in_the_runtimes_pid_namespace_when_the_container_joins_one() {
    need_root!();
    let mut other =
        Container::new(Bundle::new().args(&["sh", "-c", "echo ready; exec sleep 1000"]));
    other.create_and_start();
    other.wait_output("ready");
    let pidns = format!("/proc/{}/ns/pid", other.pid_file_proc().pid);
    let hooks = HookDir::new();
    let mut bundle = hooks.bundle(Bundle::new().args(&["true"]));
    bundle.config["linux"]["namespaces"][0] = json!({"type": "pid", "path": pidns});
    let c = Container::new(bundle);
    c.run(&[]).assert_ok();
    let log = hooks.log();
    let runtime_side: Vec<_> = log
        .iter()
        .filter(|(n, _)| {
            ["prestart", "createRuntime", "poststart", "poststop"].contains(&n.as_str())
        })
        .collect();
    assert_eq!(runtime_side.len(), 4, "{log:?}");
    for (name, fields) in runtime_side {
        assert_eq!(field(fields, "pidns"), own_ns("pid"), "{name} pid ns");
    }
    c.assert_no_leftovers();
    other.delete(true).assert_ok();
    other.assert_no_leftovers();
}

/// Every kind runs exactly once, in the listed order, at its moment of create/start/delete,
/// in the runtime's or the container's namespaces, with its args, env and the state on stdin.
/// Berth-specific: runc 1.1.5 runs poststart hooks during create and reports "creating".
#[test]
fn every_hook_runs_once_in_order_in_its_namespace() {
    need_berth!();
    let hooks = HookDir::new();
    let bundle = hooks.bundle(Bundle::new().args(&["true"]));
    fs::write(bundle.rootfs().join("inside-marker"), "").expect("marker");
    let mut c = Container::new(bundle);

    c.create(&[]).assert_ok();
    assert_eq!(
        hooks.names(),
        ["prestart", "createRuntime", "createContainer"],
        "after create"
    );
    let init = c.pid_file_proc();
    let init_ns =
        |kind: &str| fs::read_link(format!("/proc/{}/ns/{kind}", init.pid)).expect("init ns");
    let (init_mnt, init_net) = (init_ns("mnt"), init_ns("net"));

    c.start().assert_ok();
    assert_eq!(
        hooks.names()[3..],
        ["startContainer", "poststart"],
        "after start"
    );
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    assert_eq!(hooks.names(), KINDS, "after delete: each once, in order");

    let bundle_path = fs::canonicalize(c.bundle.path()).expect("canonical bundle");
    for (name, fields) in hooks.log() {
        assert_eq!(field(&fields, "arg"), format!("{name}-arg"), "{name}");
        assert_eq!(field(&fields, "env"), format!("{name}-env"), "{name}");
        let in_container = name == "createContainer" || name == "startContainer";
        let (mnt, net) = (field(&fields, "mnt"), field(&fields, "net"));
        if in_container {
            assert_eq!(mnt, init_mnt.display().to_string(), "{name} mount ns");
            assert_eq!(net, init_net.display().to_string(), "{name} net ns");
        } else {
            assert_eq!(mnt, own_ns("mnt"), "{name} runs in the runtime's mount ns");
            assert_eq!(net, own_ns("net"), "{name} runs in the runtime's net ns");
            assert_eq!(field(&fields, "pidns"), own_ns("pid"), "{name} pid ns");
        }
        let state = hooks.state(&name);
        assert_eq!(state["id"], json!(c.id), "{name}: {state}");
        assert_eq!(state["bundle"], json!(bundle_path), "{name}: {state}");
        assert_eq!(
            state["annotations"]["org.berth.test"],
            json!("hooks"),
            "{name}: {state}"
        );
    }
    // createContainer runs before pivot_root (in the host's tree), startContainer after it.
    let log = hooks.log();
    let roots: Vec<&str> = log.iter().map(|(_, f)| field(f, "root")).collect();
    assert_eq!(
        roots,
        ["other", "other", "other", "container", "other", "other"]
    );

    {
        let want = [
            ("prestart", "created", Some(init.pid)),
            ("createRuntime", "created", Some(init.pid)),
            ("createContainer", "created", Some(1)),
            ("startContainer", "created", Some(1)),
            ("poststart", "running", Some(init.pid)),
            ("poststop", "stopped", None),
        ];
        for (name, status, pid) in want {
            let state = hooks.state(name);
            assert_eq!(state["status"], json!(status), "{name}: {state}");
            if let Some(pid) = pid {
                assert_eq!(state["pid"], json!(pid), "{name}: {state}");
            }
        }
        // createContainer starts in the rootfs (seen from before pivot_root), as under runc.
        assert_eq!(
            fs::canonicalize(field(&log[2].1, "cwd")).ok(),
            fs::canonicalize(c.bundle.rootfs()).ok()
        );
        assert_eq!(field(&log[3].1, "cwd"), "/", "{log:?}");
    }
    c.assert_no_leftovers();
}

/// `run` goes through the same lifecycle: all six kinds, in order (not under runc 1.1.5,
/// which runs poststart before startContainer).
#[test]
fn run_runs_every_hook() {
    need_berth!();
    let hooks = HookDir::new();
    let c = Container::new(hooks.bundle(Bundle::new().args(&["sh", "-c", "echo ran"])));
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "ran\n", "{out}");
    assert_eq!(hooks.names(), KINDS, "{out}");
    c.assert_no_leftovers();
}

/// A failing prestart, createRuntime or createContainer hook fails create, which then leaves
/// no state, cgroup, mount or process behind.
#[test]
fn failing_create_hooks_leave_nothing() {
    need_root!();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let hooks = HookDir::new();
        let boom = json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo boom-output; exit 3"]}]);
        let bundle = hooks.bundle(Bundle::new().args(&["true"]));
        let bundle = bundle.set(&format!("/hooks/{kind}"), boom);
        let mut c = Container::new(bundle);
        let out = c.create(&[]);
        out.assert_failed();
        if berth_specific_enabled() {
            assert!(
                out.stderr.contains(&format!(
                    "{kind} hook #0 (/bin/sh): exited with status 3: boom-output"
                )),
                "{kind}: {out}"
            );
            // The lifecycle goes on to destroy and the poststop hooks (spec 1.2, step 12-13).
            assert!(
                hooks.names().contains(&"poststop".to_string()),
                "{kind}: {:?}",
                hooks.names()
            );
        }
        assert!(!hooks.names().contains(&"startContainer".to_string()));
        c.assert_no_leftovers();
    }
}

/// A hook that hangs past its timeout is killed, with what it started, and reported.
#[test]
fn a_hanging_hook_is_killed_at_its_timeout() {
    need_root!();
    let hooks = HookDir::new();
    let pids = hooks.path().join("pids");
    // The sleep does not hold the hook's output: runc 1.1.5 would wait for it to close.
    let hang = format!(
        "sleep 60 >/dev/null 2>&1 & echo $$ $! > {}; wait",
        pids.display()
    );
    let bundle = hooks.bundle(Bundle::new().args(&["true"])).set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", hang], "timeout": 1}]),
    );
    let mut c = Container::new(bundle);
    let t = Instant::now();
    let out = c.create(&[]);
    out.assert_failed();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    if berth_specific_enabled() {
        assert!(
            out.stderr.contains(
                "createRuntime hook #0 (/bin/sh): still running after its timeout of 1s: killed"
            ),
            "{out}"
        );
    }
    let text = fs::read_to_string(&pids).expect("the hook ran");
    for pid in text.split_whitespace() {
        let p = Proc::of(pid.parse().expect("pid"));
        if berth_specific_enabled() {
            // The whole process group, not just the hook.
            host::wait_until(
                Duration::from_secs(5),
                "the hook's processes to die",
                || (!p.is_some_and(|p| p.alive())).then_some(()),
            );
        } else if let Some(p) = p {
            p.kill();
        }
    }
    c.assert_no_leftovers();
}

/// Poststart and poststop failures are warnings: start and delete succeed and the remaining
/// hooks still run (runtime-tools' poststart_fail and poststop_fail; runc 1.1.5 fails both).
#[test]
fn failing_poststart_and_poststop_hooks_only_warn() {
    need_berth!();
    let hooks = HookDir::new();
    let fail = json!({"path": "/bin/false"});
    let hang = json!({"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1});
    let bundle = hooks
        .bundle(Bundle::new().args(&["sleep", "60"]))
        .set(
            "/hooks/poststart",
            json!([fail, hang, hooks.hook("poststart")]),
        )
        .set("/hooks/poststop", json!([fail, hooks.hook("poststop")]));
    let mut c = Container::new(bundle);
    c.create(&[]).assert_ok();
    let out = c.start();
    out.assert_ok();
    assert!(
        out.stderr
            .contains("warning: poststart hook #0 (/bin/false): exited with status 1"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("warning: poststart hook #1 (/bin/sleep): still running after its timeout"),
        "{out}"
    );
    assert_eq!(c.status(), "running");
    let out = c.delete(true);
    out.assert_ok();
    assert!(
        out.stderr
            .contains("warning: poststop hook #0 (/bin/false)"),
        "{out}"
    );
    assert_eq!(hooks.names(), KINDS);
    c.assert_no_leftovers();
}

/// A failing startContainer hook fails start: the program never runs, the container is stopped.
/// Berth-specific: runc 1.1.5's start returns 0 before its init runs startContainer hooks.
#[test]
fn failing_start_container_hook_fails_start() {
    need_berth!();
    let hooks = HookDir::new();
    let bundle = hooks
        .bundle(Bundle::new().args(&["sh", "-c", "echo program-ran > /hooklog/ran"]))
        .set(
            "/hooks/startContainer",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo no-start; exit 4"]}]),
        );
    let mut c = Container::new(bundle);
    c.create(&[]).assert_ok();
    let out = c.start();
    out.assert_failed();
    assert!(
        out.stderr
            .contains("startContainer hook #0 (/bin/sh): exited with status 4: no-start"),
        "{out}"
    );
    c.wait_status("stopped");
    assert!(!hooks.path().join("ran").exists(), "the program ran");
    assert!(!hooks.names().contains(&"poststart".to_string()));
    c.delete(false).assert_ok();
    assert_eq!(hooks.names().last().map(String::as_str), Some("poststop"));
    c.assert_no_leftovers();
}

/// The same through `run` (which starts the init over its channel, not the start socket): run
/// fails with the hook's error, the program never runs, poststop runs and nothing is left.
#[test]
fn failing_start_container_hook_fails_run() {
    need_berth!();
    let hooks = HookDir::new();
    let bundle = hooks
        .bundle(Bundle::new().args(&["sh", "-c", "echo program-ran > /hooklog/ran"]))
        .set(
            "/hooks/startContainer",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo no-start; exit 4"]}]),
        );
    let c = Container::new(bundle);
    let out = c.run(&[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("startContainer hook #0 (/bin/sh): exited with status 4: no-start"),
        "{out}"
    );
    assert!(!hooks.path().join("ran").exists(), "the program ran");
    let names = hooks.names();
    assert!(!names.contains(&"poststart".to_string()), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("poststop"));
    c.assert_no_leftovers();
}

/// dockerd's prestart hook is `/proc/<dockerd pid>/exe libnetwork-setkey ...`: a path through
/// another process's exe link, reading the state from stdin.
#[test]
fn prestart_hook_through_proc_pid_exe() {
    need_root!();
    let hooks = HookDir::new();
    let bundle = Bundle::new().args(&["true"]);
    // A process whose exe is a static busybox, as dockerd's is dockerd.
    let mut helper = Command::new(bundle.rootfs().join("bin/busybox"))
        .args(["sleep", "60"])
        .spawn()
        .expect("spawn helper");
    let out_file: PathBuf = hooks.path().join("setkey.json");
    let bundle = bundle.set(
        "/hooks/prestart",
        json!([{"path": format!("/proc/{}/exe", helper.id()),
                "args": ["sh", "-c", format!("cat > {}", out_file.display())]}]),
    );
    let mut c = Container::new(bundle);
    let out = c.create(&[]);
    let _ = helper.kill();
    let _ = helper.wait();
    out.assert_ok();
    let state: Value =
        serde_json::from_str(&fs::read_to_string(&out_file).expect("hook wrote the state"))
            .expect("state JSON");
    assert_eq!(state["id"], json!(c.id));
    assert_eq!(state["pid"], json!(c.pid_file_proc().pid));
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}

/// Bad hook entries are refused at create, naming the field, before anything exists.
#[test]
fn bad_hook_entries_are_refused_by_name() {
    need_berth!();
    for (hook, field) in [
        (
            json!({"path": "relative/hook"}),
            "hooks.poststart[0].path: must be an absolute path",
        ),
        (
            json!({"path": "/bin/true", "timeout": 0}),
            "hooks.poststart[0].timeout: must be greater than zero",
        ),
    ] {
        let mut c = Container::new(Bundle::new().set("/hooks/poststart", json!([hook])));
        let out = c.create(&[]);
        out.assert_failed();
        assert!(out.stderr.contains(field), "{out}");
        c.assert_no_leftovers();
    }
}

/// createContainer hooks run in the container's cgroup under its limits and oom score, as under
/// runc (which applies them before any hook): even when no prestart or createRuntime hook makes
/// the init wait for `create` before them. A large config (create copies it into the state dir
/// after the limits, before the oom score) gives `create` time to be late.
#[test]
fn create_container_hooks_run_under_the_limits() {
    need_root!();
    let hooks = HookDir::new();
    let dir = hooks.path().display().to_string();
    let bundle = Bundle::new().args(&["true"]);
    let pids_max = crate::cgroups::cg_file(&bundle, "pids", "pids.max");
    let script = format!(
        "cat /proc/self/oom_score_adj > {dir}/oom; cat {} > {dir}/pids",
        pids_max.display()
    );
    let bundle = bundle
        .set("/process/oomScoreAdj", json!(123))
        .set("/linux/resources/pids", json!({"limit": 57}))
        // An unknown field: only `create`'s copy of the config carries it.
        .set("/org.berth.test.padding", json!("x".repeat(64 << 20)))
        .set(
            "/hooks/createContainer",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]),
        );
    let mut c = Container::new(bundle);
    c.create(&[]).assert_ok();
    let read = |f: &str| fs::read_to_string(hooks.path().join(f)).unwrap_or_default();
    assert_eq!(read("oom").trim(), "123", "oom_score_adj seen by the hook");
    assert_eq!(read("pids").trim(), "57", "pids.max seen by the hook");
    c.delete(true).assert_ok();
    c.assert_no_leftovers();
}
