//! `dock exec`: another process in a running container, through `RUNTIME exec --process`,
//! with the container's environment, user and capabilities plus exec's own -e/-w/-u.

use crate::dock::console::{self, ConsoleSocket, RawMode};
use crate::dock::container::{self, Record};
use crate::dock::error::{IoContext, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND};
use crate::dock::rootfs::{self, Exec};
use crate::dock::runtime::Runtime;
use crate::dock::store::{self, Store};
use crate::dock::{flags, logs, monitor, spec, Error, Result};
use std::fs;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::process::Stdio;

#[derive(Debug, Default)]
pub struct Options {
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub container: String,
    pub command: Vec<String>,
}

pub fn exec(store: &Store, rt: &Runtime, o: &Options) -> Result<i32> {
    let rec = container::find(store, &o.container)?;
    let rt = &rec.runtime(rt);
    match rec.live_status(rt).as_str() {
        "running" => {}
        "paused" => {
            return Err(Error::new(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )))
        }
        _ => return Err(Error::new(format!("Container {} is not running", rec.id))),
    }
    let mut env = Vec::new();
    for e in &o.env {
        env.extend(flags::parse_env(e).map_err(Error::new)?);
    }
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(Error::new(format!(
                "the working directory {w:?} is invalid, it needs to be an absolute path"
            )));
        }
    }
    let d = rec.dirs(store);
    let rootfs_dir = d.rootfs();
    let user = match &o.user {
        Some(u) => {
            let passwd = rootfs::read_in_root(&rootfs_dir, "/etc/passwd")?;
            let group = rootfs::read_in_root(&rootfs_dir, "/etc/group")?;
            Some(rootfs::resolve_user(u, &passwd, &group).map_err(Error::new)?)
        }
        None => None,
    };
    let config_path = d.bundle().join("config.json");
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(&config_path).ctx("reading", &config_path)?)
            .ctx("parsing", &config_path)?;
    let process = spec::exec_process(&config, &o.command, &env, o.workdir.as_deref(), user, o.tty);
    check(&rec, &process, &rootfs_dir)?;
    let pfile = d.dir.join(format!("exec-{}.json", store::random_hex(6)));
    fs::write(&pfile, serde_json::to_vec(&process).unwrap_or_default()).ctx("writing", &pfile)?;
    let result = if o.tty {
        exec_tty(store, rt, &rec, o, &pfile)
    } else {
        exec_plain(rt, &rec, o, &pfile)
    };
    let _ = fs::remove_file(&pfile);
    result
}

/// 126/127 before the runtime is asked, as for `run`.
fn check(rec: &Record, process: &serde_json::Value, rootfs_dir: &std::path::Path) -> Result<()> {
    let env: Vec<String> = process["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let cmd = process["args"][0].as_str().unwrap_or_default();
    let cwd = process["cwd"].as_str().unwrap_or("/");
    let binds: Vec<String> = rec
        .settings
        .binds
        .iter()
        .map(|b| b.destination.clone())
        .collect();
    match rootfs::check_executable(rootfs_dir, cmd, &env, cwd, &binds) {
        Exec::NotFound => {
            let what = if cmd.contains('/') {
                "no such file or directory"
            } else {
                "executable file not found in $PATH"
            };
            Err(Error::with_code(
                EXIT_NOT_FOUND,
                format!("exec: \"{cmd}\": {what}"),
            ))
        }
        Exec::NotExecutable(why) => Err(Error::with_code(
            EXIT_CANNOT_INVOKE,
            format!("exec: \"{cmd}\": {why}"),
        )),
        _ => Ok(()),
    }
}

fn exec_plain(rt: &Runtime, rec: &Record, o: &Options, pfile: &std::path::Path) -> Result<i32> {
    let mut c = rt.cmd();
    c.arg("exec").arg("--process").arg(pfile);
    if o.detach {
        // docker exec -d keeps nothing of the process's output.
        c.arg("--detach")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    c.arg(&rec.id);
    c.stdin(if o.interactive {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    let status = c
        .status()
        .map_err(|e| Error::new(format!("running {}: {e}", rt.bin.display())))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// With a terminal: the runtime sends the pty over the console socket and detaches; we
/// become the exec'd process's subreaper and pump the terminal until it exits.
fn exec_tty(
    store: &Store,
    rt: &Runtime,
    rec: &Record,
    o: &Options,
    pfile: &std::path::Path,
) -> Result<i32> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| Error::new(format!("becoming a subreaper: {e}")))?;
    let sigfd = monitor::signals()?;
    let sock = ConsoleSocket::bind(
        &store
            .root
            .join("sock")
            .join(format!("x{}.sock", store::random_hex(6))),
    )?;
    let pid_file = rec
        .dirs(store)
        .dir
        .join(format!("exec-{}.pid", store::random_hex(6)));
    let out = rt
        .cmd()
        .arg("exec")
        .arg("--process")
        .arg(pfile)
        .arg("--console-socket")
        .arg(&sock.path)
        .arg("--detach")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&rec.id)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("running {}: {e}", rt.bin.display())))?;
    let pid: Option<i32> = fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let _ = fs::remove_file(&pid_file);
    if !out.status.success() {
        let msg = crate::dock::runtime::last_error(&String::from_utf8_lossy(&out.stderr));
        return Err(Error::with_code(
            crate::dock::runtime::exit_code_for(&msg),
            format!("exec: {msg}"),
        ));
    }
    let pid =
        pid.ok_or_else(|| Error::new("the runtime wrote no pid file for the exec'd process"))?;
    let master = sock.receive()?;
    if o.detach {
        return Ok(0);
    }
    let stdin = std::io::stdin();
    let mut raw = None;
    if stdin.is_terminal() {
        console::copy_winsize(stdin.as_fd(), &master);
        if o.interactive {
            raw = RawMode::enter(stdin.as_fd());
        }
    }
    let io = monitor::Io {
        outputs: vec![(
            master.try_clone().map_err(|e| Error::new(e.to_string()))?,
            0,
        )],
        master: o.interactive.then_some(master),
        log: logs::Writer::new(None),
        raw,
    };
    Ok(monitor::watch(pid, io, &sigfd, true))
}
