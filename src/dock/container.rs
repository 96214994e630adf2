//! Containers as dock keeps them: a record (ROOT/containers/<id>/container.json), their
//! directories, lookup by name, ID or ID prefix, their live status, and their removal.

use crate::dock::error::IoContext;
use crate::dock::runtime::Runtime;
use crate::dock::spec::Settings;
use crate::dock::store::{self, Store};
use crate::dock::{names, rootfs, Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The image as the user named it, and its ID.
    pub image: String,
    pub image_id: String,
    pub created: String,
    pub settings: Settings,
    /// Layer directories, top-most first.
    pub lowers: Vec<PathBuf>,
    /// Named volumes this container mounts (an anonymous one is named by 64 hex digits).
    pub volumes: Vec<String>,
    pub anon_volumes: Vec<String>,
    pub auto_remove: bool,
    pub interactive: bool,
    /// The OCI runtime it was created with: every later command must use the same one.
    #[serde(default)]
    pub runtime: PathBuf,
    /// The image's STOPSIGNAL (`stop` sends it first), "TERM" by default.
    #[serde(default)]
    pub stop_signal: String,
    pub state: State,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// creating (`run`/`create` making it), created, starting (a monitor is starting it),
    /// running, exited; paused is asked of the runtime.
    pub status: String,
    pub pid: i32,
    /// The dock process that owns the record while it is creating, starting or running:
    /// the one making it, then its monitor. Its start time tells it from a reused pid.
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: u64,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i32,
    pub error: String,
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Paths of one container.
pub struct Dirs {
    pub dir: PathBuf,
}

impl Dirs {
    pub fn new(store: &Store, id: &str) -> Dirs {
        Dirs {
            dir: store.containers().join(id),
        }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }
}

impl Record {
    pub fn load(store: &Store, id: &str) -> Result<Record> {
        let p = Dirs::new(store, id).record();
        let text = fs::read(&p).ctx("reading", &p)?;
        serde_json::from_slice(&text).ctx("parsing", &p)
    }

    pub fn save(&self, store: &Store) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::new(e.to_string()))?;
        store::write_atomic(&Dirs::new(store, &self.id).record(), &text)
    }

    pub fn dirs(&self, store: &Store) -> Dirs {
        Dirs::new(store, &self.id)
    }

    /// The runtime this container was created with (`fallback` for records without one).
    pub fn runtime(&self, fallback: &Runtime) -> Runtime {
        Runtime {
            bin: if self.runtime.as_os_str().is_empty() {
                fallback.bin.clone()
            } else {
                self.runtime.clone()
            },
            root: fallback.root.clone(),
        }
    }

    /// The status to show (docker's words): the record's, checked against the runtime while
    /// it claims to run.
    pub fn live_status(&self, rt: &Runtime) -> String {
        let rt = &self.runtime(rt);
        match self.state.status.as_str() {
            "running" => {}
            "creating" | "starting" => return "created".into(),
            other => return other.to_string(),
        }
        match rt.state(&self.id) {
            Some(s) if s.status == "paused" => "paused".into(),
            Some(s) if s.status == "running" || s.status == "created" => "running".into(),
            // The monitor records the exit; until it has, the container is on its way out.
            _ if self.state.owner_alive() => "running".into(),
            _ => "exited".into(),
        }
    }
}

impl State {
    /// Makes the calling dock process the record's owner.
    pub fn claim(&mut self) {
        self.monitor_pid = std::process::id() as i32;
        self.monitor_start = proc_stat("self").map_or(0, |(_, start)| start);
    }

    /// Whether the owning dock process still lives (not a zombie, not a reused pid).
    pub fn owner_alive(&self) -> bool {
        let pid = self.monitor_pid;
        let Some(p) = rustix::process::Pid::from_raw(pid) else {
            return false;
        };
        if rustix::process::test_kill_process(p).is_err() {
            return false;
        }
        match proc_stat(&pid.to_string()) {
            Some((state, start)) => {
                state != 'Z' && (self.monitor_start == 0 || start == self.monitor_start)
            }
            None => false,
        }
    }

    /// Whether a dock process is (or was, if it is gone) in the middle of it.
    pub fn in_flight(&self) -> bool {
        matches!(self.status.as_str(), "creating" | "starting" | "running")
    }
}

/// A process's state letter and start time (clock ticks after boot): fields 3 and 22 of
/// /proc/PID/stat.
fn proc_stat(pid: &str) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// Finishes what a dock killed part-way left (its record still says creating, starting or
/// running, but the process that owned it is gone and the runtime runs nothing): a container
/// that was being made, or a `--rm` one, is removed; any other is torn down and recorded as
/// exited, its status unknown. A container still running is left alone (stop, kill and rm
/// handle it). Returns the record as it now is, `None` if it was removed.
pub fn reconcile(store: &Store, rt: &Runtime, rec: Record) -> Result<Option<Record>> {
    if !rec.state.in_flight() || rec.state.owner_alive() {
        return Ok(Some(rec));
    }
    let rt = &rec.runtime(rt);
    let runs = rec.state.status != "creating"
        && rt
            .state(&rec.id)
            .is_some_and(|s| s.status == "running" || s.status == "paused");
    if runs && rec.state.status == "running" {
        return Ok(Some(rec));
    }
    let lock = store.lock()?;
    // Again under the lock: another dock may have finished it meanwhile.
    let Ok(mut rec) = Record::load(store, &rec.id) else {
        return Ok(None);
    };
    if !rec.state.in_flight() || rec.state.owner_alive() {
        return Ok(Some(rec));
    }
    if runs {
        // Started, but its monitor was killed before it could say so: it runs, unwatched.
        rec.state.status = "running".into();
        if rec.state.started_at.is_empty() {
            rec.state.started_at = crate::dock::table::rfc3339_now();
        }
        rec.save(store)?;
        return Ok(Some(rec));
    }
    if rec.state.status == "creating" || rec.auto_remove {
        let _ = teardown_and(store, rt, &rec, || drop(remove_files(store, &rec, true)));
        drop(lock);
        return Ok(None);
    }
    let _ = teardown(store, rt, &rec);
    if rec.state.status == "running" {
        rec.state.status = "exited".into();
        rec.state.exit_code = EXIT_UNKNOWN;
        rec.state.finished_at = crate::dock::table::rfc3339_now();
        rec.state.error = "dock's monitor was killed: the exit status is unknown".into();
    } else {
        // "starting": back to what it was before the start.
        rec.state.status = if rec.state.started_at.is_empty() {
            "created".into()
        } else {
            "exited".into()
        };
    }
    rec.state.pid = 0;
    rec.save(store)?;
    Ok(Some(rec))
}

/// The exit status recorded when nobody saw the container exit (docker records 255 too).
pub const EXIT_UNKNOWN: i32 = 255;

/// The IDs of every container directory.
fn ids(store: &Store) -> Result<Vec<String>> {
    let dir = store.containers();
    Ok(fs::read_dir(&dir)
        .ctx("reading", &dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_id(n))
        .collect())
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every container record (unreadable ones are skipped).
pub fn list(store: &Store) -> Result<Vec<Record>> {
    let mut out: Vec<Record> = ids(store)?
        .iter()
        .filter_map(|id| Record::load(store, id).ok())
        .collect();
    out.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(out)
}

/// A container by full ID, name, or unique ID prefix (docker's order), reading only the
/// record found.
pub fn find(store: &Store, what: &str) -> Result<Record> {
    let what = what.trim_start_matches('/');
    if is_id(what) {
        if let Ok(r) = Record::load(store, what) {
            return Ok(r);
        }
    }
    if names::indexed(store) {
        if let Some(r) = names::find(store, what) {
            return Ok(r);
        }
    } else if let Some(r) = list(store)?.into_iter().find(|r| r.name == what) {
        return Ok(r);
    }
    let hits: Vec<String> = ids(store)?
        .into_iter()
        .filter(|id| !what.is_empty() && id.starts_with(what))
        .collect();
    match hits.as_slice() {
        [id] => Record::load(store, id),
        [] => Err(Error::new(format!("No such container: {what}"))),
        _ => Err(Error::new(format!(
            "Multiple IDs found with provided prefix: {what}"
        ))),
    }
}

/// docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    name.len() >= 2
        && c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && c.all(|x| x.is_ascii_alphanumeric() || "_.-".contains(x))
}

/// The cgroup parent of containers run without `--cgroup-parent`: dock's own.
pub const CGROUP_PARENT: &str = "/dock";

/// Removes dock's own cgroup parent (/dock) once no container is left in it, in every
/// hierarchy it exists in. A parent the user named (`--cgroup-parent`) may be theirs, with
/// limits for a group of containers: it stays, as with docker.
pub fn remove_cgroup_parent(cgroups_path: &str) {
    let Some((parent, _)) = cgroups_path.rsplit_once('/') else {
        return;
    };
    if parent != CGROUP_PARENT {
        return;
    }
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for l in info.lines() {
        let fields: Vec<&str> = l.split(' ').collect();
        let fstype = fields
            .iter()
            .position(|f| *f == "-")
            .and_then(|i| fields.get(i + 1));
        if matches!(fstype, Some(&"cgroup") | Some(&"cgroup2")) {
            if let Some(mp) = fields.get(4) {
                let _ = fs::remove_dir(format!("{mp}{parent}"));
            }
        }
    }
}

/// Tears a stopped container's run down: the runtime's state, the rootfs mount, the cgroup
/// parent if empty. The container's own files stay (until `rm`). An error is the runtime's
/// refusal to delete (a missing container is no error to `delete --force`).
pub fn teardown(store: &Store, rt: &Runtime, rec: &Record) -> Result<()> {
    teardown_and(store, rt, rec, || {})
}

/// `teardown`, doing `meanwhile` (removing the container's files, for --rm) while the
/// runtime deletes its state: the runtime call is most of a teardown's time.
pub fn teardown_and(
    store: &Store,
    rt: &Runtime,
    rec: &Record,
    meanwhile: impl FnOnce(),
) -> Result<()> {
    let rt = &rec.runtime(rt);
    // No state check first: one runtime call either way ("does not exist" is fine).
    let delete = rt
        .cmd()
        .args(["delete", "--force", &rec.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let _ = rootfs::unmount(&rec.dirs(store).rootfs());
    meanwhile();
    let deleted = match delete.and_then(|c| c.wait_with_output()) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(Error::new(format!(
            "{} delete: {}",
            rt.name(),
            crate::dock::runtime::last_error(&String::from_utf8_lossy(&out.stderr))
        ))),
        Err(e) => Err(Error::new(format!("running {}: {e}", rt.bin.display()))),
    };
    remove_cgroup_parent(&rec.settings.cgroups_path);
    deleted
}

/// Waits until the container's monitor has recorded its exit (or `timeout` passes).
pub fn wait_exit(store: &Store, id: &str, timeout: Duration) -> Option<Record> {
    let end = Instant::now() + timeout;
    loop {
        match Record::load(store, id) {
            Ok(r) if r.state.status != "running" => return Some(r),
            Ok(r) if !r.state.owner_alive() => return Some(r),
            Err(_) => return None, // removed (--rm)
            Ok(_) => {}
        }
        if Instant::now() >= end {
            return Record::load(store, id).ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes a container that is not running: its directories, and its anonymous volumes
/// when asked (`rm -v`, `--rm`).
/// A runtime that refuses to delete keeps the container (its state is not lost from view)
/// unless `force`: then the refusal is only a warning.
pub fn remove(store: &Store, rt: &Runtime, rec: &Record, volumes: bool, force: bool) -> Result<()> {
    if let Err(e) = teardown(store, rt, rec) {
        if !force {
            return Err(e);
        }
        eprintln!("WARNING: {}: {}", short(&rec.id), e.msg);
    }
    remove_files(store, rec, volumes)
}

/// `remove` for a container whose run was just torn down.
pub fn remove_files(store: &Store, rec: &Record, volumes: bool) -> Result<()> {
    let d = rec.dirs(store);
    if rootfs::is_mounted(&d.rootfs()) {
        return Err(Error::new(format!(
            "container {}: its rootfs is still mounted at {}",
            short(&rec.id),
            d.rootfs().display()
        )));
    }
    // Out of containers/ at once (a removal cut short is swept from ROOT/tmp), then the name
    // is free again.
    let gone = store.trash_path();
    fs::rename(&d.dir, &gone).ctx("removing", &d.dir)?;
    names::give_up(store, &rec.name, &rec.id)?;
    fs::remove_dir_all(&gone).ctx("removing", &gone)?;
    if volumes {
        for v in &rec.anon_volumes {
            let _ = crate::dock::volume::remove(store, v, true);
        }
    }
    Ok(())
}

pub fn ensure_dir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).ctx("creating", p)
}
