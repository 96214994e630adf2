//! `dock run` (and `create`'s half of it): checks every flag before anything is made, then
//! makes the container — its directories, its rootfs mount, /etc/hosts & co., config.json —
//! and hands it to the monitor.

use crate::dock::container::{self, Dirs, Record, State};
use crate::dock::error::{IoContext, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND};
use crate::dock::flags::{self, VolumeArg};
use crate::dock::image::{self, Image};
use crate::dock::rootfs::{self, Exec};
use crate::dock::spec::{self, Bind, Settings};
use crate::dock::store::{self, Store};
use crate::dock::{names, volume, Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The `run` flags, as parsed by the CLI.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub name: Option<String>,
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    pub volumes: Vec<String>,
    /// `--mount` values.
    pub mounts: Vec<String>,
    pub read_only: bool,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub network: Option<String>,
    pub cgroup_parent: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub rm: bool,
    pub image: String,
    pub command: Vec<String>,
    /// The runtime binary the container will always be run with.
    pub runtime: PathBuf,
}

fn flag_err(msg: String) -> Error {
    Error::with_code(crate::dock::error::EXIT_DOCK, msg)
}

/// Checks every flag, then makes the container (status "creating", owned by this process,
/// rootfs mounted).
pub fn create(store: &Store, o: &Options) -> Result<Record> {
    // Flags first: a bad value leaves nothing behind.
    let mut vols = Vec::new();
    for v in &o.volumes {
        vols.push(flags::parse_volume(v).map_err(flag_err)?);
    }
    for m in &o.mounts {
        let v = flags::parse_mount(m).map_err(flag_err)?;
        // Unlike -v, --mount makes no missing host directory (as docker).
        if let VolumeArg::Bind { source, .. } = &v {
            if !Path::new(source).exists() {
                return Err(flag_err(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
        }
        vols.push(v);
    }
    let mut env_extra = Vec::new();
    for f in &o.env_file {
        let text = fs::read_to_string(f)
            .map_err(|e| flag_err(format!("--env-file {}: {e}", f.display())))?;
        for l in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            env_extra.extend(
                flags::parse_env(l)
                    .map_err(|e| flag_err(format!("--env-file {}: {e}", f.display())))?,
            );
        }
    }
    for e in &o.env {
        env_extra.extend(flags::parse_env(e).map_err(flag_err)?);
    }
    let memory = o
        .memory
        .as_deref()
        .map(flags::parse_memory)
        .transpose()
        .map_err(flag_err)?;
    let cpus = o
        .cpus
        .as_deref()
        .map(flags::parse_cpus)
        .transpose()
        .map_err(flag_err)?;
    let cap_add = o
        .cap_add
        .iter()
        .map(|c| flags::parse_cap(c))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(flag_err)?;
    let cap_drop = o
        .cap_drop
        .iter()
        .map(|c| flags::parse_cap(c))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(flag_err)?;
    if let Some(u) = &o.user {
        rootfs::resolve_user(u, "", "")
            .or_else(|e| {
                if e.starts_with("invalid") {
                    Err(e)
                } else {
                    Ok((0, 0, vec![]))
                }
            })
            .map_err(flag_err)?;
    }
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(flag_err(format!(
                "the working directory {w:?} is invalid, it needs to be an absolute path"
            )));
        }
    }
    if let Some(h) = &o.hostname {
        if !flags::valid_hostname(h) {
            return Err(flag_err(format!("invalid hostname {h:?}")));
        }
    }
    let network_host = match o.network.as_deref() {
        None | Some("none") | Some("bridge") | Some("default") => false,
        Some("host") => true,
        Some(n) => return Err(flag_err(format!("network {n} not found (dock has none, host and the default private namespace with loopback)"))),
    };
    let cgroup_parent = o
        .cgroup_parent
        .clone()
        .unwrap_or_else(|| container::CGROUP_PARENT.into());
    if !cgroup_parent.starts_with('/')
        || cgroup_parent.split('/').any(|c| c == ".." || c == ".")
        || cgroup_parent.len() < 2
    {
        return Err(flag_err(format!(
            "--cgroup-parent {cgroup_parent:?}: must be an absolute cgroup path such as /dock"
        )));
    }
    if let Some(n) = &o.name {
        if !container::valid_name(n) {
            return Err(flag_err(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
    }
    let img = image::find(store, &o.image)?.ok_or_else(|| {
        let shown = crate::dock::reference::Reference::parse(&o.image).map(|r| r.key()).unwrap_or_else(|_| o.image.clone());
        flag_err(format!("Unable to find image '{shown}' locally (dock has no registry client: use dock load or dock import)"))
    })?;
    let exec = img.exec_config();
    let entrypoint: Vec<String> = match &o.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => exec.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !o.command.is_empty() {
        o.command.clone()
    } else if o.entrypoint.is_some() {
        Vec::new()
    } else {
        exec.cmd().clone().unwrap_or_default()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(flag_err("No command specified".into()));
    }

    // Now the container: its name is taken and its record saved under the store lock.
    let lock = store.lock()?;
    let id = store::random_hex(32);
    let name = match &o.name {
        Some(n) => match names::take(store, n, &id)? {
            Ok(()) => n.clone(),
            Err(holder) => return Err(flag_err(format!("Conflict. The container name \"/{n}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."))),
        },
        None => names::generate(store, &id)?,
    };
    let dirs = Dirs::new(store, &id);
    for d in [dirs.upper(), dirs.work(), dirs.rootfs()] {
        container::ensure_dir(&d)?;
    }
    let mut rec = Record {
        id: id.clone(),
        name,
        image: o.image.clone(),
        image_id: img.id.clone(),
        created: crate::dock::table::rfc3339_now(),
        settings: Settings::default(),
        lowers: img.lower_dirs(store)?,
        volumes: Vec::new(),
        anon_volumes: Vec::new(),
        auto_remove: o.rm,
        interactive: o.interactive,
        runtime: o.runtime.clone(),
        stop_signal: exec.stop_signal().clone().unwrap_or_default(),
        state: State {
            status: "creating".into(),
            ..Default::default()
        },
    };
    rec.state.claim();
    // Saved with the name, under the lock: a name file is stale only if its record is gone.
    // Everything is removed again if anything below fails.
    rec.save(store)?;
    drop(lock);
    match populate(
        store,
        o,
        &img,
        &mut rec,
        &vols,
        env_extra,
        args,
        memory,
        cpus,
        cap_add,
        cap_drop,
        network_host,
        &cgroup_parent,
    ) {
        Ok(()) => Ok(rec),
        Err(e) => {
            let _ = rootfs::unmount(&dirs.rootfs());
            let _ = container::remove_files(store, &rec, true);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn populate(
    store: &Store,
    o: &Options,
    img: &Image,
    rec: &mut Record,
    vols: &[VolumeArg],
    env_extra: Vec<String>,
    args: Vec<String>,
    memory: Option<i64>,
    cpus: Option<f64>,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    network_host: bool,
    cgroup_parent: &str,
) -> Result<()> {
    let dirs = rec.dirs(store);
    let exec = img.exec_config();
    let mut binds = Vec::new();
    for v in vols {
        binds.push(match v {
            VolumeArg::Bind {
                source,
                dest,
                readonly,
            } => {
                // docker -v makes a missing host directory.
                if !Path::new(source).exists() {
                    fs::create_dir_all(source).map_err(|e| {
                        flag_err(format!(
                            "-v {source}:{dest}: creating the host directory: {e}"
                        ))
                    })?;
                }
                Bind {
                    source: source.clone(),
                    destination: dest.clone(),
                    readonly: *readonly,
                }
            }
            VolumeArg::Named {
                name,
                dest,
                readonly,
            } => {
                volume::create(store, name)?;
                rec.volumes.push(name.clone());
                Bind {
                    source: volume::data_dir(store, name).display().to_string(),
                    destination: dest.clone(),
                    readonly: *readonly,
                }
            }
            VolumeArg::Anonymous { dest } => anonymous(store, rec, dest)?,
        });
    }
    // The image's VOLUMEs not covered by -v get anonymous volumes.
    for dest in exec.volumes().clone().unwrap_or_default() {
        if !binds
            .iter()
            .any(|b: &Bind| b.destination.trim_end_matches('/') == dest.trim_end_matches('/'))
        {
            binds.push(anonymous(store, rec, &dest)?);
        }
    }
    rootfs::mount_overlay(&rec.lowers, &dirs.upper(), &dirs.work(), &dirs.rootfs())?;
    let rootfs_dir = dirs.rootfs();
    for b in &binds {
        if rec
            .volumes
            .iter()
            .any(|v| Path::new(&b.source) == volume::data_dir(store, v))
        {
            rootfs::copy_up(&rootfs_dir, &b.destination, Path::new(&b.source))?;
        }
    }
    let hostname = match (&o.hostname, network_host) {
        (Some(h), _) => h.clone(),
        (None, true) => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        (None, false) => container::short(&rec.id).to_string(),
    };
    let mut env: Vec<String> = Vec::new();
    let image_env = exec.env().clone().unwrap_or_default();
    if !image_env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", rootfs::DEFAULT_PATH));
    }
    env.push(format!("HOSTNAME={hostname}"));
    spec::merge_env(&mut env, &image_env);
    if o.tty {
        spec::merge_env(&mut env, &["TERM=xterm".to_string()]);
    }
    spec::merge_env(&mut env, &env_extra);
    let cwd = o
        .workdir
        .clone()
        .or_else(|| exec.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    let user = o
        .user
        .clone()
        .or_else(|| exec.user().clone().filter(|u| !u.is_empty()));
    let (uid, gid, additional_gids) = match &user {
        Some(u) => {
            let passwd = rootfs::read_in_root(&rootfs_dir, "/etc/passwd")?;
            let group = rootfs::read_in_root(&rootfs_dir, "/etc/group")?;
            rootfs::resolve_user(u, &passwd, &group).map_err(flag_err)?
        }
        None => (0, 0, Vec::new()),
    };
    rootfs::make_dirs_in_root(&rootfs_dir, &cwd)?;
    let bind_dests: Vec<String> = binds.iter().map(|b| b.destination.clone()).collect();
    match rootfs::check_executable(&rootfs_dir, &args[0], &env, &cwd, &bind_dests) {
        Exec::Ok | Exec::Unknown => {}
        Exec::NotFound => {
            let what = if args[0].contains('/') {
                "no such file or directory"
            } else {
                "executable file not found in $PATH"
            };
            return Err(Error::with_code(
                EXIT_NOT_FOUND,
                format!("exec: \"{}\": {what}", args[0]),
            ));
        }
        Exec::NotExecutable(why) => {
            return Err(Error::with_code(
                EXIT_CANNOT_INVOKE,
                format!("exec: \"{}\": {why}", args[0]),
            ))
        }
    }
    rec.settings = Settings {
        args,
        env,
        cwd,
        uid,
        gid,
        additional_gids,
        hostname: hostname.clone(),
        tty: o.tty,
        read_only: o.read_only,
        privileged: o.privileged,
        cap_add,
        cap_drop,
        binds,
        network_host,
        cgroups_path: format!("{cgroup_parent}/{}", rec.id),
        memory,
        cpus,
        pids_limit: o.pids_limit.filter(|p| *p > 0),
    };
    let etc = etc_files(&dirs.dir, &hostname, network_host)?;
    let config = spec::generate(&rec.settings, &rootfs_dir.display().to_string(), &etc);
    let path = dirs.bundle().join("config.json");
    fs::write(&path, serde_json::to_vec(&config).unwrap_or_default()).ctx("writing", &path)?;
    rec.save(store)
}

fn anonymous(store: &Store, rec: &mut Record, dest: &str) -> Result<Bind> {
    let name = store::random_hex(32);
    volume::create(store, &name)?;
    rec.volumes.push(name.clone());
    rec.anon_volumes.push(name.clone());
    Ok(Bind {
        source: volume::data_dir(store, &name).display().to_string(),
        destination: dest.to_string(),
        readonly: false,
    })
}

/// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, bound over the image's.
fn etc_files(dir: &Path, hostname: &str, network_host: bool) -> Result<Vec<Bind>> {
    let hosts = if network_host {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.0.1\t{hostname}\n")
    };
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // The host's loopback resolvers are not reachable from a private network namespace.
    let resolv: String = if network_host {
        host_resolv
    } else {
        host_resolv
            .lines()
            .filter(|l| {
                !(l.starts_with("nameserver") && (l.contains(" 127.") || l.contains(" ::1")))
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let mut out = Vec::new();
    for (name, content, dest) in [
        ("hosts", hosts, "/etc/hosts"),
        ("hostname", format!("{hostname}\n"), "/etc/hostname"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
    ] {
        let p = dir.join(name);
        fs::write(&p, content).ctx("writing", &p)?;
        out.push(Bind {
            source: p.display().to_string(),
            destination: dest.to_string(),
            readonly: false,
        });
    }
    Ok(out)
}
