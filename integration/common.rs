//! The harness: which runtime is under test, and a `Container` that drives the runtime's
//! CLI on a bundle and cleans up after itself.

pub use crate::bundle::Bundle;
use crate::host::{self, Proc};
use serde_json::Value;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Longest any single runtime command may take before the test gives up on it.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a state change (or a line of container output) may take to show up.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns from the test (which then passes) unless we are root.
macro_rules! need_root {
    () => {
        if !$crate::common::is_root() {
            println!("skipping: integration tests need root");
            return;
        }
    };
}

/// For berth-specific tests (error wording, log format, ...): returns unless the runtime
/// under test is berth. `BERTH_TEST_FORCE_SPECIFIC=1` runs them against any runtime.
macro_rules! need_berth {
    () => {
        need_root!();
        if !$crate::common::berth_specific_enabled() {
            println!(
                "skipping: berth-specific test, runtime under test is {}",
                $crate::common::runtime_bin().display()
            );
            return;
        }
    };
}

pub fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:"));
    // Real, effective, saved, fs: the effective one decides.
    uid_line.and_then(|l| l.split_whitespace().nth(2)) == Some("0")
}

/// The runtime under test: `$BERTH_TEST_RUNTIME`, else the berth binary cargo built.
pub fn runtime_bin() -> PathBuf {
    std::env::var_os("BERTH_TEST_RUNTIME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(berth_bin)
}

pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

pub fn runtime_is_berth() -> bool {
    let bin = runtime_bin();
    bin.file_name() == Some(OsStr::new("berth"))
        || fs::canonicalize(&bin).ok() == fs::canonicalize(berth_bin()).ok()
}

pub fn berth_specific_enabled() -> bool {
    runtime_is_berth() || std::env::var_os("BERTH_TEST_FORCE_SPECIFIC").is_some_and(|v| v == "1")
}

/// What a runtime command did: exit status and everything it (and the container, when the
/// container inherited its stdio) printed.
pub struct Out {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Out {
        assert!(self.status.success(), "expected success:\n{self}");
        self
    }

    /// A refusal: a non-zero exit code (a runtime killed by a signal did not refuse, it crashed).
    #[track_caller]
    pub fn assert_failed(&self) -> &Out {
        let refused = self.code().is_some_and(|c| c != 0);
        assert!(refused, "expected a non-zero exit code:\n{self}");
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.status, self.stdout, self.stderr
        )
    }
}

/// One container of the runtime under test, with its own `--root`, bundle and id.
/// Dropping it force-deletes whatever the runtime still knows, kills what the test started
/// and removes the container's cgroups.
pub struct Container {
    pub bin: PathBuf,
    pub id: String,
    work: tempfile::TempDir,
    recorded: Option<Proc>,
    // Dropped last: the bundle removes the cgroup tree and any stray mounts.
    pub bundle: Bundle,
}

impl Container {
    /// A container for the runtime under test; writes the bundle's config.json.
    pub fn new(bundle: Bundle) -> Container {
        Container::with_runtime(runtime_bin(), bundle)
    }

    pub fn with_runtime(bin: PathBuf, bundle: Bundle) -> Container {
        bundle.write();
        let work = tempfile::tempdir().expect("tempdir");
        fs::create_dir(work.path().join("root")).expect("create state root");
        let id = bundle.id.clone();
        Container {
            bin,
            id,
            work,
            recorded: None,
            bundle,
        }
    }

    /// The `--root` directory.
    pub fn root(&self) -> PathBuf {
        self.work.path().join("root")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Appends to a file the container's stdout/stderr can be inherited from (never a pipe,
    /// so a container that outlives the command cannot make us wait for EOF).
    pub fn append(&self, name: &str) -> File {
        let path = self.file(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open output file")
    }

    /// `RUNTIME --root ROOT ARGS...` with stdio in files.
    pub fn command(&self, args: &[&str], stdout: File, stderr: File) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root()).args(args);
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        cmd
    }

    /// Runs `RUNTIME --root ROOT ARGS...` to completion (at most `CMD_TIMEOUT`).
    pub fn rt(&self, args: &[&str]) -> Out {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.exec(args, &format!("cmd-{n}.out"), &format!("cmd-{n}.err"))
    }

    /// Runs a command to completion with stdout/stderr appended to the named work files.
    fn exec(&self, args: &[&str], stdout: &str, stderr: &str) -> Out {
        let mut cmd = self.command(args, self.append(stdout), self.append(stderr));
        let desc = format!(
            "{} --root {} {}",
            self.bin.display(),
            self.root().display(),
            args.join(" ")
        );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {desc}: {err}"));
        let status = host::wait_child_for(&mut child, CMD_TIMEOUT);
        let read = |name: &str| fs::read_to_string(self.file(name)).unwrap_or_default();
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (read(stdout), read(stderr));
            panic!("$ {desc}\ndid not finish within {CMD_TIMEOUT:?}; killed it\n--- stdout ---\n{o}\n--- stderr ---\n{e}");
        };
        Out {
            cmd: desc,
            status,
            stdout: read(stdout),
            stderr: read(stderr),
        }
    }

    fn bundle_arg(&self) -> String {
        self.bundle.path().display().to_string()
    }

    /// `run [EXTRA...] --bundle B ID` in the foreground; the container's output is in stdout.
    pub fn run(&self, extra: &[&str]) -> Out {
        let b = self.bundle_arg();
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend(["--bundle", &b, &self.id]);
        self.rt(&args)
    }

    /// `run --bundle B ID` in the background, the container's output going to `output()`.
    pub fn spawn_run(&self) -> Child {
        let b = self.bundle_arg();
        let args = ["run", "--bundle", b.as_str(), self.id.as_str()];
        let mut cmd = self.command(&args, self.append("ctr.out"), self.append("ctr.err"));
        cmd.spawn().expect("spawn run")
    }

    /// `create --bundle B --pid-file F [EXTRA...] ID`, stdout going to `output()`;
    /// on success records the pid from the pid file.
    pub fn create(&mut self, extra: &[&str]) -> Out {
        let b = self.bundle_arg();
        let pid_file = self.file("pid").display().to_string();
        let mut args = vec!["create", "--bundle", &b, "--pid-file", &pid_file];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let out = self.exec(&args, "ctr.out", "create.err");
        if out.status.success() {
            self.recorded = Some(self.pid_file_proc());
        }
        out
    }

    /// `run --detach --bundle B ID`, stdout going to `output()`.
    pub fn run_detach(&self) -> Out {
        let b = self.bundle_arg();
        self.exec(
            &["run", "--detach", "--bundle", &b, &self.id],
            "ctr.out",
            "detach.err",
        )
    }

    /// The process named by the pid file `create` wrote.
    pub fn pid_file_proc(&self) -> Proc {
        let text = fs::read_to_string(self.file("pid")).expect("pid file written by create");
        let pid: u32 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad pid file: {text:?}"));
        Proc::of(pid).unwrap_or_else(|| panic!("pid {pid} from the pid file is not running"))
    }

    /// `create` + `start`, both asserted to succeed.
    pub fn create_and_start(&mut self) {
        self.create(&[]).assert_ok();
        self.start().assert_ok();
    }

    pub fn start(&self) -> Out {
        self.rt(&["start", &self.id])
    }

    pub fn kill(&self, signal: Option<&str>) -> Out {
        let mut args = vec!["kill", self.id.as_str()];
        args.extend(signal);
        self.rt(&args)
    }

    pub fn delete(&self, force: bool) -> Out {
        if force {
            self.rt(&["delete", "--force", &self.id])
        } else {
            self.rt(&["delete", &self.id])
        }
    }

    /// `state ID` parsed (asserted to succeed).
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{out}"))
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .expect("state.status")
            .to_string()
    }

    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        let what = format!("container {} to be {want}", self.id);
        host::wait_until(STATE_TIMEOUT, &what, || {
            (self.status() == want).then_some(())
        });
    }

    /// What the container printed so far (stdout of create / spawned run / run --detach).
    pub fn output(&self) -> String {
        fs::read_to_string(self.file("ctr.out")).unwrap_or_default()
    }

    #[track_caller]
    pub fn wait_output(&self, needle: &str) -> String {
        let what = format!("{needle:?} in the output of {}", self.id);
        host::wait_until(STATE_TIMEOUT, &what, || {
            let out = self.output();
            out.contains(needle).then_some(out)
        })
    }

    /// Nothing of the container is left: no state dir (nor anything else) in --root, no host
    /// mount mentioning the bundle, no cgroup dir, no process.
    #[track_caller]
    pub fn assert_no_leftovers(&self) {
        let entries: Vec<_> = fs::read_dir(self.root())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            entries.is_empty(),
            "state left in {}: {entries:?}",
            self.root().display()
        );
        // Any field naming the bundle or a path below it: the mount point, or a bind's source.
        let bundle = self.bundle.path().display().to_string();
        let below = format!("{bundle}/");
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        let names_bundle = |l: &&str| l.split(' ').any(|f| f == bundle || f.starts_with(&below));
        let mounts: Vec<&str> = mountinfo.lines().filter(names_bundle).collect();
        assert!(
            mounts.is_empty(),
            "host mounts left for the bundle: {mounts:#?}"
        );
        let cgroups = host::existing_cgroup_dirs(&self.bundle.cgroup_path);
        assert!(cgroups.is_empty(), "cgroup dirs left: {cgroups:?}");
        // The runtime must have waited for its processes; allow only the kernel's reaping lag.
        let gone = || {
            let mut left = host::procs_in_cgroup(&self.bundle.cgroup_path);
            left.extend(self.recorded.filter(Proc::alive));
            left.is_empty().then_some(())
        };
        host::wait_until(
            Duration::from_secs(5),
            "the container's processes to be gone",
            gone,
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let ids: Vec<String> = fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        // Only what the runtime still has state for. Never hand a buggy runtime a path-like id to "delete".
        let plain = |id: &String| {
            let ok = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
            !id.is_empty() && id != "." && id != ".." && id.chars().all(ok)
        };
        for id in ids.iter().filter(|id| plain(id)) {
            let (o, e) = (self.append("drop.out"), self.append("drop.err"));
            let mut cmd = self.command(&["delete", "--force", id], o, e);
            if let Ok(mut child) = cmd.spawn() {
                if host::wait_child_for(&mut child, CMD_TIMEOUT).is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        let mut left = host::procs_in_cgroup(&self.bundle.cgroup_path);
        left.extend(self.recorded);
        left.iter().for_each(Proc::kill);
        let deadline = std::time::Instant::now() + STATE_TIMEOUT;
        while left.iter().any(Proc::alive) && std::time::Instant::now() < deadline {
            std::thread::sleep(host::POLL_STEP);
        }
    }
}

/// The runc that berth is compared with (`$BERTH_TEST_RUNC`, default /usr/sbin/runc), or `None`
/// (with a "skipping" line) when another runtime is under test or runc is missing.
pub fn runc_to_compare() -> Option<PathBuf> {
    if std::env::var_os("BERTH_TEST_RUNTIME").is_some_and(|v| !v.is_empty()) {
        println!("skipping: BERTH_TEST_RUNTIME is set; this test compares berth with runc");
        return None;
    }
    let runc = std::env::var_os("BERTH_TEST_RUNC")
        .map_or_else(|| PathBuf::from("/usr/sbin/runc"), PathBuf::from);
    if !runc.exists() {
        println!(
            "skipping: no runc at {} (set BERTH_TEST_RUNC)",
            runc.display()
        );
        return None;
    }
    Some(runc)
}
