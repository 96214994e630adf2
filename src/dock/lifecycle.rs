//! The container commands after `run`: ps, logs, stop, start, restart, kill, rm, pause,
//! unpause, and a container's `inspect` document.

use crate::dock::container::{self, Record};
use crate::dock::runtime::Runtime;
use crate::dock::store::Store;
use crate::dock::{logs, monitor, table, Error, Result};
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// docker's STATUS column: "Up 5 seconds", "Exited (0) 3 seconds ago", "Created".
fn status_text(r: &Record, live: &str) -> String {
    let since =
        |ts: &str| table::parse_rfc3339(ts).map(|t| table::human_duration(table::now().0 - t));
    match live {
        "running" => format!("Up {}", since(&r.state.started_at).unwrap_or_default()),
        "paused" => format!(
            "Up {} (Paused)",
            since(&r.state.started_at).unwrap_or_default()
        ),
        "exited" => match since(&r.state.finished_at) {
            Some(s) => format!("Exited ({}) {s} ago", r.state.exit_code),
            None => format!("Exited ({})", r.state.exit_code),
        },
        _ => "Created".into(),
    }
}

/// `"sh -c 'exit 3'"`, cut to 20 characters as docker's ps does.
fn command_text(r: &Record, full: bool) -> String {
    let cmd = r.settings.args.join(" ");
    let cmd = if !full && cmd.chars().count() > 20 {
        format!("{}…", cmd.chars().take(19).collect::<String>())
    } else {
        cmd
    };
    format!("\"{cmd}\"")
}

pub fn ps(store: &Store, rt: &Runtime, all: bool, quiet: bool, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for r in container::list(store)? {
        let Some(r) = container::reconcile(store, rt, r)? else {
            continue;
        };
        let live = r.live_status(rt);
        if !all && live != "running" && live != "paused" {
            continue;
        }
        if quiet {
            println!("{}", container::short(&r.id));
            continue;
        }
        let status = status_text(&r, &live);
        if json {
            let v = json!({
                "Command": command_text(&r, true), "CreatedAt": r.created, "ID": container::short(&r.id),
                "Image": r.image, "Names": r.name, "State": live, "Status": status, "Ports": "",
                "Mounts": r.settings.binds.iter().map(|b| b.destination.clone()).collect::<Vec<_>>().join(","),
                "RunningFor": table::ago(&r.created),
            });
            println!("{v}");
            continue;
        }
        rows.push(vec![
            container::short(&r.id).to_string(),
            r.image.clone(),
            command_text(&r, false),
            table::ago(&r.created),
            status,
            String::new(),
            r.name.clone(),
        ]);
    }
    if !quiet && !json {
        table::print(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ],
            &rows,
        );
    }
    Ok(())
}

pub fn logs(
    store: &Store,
    rt: &Runtime,
    what: &str,
    follow: bool,
    tail: Option<usize>,
    timestamps: bool,
) -> Result<()> {
    let r = container::find(store, what)?;
    let path = r.dirs(store).log();
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(_) if !follow => return Ok(()),
        Err(e) => return Err(Error::io("opening", &path, e)),
    };
    let mut content = Vec::new();
    f.read_to_end(&mut content)
        .map_err(|e| Error::io("reading", &path, e))?;
    let cut = content
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // (`dock logs x | head`: SIGPIPE ends the command when the reader goes, see cli.rs.)
    let out_err = |e: std::io::Error| Error::new(format!("writing the log: {e}"));
    logs::print(&content[..cut], tail, timestamps).map_err(out_err)?;
    if !follow {
        return Ok(());
    }
    let mut pos = cut as u64;
    loop {
        let running = matches!(
            container::Record::load(store, &r.id)
                .map(|r| r.live_status(rt))
                .as_deref(),
            Ok("running") | Ok("paused")
        );
        f.seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io("reading", &path, e))?;
        let mut more = Vec::new();
        f.read_to_end(&mut more)
            .map_err(|e| Error::io("reading", &path, e))?;
        let cut = more.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        logs::print(&more[..cut], None, timestamps).map_err(out_err)?;
        pos += cut as u64;
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then SIGKILL after `timeout`; returns once the exit is recorded.
pub fn stop(store: &Store, rt: &Runtime, r: &Record, timeout: u64) -> Result<()> {
    let rt = &r.runtime(rt);
    let live = r.live_status(rt);
    if live != "running" && live != "paused" {
        return Ok(());
    }
    if live == "paused" {
        let _ = rt.resume(&r.id);
    }
    let sig = r.stop_signal.trim_start_matches("SIG");
    let sig = if sig.is_empty() { "TERM" } else { sig };
    if rt.kill(&r.id, sig).is_ok() {
        if let Some(done) = container::wait_exit(store, &r.id, Duration::from_secs(timeout)) {
            if done.state.status != "running" {
                return Ok(());
            }
        } else {
            return Ok(()); // removed by its monitor (--rm)
        }
    }
    let _ = rt.kill(&r.id, "KILL");
    settle(store, rt, &r.id)
}

/// Waits for the monitor to record the exit; without a monitor, records it here.
fn settle(store: &Store, rt: &Runtime, id: &str) -> Result<()> {
    let Some(mut done) = container::wait_exit(store, id, Duration::from_secs(10)) else {
        return Ok(());
    };
    if done.state.status == "running" && !done.state.owner_alive() {
        // Its monitor is gone (killed, or a crashed dock): finish its run ourselves.
        let _ = container::teardown(store, rt, &done);
        done.state.status = "exited".into();
        done.state.exit_code = 137;
        done.state.finished_at = table::rfc3339_now();
        done.save(store)?;
    } else if done.state.status == "running" {
        return Err(Error::new(format!(
            "container {} did not stop",
            container::short(id)
        )));
    }
    Ok(())
}

pub fn start(store: &Store, rt: &Runtime, what: &str) -> Result<()> {
    let r = container::find(store, what)?;
    let rt = &r.runtime(rt);
    // A run left half-done by a killed dock is finished first (else the runtime still holds
    // the container and refuses to create it again).
    let Some(r) = container::reconcile(store, rt, r)? else {
        return Err(Error::new(format!("No such container: {what}")));
    };
    if r.state.in_flight() && r.state.owner_alive() && r.state.status != "running" {
        return Ok(()); // another dock is making or starting it
    }
    if matches!(r.live_status(rt).as_str(), "running" | "paused") {
        return Ok(());
    }
    monitor::spawn_detached(store, rt, &r.id)
}

/// `kill -s SIG`: docker takes KILL, SIGKILL or 9.
pub fn kill(store: &Store, rt: &Runtime, what: &str, signal: &str) -> Result<()> {
    let r = container::find(store, what)?;
    let rt = &r.runtime(rt);
    if !matches!(r.live_status(rt).as_str(), "running" | "paused") {
        return Err(Error::new(format!(
            "Cannot kill container: {what}: Container {} is not running",
            r.id
        )));
    }
    let sig = signal.to_ascii_uppercase();
    let sig = sig.strip_prefix("SIG").unwrap_or(&sig);
    let known = sig.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n))
        || nix::sys::signal::Signal::iterator().any(|s| s.as_str() == format!("SIG{sig}"));
    if !known {
        return Err(Error::new(format!("invalid signal: {signal}")));
    }
    rt.kill(&r.id, sig)
}

pub fn rm(store: &Store, rt: &Runtime, what: &str, force: bool, volumes: bool) -> Result<()> {
    let r = container::find(store, what)?;
    let rt = &r.runtime(rt);
    let live = r.live_status(rt);
    if live == "running" || live == "paused" {
        if !force {
            return Err(Error::new(format!("You cannot remove a {live} container {}. Stop the container before attempting removal or force remove", r.id)));
        }
        if live == "paused" {
            let _ = rt.resume(&r.id);
        }
        let _ = rt.kill(&r.id, "KILL");
        settle(store, rt, &r.id)?;
    }
    match container::Record::load(store, &r.id) {
        Ok(r) => container::remove(store, rt, &r, volumes, force),
        Err(_) => Ok(()), // its monitor removed it (--rm)
    }
}

pub fn pause(store: &Store, rt: &Runtime, what: &str, pause: bool) -> Result<()> {
    let r = container::find(store, what)?;
    let rt = &r.runtime(rt);
    let live = r.live_status(rt);
    match (pause, live.as_str()) {
        (true, "running") => rt.pause(&r.id),
        (false, "paused") => rt.resume(&r.id),
        (true, "paused") => Err(Error::new(format!("Container {} is already paused", r.id))),
        (false, "running") => Err(Error::new(format!("Container {} is not paused", r.id))),
        _ => Err(Error::new(format!("Container {} is not running", r.id))),
    }
}

/// `inspect` for a container, shaped like docker's.
pub fn inspect(store: &Store, rt: &Runtime, r: &Record) -> Value {
    let live = r.live_status(rt);
    let d = r.dirs(store);
    let s = &r.settings;
    let mounts: Vec<Value> = s
        .binds
        .iter()
        .map(|b| {
            let vol = r.volumes.iter().find(|v| b.source.contains(&format!("/volumes/{v}/")));
            json!({"Type": if vol.is_some() { "volume" } else { "bind" }, "Name": vol, "Source": b.source, "Destination": b.destination, "RW": !b.readonly})
        })
        .collect();
    let lower: Vec<String> = r.lowers.iter().map(|p| p.display().to_string()).collect();
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": s.args.first(),
        "Args": s.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": live, "Running": live == "running" || live == "paused", "Paused": live == "paused",
            "Restarting": false, "OOMKilled": false, "Dead": false, "Pid": if live == "exited" || live == "created" { 0 } else { r.state.pid },
            "ExitCode": r.state.exit_code, "Error": r.state.error, "StartedAt": r.state.started_at, "FinishedAt": r.state.finished_at,
        },
        "Image": r.image_id,
        "Name": format!("/{}", r.name),
        "LogPath": d.log(),
        "HostConfig": {
            "AutoRemove": r.auto_remove, "Privileged": s.privileged, "ReadonlyRootfs": s.read_only,
            "Memory": s.memory.unwrap_or(0), "NanoCpus": s.cpus.map_or(0, |c| (c * 1e9) as i64), "PidsLimit": s.pids_limit,
            "CapAdd": s.cap_add, "CapDrop": s.cap_drop, "NetworkMode": if s.network_host { "host" } else { "none" },
            "CgroupParent": s.cgroups_path.rsplit_once('/').map(|p| p.0),
            "Runtime": r.runtime(rt).bin,
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": s.hostname, "User": format!("{}:{}", s.uid, s.gid), "Env": s.env, "Cmd": s.args,
            "Image": r.image, "WorkingDir": s.cwd, "Tty": s.tty, "OpenStdin": r.interactive,
        },
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": lower.join(":"), "UpperDir": d.upper(), "WorkDir": d.work(), "MergedDir": d.rootfs()}},
    })
}
