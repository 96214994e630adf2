//! `create`: the parent side. Load and check the config, create the state dir, clone the init
//! once (all new namespaces in one clone3, into its cgroup2 directory if there is one), make and
//! limit the rest of its cgroup while the init makes its network namespace, and wait until it
//! has joined its cgroup and set the container up. Any failure kills the init and removes
//! everything created so far.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustix::net::{self, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::{sys_err, Error};
use crate::cgroups::{self, Cgroup};
use crate::channel::{self, FromInit, ToInit};
use crate::hooks::{self, Hooks, Kind};
use crate::init;
use crate::rootfs::cgroupfs;
use crate::rootfs::shared::SharedRoot;
use crate::state::{self, State, StateDir, Status};
use crate::sys::Forked;
use crate::{
    logging, lsm, namespaces, personality, process, procfs, rootfs, seccomp, spec, sysctl,
    terminal, userns,
};

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    /// Give the container a new session keyring (runc does unless --no-new-keyring).
    pub new_keyring: bool,
    pub preserve_fds: u32,
    /// Socket-activation fds passed on before the preserved ones (process::listen_fds).
    pub listen_fds: u32,
    /// Where the terminal's master goes (`--console-socket`), when process.terminal is set.
    pub console_socket: Option<&'a Path>,
    /// `create` and `run --detach`; a foreground `run` proxies the terminal itself.
    pub detached: bool,
}

/// A created container, for `run`, whose parent is the init's real parent.
pub struct Created {
    pub dir: StateDir,
    pub state: State,
    pub pidfd: Option<OwnedFd>,
    /// The master of the process's terminal, when berth proxies it (foreground `run`).
    pub console: Option<OwnedFd>,
    /// The config's poststop hooks, for `run`'s own delete.
    pub poststop: Vec<hooks::Hook>,
}

/// Undoes a partial create unless disarmed.
struct Cleanup {
    dir: Option<StateDir>,
    cgroup: Option<Cgroup>,
    child: Option<(i32, Option<OwnedFd>)>,
    shared_root: Option<SharedRoot>,
    /// In a shared mount namespace, a copy of the parent's end of the channel: shut down, it
    /// tells the init to detach the rootfs bind it attached there (init::run) before it is
    /// killed, whatever step it was at.
    shared_chan: Option<OwnedFd>,
    /// Run once the rest is undone (the lifecycle goes on to delete's steps, as under runc).
    poststop: Vec<hooks::Hook>,
    stopped_state: Vec<u8>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((pid, pidfd)) = self.child.take() {
            if let (Some(chan), Some(fd)) = (self.shared_chan.take(), &pidfd) {
                let _ = net::shutdown(&chan, net::Shutdown::Both);
                let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                let five_s = rustix::event::Timespec {
                    tv_sec: 5,
                    tv_nsec: 0,
                };
                let _ = rustix::event::poll(&mut fds, Some(&five_s));
            }
            match &pidfd {
                Some(fd) => {
                    let _ = rustix::process::pidfd_send_signal(
                        fd.as_fd(),
                        rustix::process::Signal::KILL,
                    );
                }
                None => {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(root) = self.shared_root.take() {
            let _ = root.release();
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
            hooks::run_warning_only(Kind::Poststop, &self.poststop, &self.stopped_state);
        }
    }
}

fn phase(t: &mut Instant, name: &str) {
    command_phase("create", t, name)
}

/// Logs (with --debug) how long the phase of `command` that just ended took, and starts the
/// next one.
pub(super) fn command_phase(command: &str, t: &mut Instant, name: &str) {
    if logging::debug_enabled() {
        logging::debug(&format!(
            "{command}: {name} took {}us",
            t.elapsed().as_micros()
        ));
        *t = Instant::now();
    }
}

pub fn create(o: &CreateOptions) -> Result<Created, Error> {
    create_then(o, ToInit::Commit)
}

/// `run`: creates the container and starts it at once, through the init's channel rather than
/// the start socket (which `start` would connect to, under the lock, after reading the state
/// again): the init never listens for `start`, so nothing else can start it meanwhile. On a
/// failed start the container exists, stopped; `run` deletes it.
pub fn create_and_start(o: &CreateOptions) -> Result<Created, Error> {
    create_then(o, ToInit::Start)
}

/// Creates the container; `then` (Commit or Start) hands the init over to it.
fn create_then(o: &CreateOptions, then: ToInit) -> Result<Created, Error> {
    let mut t = Instant::now();
    state::validate_id(o.id)?;
    let bundle =
        fs::canonicalize(o.bundle).map_err(sys_err(format!("bundle {}", o.bundle.display())))?;
    let config = spec::load(&bundle)?;
    let linux = config.spec.linux().as_ref();
    let mut plan = init::Plan {
        namespaces: namespaces::Plan::from_config(&config)?,
        hostname: config.spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: config.spec.domainname().clone().filter(|d| !d.is_empty()),
        rootfs: rootfs::Plan::from_config(&config, o.no_pivot)?,
        process: process::Plan::from_config(&config, o.preserve_fds)?.with_listen_fds(o.listen_fds),
        new_keyring: o.new_keyring,
        sysctl: sysctl::plan(&config)?,
        personality: linux
            .and_then(|l| l.personality().as_ref())
            .map(personality::persona)
            .transpose()
            .map_err(|e| config.invalid("linux.personality", e))?,
        // Compiled here, before anything exists, so a bad profile leaves nothing behind.
        seccomp: linux
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| seccomp::plan(&config, s))
            .transpose()?,
        hooks: hooks::InContainer::default(),
        lsm: lsm::Plan::from_config(&config)?,
        terminal: None,
        userns: None,
        cgroup: Cgroup::default(),
        in_cgroup_v2: false,
    };
    plan.userns = userns::Plan::from_config(&config, &mut plan.namespaces)?;
    if let Some(u) = &plan.userns {
        u.adjust_mounts(&mut plan.rootfs.mounts);
    }
    // Open until the init is cloned (it inherits them).
    let idmapped = rootfs::idmap::prepare(&config, &mut plan.rootfs.mounts, plan.userns.as_ref())?;
    if let Some(s) = &plan.seccomp {
        // After the filter is loaded the init makes only these calls; if the filter refuses
        // them the process cannot start, and the failure could not even be reported.
        let mut needed = vec!["execve"];
        if plan.holds_sys_admin_for_seccomp() {
            needed.push("capset");
        }
        if let Some(call) = needed.iter().find(|c| !s.lets_through(c)) {
            return Err(config
                .invalid(
                    "linux.seccomp",
                    format!(
                        "the profile denies {call}, which berth must call after loading it{}",
                        if *call == "capset" {
                            " (to drop CAP_SYS_ADMIN, since noNewPrivileges is false)"
                        } else {
                            " to start the process"
                        }
                    ),
                )
                .into());
        }
    }
    let device_rules = cgroups::devices::rules(&config)?;
    let mut hooks = Hooks::from_config(&config)?;
    let console_rx = terminal_for(&config, o, &mut plan)?;
    phase(&mut t, "loading config.json");

    let mut cleanup = Cleanup {
        dir: None,
        cgroup: None,
        child: None,
        shared_root: None,
        shared_chan: None,
        poststop: std::mem::take(&mut hooks.poststop),
        stopped_state: Vec::new(),
    };
    let dir = StateDir::create(o.root, o.id)?;
    cleanup.dir = Some(dir.clone());
    // No lock: the exclusive mkdir owns the id, other commands see no state.json until it is
    // written, and a lock fd would be inherited by the init and held until its exec.
    let cgroups_path = linux.and_then(|l| l.cgroups_path().clone());
    // mountinfo is read once for both the cgroup and the container's view of it.
    let hierarchies = cgroups::hierarchy::detect().map_err(cgroups::CgroupError::Detect)?;
    let mut cg = Cgroup::plan(&hierarchies, cgroups_path.as_deref(), o.id)?;
    plan.rootfs.cgroups = cgroup_view(&hierarchies, &cg, plan.namespaces.new_cgroup);
    // The init joins it itself (init::Plan::cgroup); only the paths matter to it.
    plan.cgroup = cg.clone();
    // The cgroup2 directory now, to clone the init into it; the v1 ones (the slowest part on a
    // hybrid host) once it is cloned, while it makes its network namespace.
    let made = cg.make(&hierarchies, cgroups::Dir::is_v2);
    cleanup.cgroup = Some(cg.clone());
    made?;
    // The state the hooks see (no init yet: "stopped" until it is written again below).
    let mut st = State {
        id: o.id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: bundle.clone(),
        rootfs: plan.rootfs.rootfs.clone(),
        created: logging::rfc3339(std::time::SystemTime::now()),
        annotations: config.spec.annotations().clone().unwrap_or_default(),
        cgroup: Cgroup::default(),
        own_pid_ns: plan.namespaces.new_pid,
        creator: {
            let me = std::process::id() as i32;
            state::proc_stat(me).map(|(start, _)| (me, start))
        },
        shared_root: None,
        no_new_keyring: !o.new_keyring,
    };
    if !cleanup.poststop.is_empty() {
        cleanup.stopped_state = hooks::state_json(&st.to_oci(Status::Stopped));
    }
    if !hooks.is_empty() {
        let mut state = st.to_oci(Status::Created);
        if let Some(m) = state.as_object_mut() {
            m.remove("pid");
        }
        plan.hooks = hooks::InContainer {
            runtime_hooks: !hooks.prestart.is_empty()
                || !hooks.create_runtime.is_empty()
                || !hooks.create_container.is_empty(),
            create_container: std::mem::take(&mut hooks.create_container),
            start_container: std::mem::take(&mut hooks.start_container),
            state,
            rootfs: hooks::c_path(&plan.rootfs.rootfs),
        };
    }
    phase(&mut t, "planning the cgroup");

    // `start` connects to it; `run` starts the init over the channel instead (ToInit::Start).
    let listener = match then {
        ToInit::Commit => Some(listen(&dir.start_socket())?),
        _ => None,
    };
    let (parent_end, init_end) = channel::pair().map_err(sys_err("creating the init channel"))?;
    // The init starts inside its cgroup2 directory (CLONE_INTO_CGROUP); a kernel without it
    // (before 5.7) gets the plain clone, and the init joins that directory too. A user
    // namespace joined by path comes first, pid and time namespaces joined by path apply to the
    // init only (see userns::clone_init).
    let into = cg.clone_into_fd();
    let (forked, joined) =
        userns::clone_init(&mut plan.namespaces, into.as_ref().map(|f| f.as_fd()))
            .map_err(Error::Init)?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_end);
            plan.in_cgroup_v2 = joined;
            init::run(&mut plan, init_end, listener)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(init_end);
    drop(listener);
    drop(idmapped);
    drop(into);
    // The init has its own copy of the console socket: ours would keep the receiver from
    // seeing the init go away.
    plan.terminal = None;
    cleanup.child = Some((pid, pidfd));
    if !plan.rootfs.own_mount_ns {
        cleanup.shared_chan = parent_end.0.try_clone().ok();
    }
    if let Some(u) = &plan.userns {
        u.write_maps(pid).map_err(|e| Error::Init(e.to_string()))?;
    }
    phase(
        &mut t,
        if joined {
            "cloning the init into its cgroup"
        } else {
            "cloning the init"
        },
    );

    // Meanwhile the init makes its network namespace; it joins the cgroup itself after Go.
    let made = cg.make(&hierarchies, |d| !d.is_v2());
    cleanup.cgroup = Some(cg.clone());
    made?;
    if let Some(u) = &plan.userns {
        u.delegate_cgroup(&hierarchies, &cg)?;
    }
    // The device rules before the init makes its device nodes: a v1 devices cgroup is rewritten
    // rule by rule (deny all, then each allow), and a mknod in between would be refused.
    cg.apply_devices(&device_rules, None)?;
    // Provisional state (the init is not set up yet: "creating" while this process lives), so
    // that if this process is killed from here on, `delete` still finds the cgroup to remove.
    st.cgroup = cg.clone();
    dir.save(&st)?;
    phase(&mut t, "creating the cgroup");
    parent_end
        .send_to_init(ToInit::Go)
        .map_err(sys_err("signalling the init"))?;
    // While the init joins the cgroup and builds the rootfs: the limits (a failure kills the
    // init, see Cleanup), the saved config and the oom score, all before anything of the
    // container's runs.
    cg.apply_resources(&config)?;
    let saved = dir.config_file();
    fs::write(&saved, &config.text).map_err(sys_err(format!("writing {}", saved.display())))?;
    if let Some(adj) = plan.process.oom_score_adj {
        // Through the host's /proc, so nothing of the container's can redirect the write.
        procfs::ProcFs::mounted()
            .and_then(|p| {
                p.write(
                    Path::new(&format!("{pid}/oom_score_adj")),
                    adj.to_string().as_bytes(),
                )
            })
            .map_err(sys_err(format!("setting process.oomScoreAdj to {adj}")))?;
    }
    phase(&mut t, "applying the limits");
    loop {
        match parent_end
            .recv_from_init()
            .map_err(sys_err("waiting for the init"))?
        {
            Some(FromInit::Ready(timings)) => {
                if logging::debug_enabled() {
                    logging::debug(&format!("create: init phases: {}", timings.trim()));
                }
                break;
            }
            Some(FromInit::SeccompListener(fd)) => {
                hand_to_seccomp_agent(&plan, &st, &bundle, pid, fd, &cleanup)?
            }
            Some(FromInit::RuntimeHooks) => {
                // Also asked when only createContainer hooks exist: they must wait for the
                // limits above.
                if !hooks.prestart.is_empty() || !hooks.create_runtime.is_empty() {
                    // In berth's own namespaces, with the init's pid as the host sees it.
                    let state =
                        hooks::state_json(&State { pid, ..st.clone() }.to_oci(Status::Created));
                    let none = hooks::Context::default();
                    hooks::run(Kind::Prestart, &hooks.prestart, &state, none)?;
                    hooks::run(Kind::CreateRuntime, &hooks.create_runtime, &state, none)?;
                }
                parent_end
                    .send_to_init(ToInit::HooksDone)
                    .map_err(sys_err("signalling the init"))?;
                phase(&mut t, "running the prestart and createRuntime hooks");
            }
            Some(FromInit::Failed(msg)) => return Err(Error::Init(msg)),
            None => {
                return Err(Error::Init(
                    "the container's init exited during setup".into(),
                ))
            }
        }
    }
    let console = console_rx
        .map(|rx| terminal::recv_master(rx.as_fd()))
        .transpose()
        .map_err(sys_err("receiving the container's terminal"))?;
    phase(&mut t, "setting up the container");
    if !plan.rootfs.own_mount_ns {
        let root = shared_root(&plan, pid)?;
        cleanup.shared_root = Some(root.clone());
        st.shared_root = Some(root);
    }

    let (start_time, _) = state::proc_stat(pid)
        .ok_or_else(|| Error::Init("the container's init exited during setup".into()))?;
    st.pid = pid;
    st.start_time = start_time;
    st.creator = None;
    let start = then == ToInit::Start;
    if start {
        // `run`: the pid file first, a path the user gave that may fail: the program must not
        // have run when `run` fails on it. Then the init execs while the state is written
        // (until then the container reads as "creating", this process being alive); a failure
        // below still kills it (cleanup).
        if let Some(pf) = o.pid_file {
            write_pid_file(pf, pid)?;
        }
        parent_end
            .send_to_init(ToInit::Start)
            .map_err(sys_err("signalling the init"))?;
    }
    dir.save(&st)?;
    if let Some(pf) = o.pid_file.filter(|_| !start) {
        write_pid_file(pf, pid)?;
    }
    if !start {
        parent_end
            .send_to_init(then)
            .map_err(sys_err("signalling the init"))?;
    }
    phase(&mut t, "writing the state");

    // Committed: from here on the init belongs to the container.
    let poststop = std::mem::take(&mut cleanup.poststop);
    let (_, pidfd) = cleanup.child.take().unwrap_or((pid, None));
    cleanup.cgroup = None;
    cleanup.dir = None;
    cleanup.shared_root = None;
    if start {
        // End-of-file: the exec happened (the channel is close-on-exec). Else the error.
        let failed = match parent_end.recv_from_init() {
            Ok(None) => None,
            Ok(Some(FromInit::Failed(msg))) => Some(Error::Init(msg)),
            Ok(Some(_)) => Some(Error::Init("unexpected message from the init".into())),
            Err(e) => Some(sys_err(format!("starting {}", o.id))(e)),
        };
        if let Some(e) = failed {
            // The container exists, stopped: as after a failed `start`, `run` removes it.
            let _ = super::delete(o.root, o.id, true);
            return Err(e);
        }
        if !hooks.poststart.is_empty() {
            let state = hooks::state_json(&st.to_oci(Status::Running));
            hooks::run_warning_only(Kind::Poststart, &hooks.poststart, &state);
        }
        phase(&mut t, "starting");
    }
    Ok(Created {
        dir,
        state: st,
        pidfd,
        console,
        poststop,
    })
}

/// Where the init built the rootfs, when the container shares a mount namespace.
fn shared_root(plan: &init::Plan, pid: i32) -> Result<SharedRoot, Error> {
    let joined = plan.namespaces.join_in_init.iter();
    let ns_path = joined
        .filter(|j| j.typ == oci_spec::runtime::LinuxNamespaceType::Mount)
        .map(|j| j.path.as_path())
        .next();
    SharedRoot::probe(pid, &plan.rootfs.rootfs, ns_path)
        .map_err(sys_err("finding the rootfs mount of the container's init"))
}

/// `process.terminal`: connects the console socket (or makes berth's own pair) before anything
/// exists, so that a missing socket leaves nothing behind. Returns berth's end of the pair.
fn terminal_for(
    config: &spec::Config,
    o: &CreateOptions,
    plan: &mut init::Plan,
) -> Result<Option<OwnedFd>, Error> {
    let p = config.spec.process().as_ref();
    let size = terminal::size_from_spec(p.and_then(|p| p.console_size()))
        .map_err(|e| config.invalid("process.consoleSize", e))?;
    let terminal = p.and_then(|p| p.terminal()).unwrap_or(false);
    let Some((term, rx)) =
        terminal::prepare(terminal, o.console_socket, o.detached, size).map_err(Error::Usage)?
    else {
        return Ok(None);
    };
    plan.terminal = Some(term);
    Ok(rx)
}

/// Copies the init's seccomp listener and sends it to the agent at `listenerPath`.
fn hand_to_seccomp_agent(
    plan: &init::Plan,
    st: &State,
    bundle: &Path,
    pid: i32,
    fd: i32,
    cleanup: &Cleanup,
) -> Result<(), Error> {
    let c = seccomp::notify::Container {
        id: &st.id,
        pid,
        // The agent is told during create, before the container runs.
        status: "creating",
        process_pid: pid,
        bundle,
        annotations: &st.annotations,
    };
    let pidfd = cleanup.child.as_ref().and_then(|(_, p)| p.as_ref());
    seccomp::notify::hand_over(plan.seccomp.as_ref(), pidfd.map(|p| p.as_fd()), fd, &c)
        .map_err(Error::Init)
}

/// The start socket, bound through /proc/self/fd so that long state paths fit sun_path.
fn listen(path: &Path) -> Result<OwnedFd, Error> {
    let what = || format!("creating {}", path.display());
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dirfd = fs::File::open(parent).map_err(sys_err(what()))?;
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let short = PathBuf::from(format!(
        "/proc/self/fd/{}/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dirfd),
        name.display()
    ));
    let sock = net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| sys_err(what())(e.into()))?;
    let addr = SocketAddrUnix::new(&short).map_err(|e| sys_err(what())(e.into()))?;
    net::bind(&sock, &addr).map_err(|e| sys_err(what())(e.into()))?;
    net::listen(&sock, 1).map_err(|e| sys_err(what())(e.into()))?;
    Ok(sock)
}

pub fn connect_start_socket(path: &Path) -> std::io::Result<OwnedFd> {
    state::connect_unix(path, false)
}

/// Writes the pid file atomically through a temp file created exclusively (O_EXCL: never
/// through a symlink someone planted at a predictable name).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    use std::io::Write;
    let what = || format!("writing the pid file {}", path.display());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(sys_err(what()))?;
    let written = f
        .write_all(pid.to_string().as_bytes())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(sys_err(what()))
}

/// What the init mounts for a `type: cgroup` mount: each hierarchy's container directory. On a
/// hybrid host the container sees the v1 hierarchies only, as under runc.
fn cgroup_view(
    hierarchies: &[cgroups::Hierarchy],
    cg: &Cgroup,
    new_namespace: bool,
) -> cgroupfs::Sources {
    let hybrid = cgroups::hierarchy::mode(hierarchies) == cgroups::Mode::Hybrid;
    let sources = cg
        .dirs
        .iter()
        .filter(|d| !(hybrid && d.hierarchy == "unified"))
        .map(|d| {
            let h = hierarchies.iter().find(|h| h.name() == d.hierarchy);
            let name = h
                .and_then(|h| h.mountpoint.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.hierarchy.clone());
            cgroupfs::Source {
                name,
                controllers: h.map(|h| h.controllers.clone()).unwrap_or_default(),
                host_dir: d.path.clone(),
            }
        })
        .collect();
    cgroupfs::Sources {
        hierarchies: sources,
        new_namespace,
    }
}
