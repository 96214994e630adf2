//! Host-side helpers: mountinfo parsing, cgroup hierarchies, processes, polling, scratch
//! directories that clean up their own mounts, and network namespaces.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How often polling loops look again.
pub const POLL_STEP: Duration = Duration::from_millis(20);

/// A name no other test (nor another test run) uses: `berth-it-<pid>-<n>`.
pub fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth-it-{}-{n}", std::process::id())
}

/// Polls `f` every 20 ms until it returns `Some`, panicking with `what` after `timeout`.
#[track_caller]
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        sleep(POLL_STEP);
    }
}

/// Waits for a child we spawned for at most `timeout`; `None` if it is still running.
pub fn wait_child_for(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => sleep(POLL_STEP),
        }
    }
}

/// Waits for a child we spawned; kills it (by its own handle) and panics after `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    wait_child_for(child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`{what}` did not finish within {timeout:?}; killed it")
    })
}

/// One line of /proc/<pid>/mountinfo.
#[derive(Debug, Clone)]
pub struct Mount {
    pub mount_point: String,
    pub fstype: String,
    /// Per-mount options (ro, nosuid, relatime, ...).
    pub vfs_opts: Vec<String>,
    /// Superblock options (size=, mode=, ...).
    pub sb_opts: Vec<String>,
}

impl Mount {
    pub fn has_opt(&self, opt: &str) -> bool {
        self.vfs_opts.iter().chain(&self.sb_opts).any(|o| o == opt)
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text (the host's or one a container printed). Other lines are ignored.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let split = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 6 || post.len() < 3 {
                return None;
            }
            Some(Mount {
                mount_point: unescape(pre[4]),
                fstype: post[0].to_string(),
                vfs_opts: split(pre[5]),
                sb_opts: split(post[2]),
            })
        })
        .collect()
}

pub fn host_mounts() -> Vec<Mount> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo"))
}

/// Host mounts at `dir` or below it.
pub fn mounts_under(dir: &Path) -> Vec<Mount> {
    host_mounts()
        .into_iter()
        .filter(|m| Path::new(&m.mount_point).starts_with(dir))
        .collect()
}

/// Lazily unmounts everything at or below `dir` (deepest first); true if nothing is left.
/// Only used on directories a test created, whose mounts the test (or the runtime) made.
pub fn unmount_under(dir: &Path) -> bool {
    let mut points: Vec<String> = mounts_under(dir)
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).status();
    }
    mounts_under(dir).is_empty()
}

/// Mount points of every cgroup (v1) and cgroup2 hierarchy on the host.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    host_mounts()
        .into_iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| PathBuf::from(m.mount_point))
        .collect()
}

/// `<hierarchy>/<cgroup path>` for every hierarchy where that directory exists.
pub fn existing_cgroup_dirs(cgroup_path: &str) -> Vec<PathBuf> {
    let rel = cgroup_path.trim_start_matches('/');
    cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join(rel))
        .filter(|d| d.is_dir())
        .collect()
}

/// Removes the cgroup directory `cgroup_path` and every directory below it, deepest first,
/// in every hierarchy. Never touches anything outside `cgroup_path`.
pub fn remove_cgroup_tree(cgroup_path: &str) {
    fn subdirs(dir: &Path, acc: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                subdirs(&e.path(), acc);
                acc.push(e.path());
            }
        }
    }
    for top in existing_cgroup_dirs(cgroup_path) {
        let mut dirs = Vec::new();
        subdirs(&top, &mut dirs);
        dirs.push(top);
        for d in dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// A process identified by pid and start time, so a recycled pid is not mistaken for it.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: u32,
    start: u64,
}

/// (state letter, start time) from /proc/<pid>/stat.
fn stat_of(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

impl Proc {
    pub fn of(pid: u32) -> Option<Proc> {
        stat_of(pid).map(|(_, start)| Proc { pid, start })
    }

    /// Still running (zombies count as gone).
    pub fn alive(&self) -> bool {
        matches!(stat_of(self.pid), Some((s, start)) if start == self.start && s != 'Z' && s != 'X')
    }

    /// SIGKILL by pid; only ever called on processes a test started (through the runtime).
    pub fn kill(&self) {
        if self.alive() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// Live processes whose cgroup (in any hierarchy) is `cgroup_path` or below it.
pub fn procs_in_cgroup(cgroup_path: &str) -> Vec<Proc> {
    let below = format!("{cgroup_path}/");
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cg) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        let inside = cg.lines().any(|l| {
            let path = l.splitn(3, ':').nth(2).unwrap_or("");
            path == cgroup_path || path.starts_with(&below)
        });
        if let Some(p) = Proc::of(pid).filter(|p| inside && p.alive()) {
            found.push(p);
        }
    }
    found
}

/// A scratch directory on the host; on drop it lazily unmounts anything a test (or a buggy
/// runtime) mounted at or below it, and keeps the directory rather than delete through a mount.
pub struct HostDir {
    dir: Option<tempfile::TempDir>,
}

impl HostDir {
    pub fn new() -> HostDir {
        HostDir {
            dir: Some(tempfile::tempdir().expect("tempdir")),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// Names of the entries in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path())
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if !unmount_under(dir.path()) {
                let kept = dir.keep();
                eprintln!(
                    "warning: mounts left under {}; not removing it",
                    kept.display()
                );
            }
        }
    }
}

/// A namespace kept alive by a bind mount of its nsfs file (`unshare --<kind>=FILE true`), with
/// no process in it; the HostDir unmounts the file on drop, which ends the namespace.
pub struct NsFile {
    dir: HostDir,
}

impl NsFile {
    /// `kind` is unshare's name: uts, ipc, net, mount, ...
    pub fn new(kind: &str) -> NsFile {
        let dir = HostDir::new();
        // A mount namespace's file may not sit on a shared mount (the kernel refuses the loop):
        // the directory becomes a private mount of its own first.
        let d = dir.path().display().to_string();
        for args in [
            vec!["--bind", d.as_str(), d.as_str()],
            vec!["--make-private", d.as_str()],
        ] {
            let ok = Command::new("mount").args(&args).status();
            assert!(ok.is_ok_and(|s| s.success()), "mount {args:?} failed");
        }
        let file = dir.path().join("ns");
        fs::write(&file, "").expect("create the namespace file");
        let out = Command::new("unshare")
            .arg(format!("--{kind}={}", file.display()))
            .arg("true")
            .output()
            .expect("run unshare");
        assert!(
            out.status.success(),
            "unshare --{kind}={} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        NsFile { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ns")
    }

    /// Runs `nsenter --<kind>=FILE ARGS...` and returns its stdout.
    pub fn enter(&self, kind: &str, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--{kind}={}", self.path().display()))
            .args(args)
            .output()
            .expect("run nsenter");
        assert!(
            out.status.success(),
            "nsenter {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let name = unique_name();
        ip(&["netns", "add", &name]);
        NetNs { name }
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)` (RFC 3339 date-time).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => {
            b.len() == i + 6 && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

/// The parsers above, on fixed input (no root needed).
#[test]
fn host_parsers() {
    for (s, ok) in [
        ("2026-11-24T08:07:21Z", true),
        ("2026-11-24T08:07:21.123456789+01:00", true),
        ("2026-11-24 08:07:21Z", false),
        ("2026-11-24T08:07:21", false),
        ("2026-11-24T08:07:21.Z", false),
        ("2026-11-24T08:07:21+0100", false),
    ] {
        assert_eq!(is_rfc3339(s), ok, "{s}");
    }
    let line = "83 65 0:47 / /a\\040b rw,relatime shared:1 - tmpfs tmpfs rw,size=1024k,mode=711";
    let m = &parse_mountinfo(line)[0];
    assert_eq!(
        (m.mount_point.as_str(), m.fstype.as_str()),
        ("/a b", "tmpfs")
    );
    assert_eq!((m.vfs_opts.len(), m.sb_opts.len()), (2, 3));
    assert!(m.has_opt("relatime") && m.has_opt("mode=711") && !m.has_opt("ro"));
}
