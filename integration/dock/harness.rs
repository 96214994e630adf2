//! `Dock`: one scratch `--root`, one runtime, one cgroup parent; the dock binary driven as a
//! user would, and checks that nothing is left on the host.

use crate::common::{is_root, Out, CMD_TIMEOUT};
use crate::host::{self, HostDir};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub enum Which {
    Berth,
    Runc,
}

pub struct Dock {
    root: HostDir,
    work: HostDir,
    pub runtime: PathBuf,
    /// `--cgroup-parent` of every container this test runs: `/dock-it-<pid>-<n>`.
    pub cgroup_parent: String,
}

pub fn dock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dock"))
}

impl Dock {
    /// `None` (after a "skipping" line) when the test cannot run here on that runtime.
    pub fn for_runtime(which: Which) -> Option<Dock> {
        if !is_root() {
            println!("skipping: dock tests need root");
            return None;
        }
        let runtime = match which {
            Which::Berth => std::env::var_os("DOCK_TEST_RUNTIME")
                .filter(|v| !v.is_empty())
                .map_or_else(crate::common::berth_bin, PathBuf::from),
            Which::Runc => {
                let runc = std::env::var_os("DOCK_TEST_RUNC")
                    .map_or_else(|| PathBuf::from("/usr/sbin/runc"), PathBuf::from);
                if !runc.exists() {
                    println!("skipping: no runc at {}", runc.display());
                    return None;
                }
                runc
            }
        };
        let cgroup_parent = format!(
            "/{}",
            host::unique_name().replacen("berth-it", "dock-it", 1)
        );
        Some(Dock {
            root: HostDir::new(),
            work: HostDir::new(),
            runtime,
            cgroup_parent,
        })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(&self.runtime, args)
    }

    /// `cmd` with another runtime.
    pub fn cmd_on(&self, runtime: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(dock_bin());
        c.arg("--root")
            .arg(self.root())
            .arg("--runtime")
            .arg(runtime)
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    /// A runtime that runs the shell snippet `intercept` (the arguments in "$@") and then
    /// hands over to the one under test: a test's way to make it hang or refuse.
    pub fn wrapped_runtime(&self, name: &str, intercept: &str) -> PathBuf {
        let path = self.scratch("runtimes").join(name);
        let script = format!(
            "#!/bin/sh\n{intercept}\nexec {} \"$@\"\n",
            self.runtime.display()
        );
        fs::write(&path, script).expect("write the wrapper runtime");
        let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        fs::set_permissions(&path, exec).expect("chmod the wrapper runtime");
        path
    }

    /// Runs a prepared command to completion with its output in files.
    pub fn out(&self, mut c: Command) -> Out {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let (o, e) = (
            self.work.path().join(format!("{n}.out")),
            self.work.path().join(format!("{n}.err")),
        );
        c.stdout(File::create(&o).expect("out file"))
            .stderr(File::create(&e).expect("err file"));
        let desc = format!("{c:?}");
        let mut child = c.spawn().expect("spawn dock");
        let status = host::wait_child(&mut child, CMD_TIMEOUT, &desc);
        Out {
            cmd: desc,
            status,
            stdout: fs::read_to_string(o).unwrap_or_default(),
            stderr: fs::read_to_string(e).unwrap_or_default(),
        }
    }

    pub fn dock(&self, args: &[&str]) -> Out {
        self.out(self.cmd(args))
    }

    /// `dock run --cgroup-parent P ARGS...`
    pub fn run(&self, args: &[&str]) -> Out {
        let mut a = vec!["run", "--cgroup-parent", &self.cgroup_parent];
        a.extend_from_slice(args);
        self.dock(&a)
    }

    /// Imports the busybox rootfs as `busybox:latest` (with CMD sh).
    pub fn busybox(&self) -> &Dock {
        let tar = super::tarballs::busybox_tar().display().to_string();
        self.dock(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"])
            .assert_ok();
        self
    }

    /// A scratch directory for the test's own files (bind sources, archives).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.work.path().join(name);
        fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    /// Every path in the store except the lock and the staging dir's (empty) self.
    pub fn store_snapshot(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap_or(&p).display().to_string());
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.retain(|p| p != "lock" && p != "tmp");
        out.sort();
        out
    }

    /// Container IDs (`ps -aq`).
    pub fn containers(&self) -> Vec<String> {
        self.dock(&["ps", "-aq"])
            .assert_ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// No container, mount, cgroup, runtime state or socket of this test is left.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert_eq!(self.containers(), Vec::<String>::new(), "containers left");
        let dirs = |p: &str| {
            fs::read_dir(self.root().join(p))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let mut containers = dirs("containers");
        containers.retain(|n| n != ".names");
        assert_eq!(containers, Vec::<String>::new(), "container dirs left");
        assert_eq!(
            dirs("containers/.names"),
            Vec::<String>::new(),
            "container names left taken"
        );
        assert_eq!(dirs("runtime"), Vec::<String>::new(), "runtime state left");
        assert_eq!(dirs("sock"), Vec::<String>::new(), "console sockets left");
        assert_eq!(dirs("tmp"), Vec::<String>::new(), "staging left");
        let mounts = host::mounts_under(self.root());
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        // The parent itself is the test's (dock leaves a parent it was given); nothing below.
        let cg: Vec<_> = host::existing_cgroup_dirs(&self.cgroup_parent)
            .iter()
            .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        assert!(cg.is_empty(), "container cgroups left: {cg:?}");
        let procs = host::procs_in_cgroup(&self.cgroup_parent);
        assert!(procs.is_empty(), "processes left: {procs:?}");
    }
}

impl Drop for Dock {
    fn drop(&mut self) {
        for id in self.dock(&["ps", "-aq"]).stdout.lines() {
            let _ = self.dock(&["rm", "-f", "-v", id]);
        }
        for p in host::procs_in_cgroup(&self.cgroup_parent) {
            p.kill();
        }
        host::remove_cgroup_tree(&self.cgroup_parent);
    }
}
