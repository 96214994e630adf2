//! The state directory `<root>/<id>`: state.json, the start socket, and a lock; and the
//! container's live status, computed from the kernel rather than trusted from the file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::rootfs::shared::SharedRoot;

pub const STATE_FILE: &str = "state.json";
/// The config.json the container was created with (see spec::Config::text).
pub const CONFIG_FILE: &str = "config.json";
/// The init listens here until `start` connects; its presence means "created".
pub const START_SOCKET: &str = "init.sock";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "invalid container id {0:?}: use 1 to 1024 of A-Z a-z 0-9 _ . + -, not \".\" or \"..\""
    )]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Container ids become directory names and appear in cgroup paths: only a safe alphabet.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// What berth records about a container (runtime-spec state plus what berth needs later).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// /proc/<pid>/stat starttime: tells the init from a later process that reused its pid.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Cgroup,
    /// Whether the init has its own pid namespace (then its death ends every process in it).
    pub own_pid_ns: bool,
    /// While `pid` is 0: the `berth create` process still setting the container up, and its
    /// start time (the container is "creating" while that process lives).
    #[serde(default)]
    pub creator: Option<(i32, u64)>,
    /// The rootfs bind to detach at delete, when the container has no mount namespace of its
    /// own.
    #[serde(default)]
    pub shared_root: Option<SharedRoot>,
    /// Created with --no-new-keyring: exec'd processes keep their caller's session keyring too,
    /// as under runc (otherwise each joins a new one, as the init did).
    #[serde(default)]
    pub no_new_keyring: bool,
}

/// The runtime-spec status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<root>/<id>`.
#[derive(Clone, Debug)]
pub struct StateDir {
    pub path: PathBuf,
    pub id: String,
}

impl StateDir {
    /// Creates the state dir of a new container; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err("creating", root))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => Ok(StateDir {
                path,
                id: id.to_string(),
            }),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(StateError::Exists(id.into())),
            Err(e) => Err(io_err("creating", &path)(e)),
        }
    }

    /// The state dir of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(StateDir {
            path,
            id: id.to_string(),
        })
    }

    /// Takes the container's lock (released when the returned file is closed), so that two
    /// commands never change one container at once. The lock is on the directory itself: if a
    /// delete removed it (and a create made the id again) while we waited, the path no longer
    /// names the locked directory, and the container we meant is gone.
    pub fn lock(&self) -> Result<File, StateError> {
        let f = File::open(&self.path).map_err(io_err("opening", &self.path))?;
        rustix::fs::flock(f.as_fd(), rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err("locking", &self.path)(e.into()))?;
        let locked =
            rustix::fs::fstat(f.as_fd()).map_err(|e| io_err("locking", &self.path)(e.into()))?;
        match rustix::fs::stat(&self.path) {
            Ok(now) if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino) => Ok(f),
            _ => Err(StateError::NotFound(self.id.clone())),
        }
    }

    pub fn load(&self) -> Result<State, StateError> {
        let file = self.path.join(STATE_FILE);
        let text = match fs::read(&file) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(StateError::NotFound(self.id.clone()))
            }
            r => r.map_err(io_err("reading", &file))?,
        };
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path: file, source })
    }

    /// Writes state.json atomically (a reader never sees half a file).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let file = self.path.join(STATE_FILE);
        let json = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: file.clone(),
            source,
        })?;
        write_atomic(&tmp, &file, &json)
    }

    pub fn config_file(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    pub fn start_socket(&self) -> PathBuf {
        self.path.join(START_SOCKET)
    }

    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("removing", &self.path)(e)),
            _ => Ok(()),
        }
    }
}

/// Writes `data` to `tmp`, then renames it over `dest`.
fn write_atomic(tmp: &Path, dest: &Path, data: &[u8]) -> Result<(), StateError> {
    let mut f = File::create(tmp).map_err(io_err("writing", tmp))?;
    f.write_all(data).map_err(io_err("writing", tmp))?;
    fs::rename(tmp, dest).map_err(io_err("writing", dest))
}

/// Connects to the unix socket at `path` through /proc/self/fd/N/NAME, so that long state
/// paths still fit sun_path. Close-on-exec; non-blocking if asked (then a full backlog is EAGAIN).
pub fn connect_unix(path: &Path, nonblocking: bool) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::net::{self, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dirfd = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let mut short = format!("/proc/self/fd/{}/", std::os::fd::AsRawFd::as_raw_fd(&dirfd));
    short.push_str(&path.file_name().unwrap_or_default().to_string_lossy());
    let flags = if nonblocking {
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK
    } else {
        SocketFlags::CLOEXEC
    };
    let sock = net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, flags, None)?;
    net::connect(&sock, &SocketAddrUnix::new(short.as_str())?)?;
    Ok(sock)
}

/// The process's start time in clock ticks since boot, and whether it is a zombie; `None` if no
/// such process exists.
pub fn proc_stat(pid: i32) -> Option<(u64, bool)> {
    let text = crate::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(u64, bool)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = *fields.first()?;
    // starttime is field 22 of the whole line, the 20th after the name.
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

impl State {
    /// Whether the recorded init is still that same process, alive.
    pub fn init_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((start, zombie)) if start == self.start_time && !zombie)
    }

    /// The init still waits for `start`: it listens on the start socket until its exec (the
    /// listener is close-on-exec), so a connection is refused once the program runs, even if a
    /// `start` killed after the exec left the socket file behind. The init takes this probe
    /// for a caller that went away and keeps waiting. Independent of how berth's binary is
    /// sealed (sys::exe), unlike a look at /proc/<pid>/exe.
    fn init_waits_for_start(dir: &StateDir) -> bool {
        match connect_unix(&dir.start_socket(), true) {
            Ok(_) => true,
            Err(e) => match e.raw_os_error() {
                // The backlog is full: a `start` is being served right now, still "created".
                Some(libc::EAGAIN) => true,
                Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR) => false,
                // Cannot tell (e.g. no access): trust the socket file.
                _ => dir.start_socket().exists(),
            },
        }
    }

    pub fn status(&self, dir: &StateDir) -> Status {
        if self.pid == 0 {
            let creating = self.creator.is_some_and(
                |(pid, start)| matches!(proc_stat(pid), Some((s, zombie)) if s == start && !zombie),
            );
            return if creating {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        // A frozen container is paused, created or not (as under runc).
        if !self.init_alive() {
            Status::Stopped
        } else if self.cgroup.frozen() {
            Status::Paused
        } else if Self::init_waits_for_start(dir) {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The runtime-spec state JSON (`berth state`).
    pub fn to_oci(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        serde_json::json!({
            "ociVersion": crate::spec::OCI_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "pid": pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_x+y", "A9"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "/", "a/b", "a b", "é", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_id(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn stat_with_odd_command_names() {
        let line = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some((987654, false)));
        let z = "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert_eq!(parse_stat(z), Some((55, true)));
    }

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let pid = std::process::id() as i32;
        let (start, zombie) = proc_stat(pid).unwrap();
        assert!(!zombie);
        let s = State {
            id: "x".into(),
            pid,
            start_time: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            annotations: HashMap::new(),
            cgroup: Cgroup::default(),
            own_pid_ns: true,
            creator: None,
            shared_root: None,
            no_new_keyring: false,
        };
        assert!(s.init_alive());
        let reused = State {
            start_time: start + 1,
            ..s
        };
        assert!(!reused.init_alive());
    }
}
