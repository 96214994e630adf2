//! dock's command line (docker's commands and flags) and the image and volume commands.

use crate::dock::container;
use crate::dock::error::EXIT_DOCK;
use crate::dock::image;
use crate::dock::reference::Reference;
use crate::dock::runtime::Runtime;
use crate::dock::store::{self, Store};
use crate::dock::{
    archive, exec, images, lifecycle, load, monitor, run, table, volume, Error, Result,
};
use clap::{ArgAction, Args, Parser, Subcommand};
use nix::sys::signal::{SigHandler, Signal};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "dock",
    version,
    about = "A daemonless container front end: docker's commands, any OCI runtime"
)]
struct Cli {
    /// dock's state: images, layers, containers, volumes
    #[arg(long, global = true, default_value = "/var/lib/dock")]
    root: PathBuf,
    /// The OCI runtime binary (default: the berth next to dock, else on $PATH)
    #[arg(long, global = true)]
    runtime: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a command in a new container
    Run(RunArgs),
    /// Create a new container (not started)
    Create(RunArgs),
    /// List containers
    Ps {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Fetch a container's logs
    Logs {
        #[arg(short, long)]
        follow: bool,
        /// Number of lines from the end ("all" for every line)
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        #[arg(short, long)]
        timestamps: bool,
        container: String,
    },
    /// Stop running containers (SIGTERM, then SIGKILL)
    Stop {
        #[arg(short = 't', long = "time", default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Start stopped containers
    Start {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart containers
    Restart {
        #[arg(short = 't', long = "time", default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers
    Rm {
        #[arg(short, long)]
        force: bool,
        /// Also remove the container's anonymous volumes
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Pause all processes of containers
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List images
    Images {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Import a rootfs tarball (plain, gzip or zstd; - for stdin) as a one-layer image
    Import {
        /// Dockerfile-like instructions for the image config (CMD, ENTRYPOINT, ENV, USER, WORKDIR, STOPSIGNAL, VOLUME)
        #[arg(short, long = "change")]
        change: Vec<String>,
        file: PathBuf,
        reference: Option<String>,
    },
    /// Load images from a docker-save or OCI image-layout archive
    Load {
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Save images to an archive docker load and podman load read
    Save {
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Remove images
    Rmi {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Low-level information on containers or images, as JSON
    Inspect {
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Manage named volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    #[command(name = "_monitor", hide = true)]
    Monitor { id: String },
}

#[derive(Subcommand)]
enum VolumeCmd {
    /// Create a volume
    Create { name: Option<String> },
    /// List volumes
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Args)]
#[command(disable_help_flag = true)]
struct RunArgs {
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Run in the background and print the container ID
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    #[arg(long)]
    name: Option<String>,
    #[arg(short, long = "env")]
    env: Vec<String>,
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    #[arg(short, long)]
    workdir: Option<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    entrypoint: Option<String>,
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// HOST:CTR[:ro], NAME:CTR[:ro] or CTR (an anonymous volume)
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// type=bind|volume,source=S,target=T[,readonly]
    #[arg(long)]
    mount: Vec<String>,
    #[arg(long = "read-only")]
    read_only: bool,
    #[arg(short, long)]
    memory: Option<String>,
    #[arg(long)]
    cpus: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    #[arg(long)]
    privileged: bool,
    /// none, host, or the default (a private network namespace with loopback)
    #[arg(long, alias = "net")]
    network: Option<String>,
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct ExecArgs {
    #[arg(short, long)]
    interactive: bool,
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long)]
    detach: bool,
    #[arg(short, long = "env")]
    env: Vec<String>,
    #[arg(short, long)]
    workdir: Option<String>,
    #[arg(short, long)]
    user: Option<String>,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

impl RunArgs {
    fn options(self) -> run::Options {
        run::Options {
            name: self.name,
            env: self.env,
            env_file: self.env_file,
            workdir: self.workdir,
            user: self.user,
            entrypoint: self.entrypoint,
            hostname: self.hostname,
            volumes: self.volume,
            mounts: self.mount,
            read_only: self.read_only,
            memory: self.memory,
            cpus: self.cpus,
            pids_limit: self.pids_limit,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            privileged: self.privileged,
            network: self.network,
            cgroup_parent: self.cgroup_parent,
            tty: self.tty,
            interactive: self.interactive,
            rm: self.rm,
            image: self.image,
            command: self.command,
            runtime: PathBuf::new(),
        }
    }
}

pub fn main() -> ! {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            eprintln!("dock: {}", usage_error(&e.to_string()));
            std::process::exit(EXIT_DOCK);
        }
        Err(e) => {
            let _ = e.print(); // --help, --version
            std::process::exit(0);
        }
    };
    // A reader that goes away (`dock ps -q | head -1`) ends a command quietly, as it ends
    // docker's or any Unix tool (Rust ignores SIGPIPE, and println! then panics). Only the
    // commands that pump a container's streams keep it ignored: they carry on logging.
    if !matches!(cli.cmd, Cmd::Run(_) | Cmd::Exec(_) | Cmd::Monitor { .. }) {
        // SAFETY: SIG_DFL installs no handler; nothing else in dock touches SIGPIPE.
        let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
    // run/create/exec/start report dock's own failures as 125, the others as 1 (as docker).
    let default_code = if matches!(
        cli.cmd,
        Cmd::Run(_) | Cmd::Create(_) | Cmd::Exec(_) | Cmd::Monitor { .. }
    ) {
        EXIT_DOCK
    } else {
        1
    };
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("dock: {}", e.msg);
            std::process::exit(e.code.unwrap_or(default_code));
        }
    }
}

fn dispatch(mut cli: Cli) -> Result<i32> {
    // Absolute from here on: paths go into config.json and to the monitor, which runs in /.
    let abs =
        |p: &std::path::Path| std::path::absolute(p).map_err(|e| Error::io("resolving", p, e));
    cli.root = abs(&cli.root)?;
    if let Some(r) = cli.runtime.as_mut().filter(|r| r.components().count() > 1) {
        *r = abs(r)?;
    }
    let store = Store::open(&cli.root)?;
    let rt = || -> Result<Runtime> {
        Ok(Runtime {
            bin: Runtime::locate(cli.runtime.as_deref())?,
            root: store.runtime_root(),
        })
    };
    match cli.cmd {
        Cmd::Run(a) => {
            let rt = rt()?;
            let detach = a.detach;
            if a.interactive && a.tty && !detach && !std::io::stdin().is_terminal() {
                return Err(Error::with_code(1, "the input device is not a TTY"));
            }
            let mut o = a.options();
            o.runtime = rt.bin.clone();
            let rec = run::create(&store, &o)?;
            if detach {
                monitor::spawn_detached(&store, &rt, &rec.id)?;
                // (SIGPIPE stays ignored for run: a reader gone must not abort us now.)
                let _ = writeln!(std::io::stdout(), "{}", rec.id);
                return Ok(0);
            }
            monitor::run(&store, &rt, rec, monitor::Attach::Foreground)
        }
        Cmd::Create(a) => {
            let mut o = a.options();
            o.runtime = rt()?.bin;
            let mut rec = run::create(&store, &o)?;
            let _ = crate::dock::rootfs::unmount(&rec.dirs(&store).rootfs());
            rec.state.status = "created".into();
            rec.save(&store)?;
            println!("{}", rec.id);
            Ok(0)
        }
        Cmd::Monitor { id } => {
            let rt = rt()?;
            let rec = container::Record::load(&store, &id)?;
            let ready = std::fs::File::options()
                .write(true)
                .open("/proc/self/fd/1")
                .map_err(|e| Error::new(e.to_string()))?;
            monitor::run(&store, &rt, rec, monitor::Attach::Detached(ready))
        }
        Cmd::Ps { all, quiet, format } => {
            lifecycle::ps(&store, &rt()?, all, quiet, is_json(&format)?).map(|_| 0)
        }
        Cmd::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => {
            let tail = match tail.as_str() {
                "all" => None,
                n => Some(n.parse::<usize>().map_err(|_| {
                    Error::new(format!(
                        "invalid --tail {n:?}: a number of lines or \"all\""
                    ))
                })?),
            };
            lifecycle::logs(&store, &rt()?, &container, follow, tail, timestamps).map(|_| 0)
        }
        Cmd::Stop { time, containers } => each(&containers, |c| {
            lifecycle::stop(&store, &rt()?, &container::find(&store, c)?, time)
        }),
        Cmd::Start { containers } => each(&containers, |c| lifecycle::start(&store, &rt()?, c)),
        Cmd::Restart { time, containers } => each(&containers, |c| {
            let rt = rt()?;
            lifecycle::stop(&store, &rt, &container::find(&store, c)?, time)?;
            lifecycle::start(&store, &rt, c)
        }),
        Cmd::Kill { signal, containers } => {
            each(&containers, |c| lifecycle::kill(&store, &rt()?, c, &signal))
        }
        Cmd::Rm {
            force,
            volumes,
            containers,
        } => each(&containers, |c| {
            lifecycle::rm(&store, &rt()?, c, force, volumes)
        }),
        Cmd::Pause { containers } => {
            each(&containers, |c| lifecycle::pause(&store, &rt()?, c, true))
        }
        Cmd::Unpause { containers } => {
            each(&containers, |c| lifecycle::pause(&store, &rt()?, c, false))
        }
        Cmd::Exec(a) => {
            if a.interactive && a.tty && !std::io::stdin().is_terminal() {
                return Err(Error::with_code(1, "the input device is not a TTY"));
            }
            let o = exec::Options {
                interactive: a.interactive,
                tty: a.tty,
                detach: a.detach,
                env: a.env,
                workdir: a.workdir,
                user: a.user,
                container: a.container,
                command: a.command,
            };
            exec::exec(&store, &rt()?, &o)
        }
        Cmd::Images { quiet, format } => {
            images::images(&store, quiet, is_json(&format)?).map(|_| 0)
        }
        Cmd::Import {
            change,
            file,
            reference,
        } => {
            let name = reference
                .as_deref()
                .map(Reference::parse)
                .transpose()
                .map_err(Error::new)?;
            let input = archive::open_input(Some(&file))?;
            let img = archive::import(&store, input, name.as_ref(), &change)?;
            println!("{}", img.id);
            Ok(0)
        }
        Cmd::Load { input, quiet } => {
            if input.is_none() && std::io::stdin().is_terminal() {
                return Err(Error::new(
                    "requested load from stdin, but stdin is empty (use -i FILE)",
                ));
            }
            for line in load::load(&store, archive::open_input(input.as_deref())?)? {
                if !quiet {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        Cmd::Save { output, images } => images::save(&store, output, &images).map(|_| 0),
        Cmd::Tag { source, target } => images::tag(&store, &source, &target).map(|_| 0),
        Cmd::Rmi { force, images } => {
            // rmi prints its own Untagged:/Deleted: lines, never the name it was given.
            let mut code = 0;
            for i in &images {
                if let Err(e) = images::rmi(&store, i, force) {
                    eprintln!("dock: {}", e.msg);
                    code = 1;
                }
            }
            Ok(code)
        }
        Cmd::Inspect { kind, names } => inspect(&store, &rt, kind.as_deref(), &names),
        Cmd::Volume(v) => volume_cmd(&store, v),
    }
}

/// clap's usage error as one line: its first paragraph (tips and usage dropped), and where
/// to read more.
fn usage_error(text: &str) -> String {
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = first.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    format!("{msg} (see --help)")
}

/// Runs `f` on each argument, printing each one done (as docker); status 1 if any failed.
fn each(args: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut code = 0;
    for a in args {
        match f(a) {
            Ok(()) => println!("{a}"),
            Err(e) => {
                eprintln!("dock: {}", e.msg);
                code = 1;
            }
        }
    }
    Ok(code)
}

fn is_json(format: &Option<String>) -> Result<bool> {
    match format.as_deref() {
        None | Some("table") => Ok(false),
        Some("json") | Some("{{json .}}") => Ok(true),
        Some(f) => Err(Error::with_code(
            EXIT_DOCK,
            format!("--format {f:?}: dock supports table and json"),
        )),
    }
}

fn inspect(
    store: &Store,
    rt: &dyn Fn() -> Result<Runtime>,
    kind: Option<&str>,
    names: &[String],
) -> Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        let container = |c| -> Result<Value> {
            let rt = rt()?;
            let c = container::reconcile(store, &rt, c)?
                .ok_or_else(|| Error::new(format!("No such container: {n}")))?;
            Ok(lifecycle::inspect(store, &rt, &c))
        };
        let found = match kind {
            Some("container") => container::find(store, n).and_then(container),
            Some("image") => image::resolve(store, n).and_then(|i| images::image_json(store, &i)),
            Some(k) => return Err(Error::new(format!("--type {k:?}: container or image"))),
            None => match container::find(store, n) {
                Ok(c) => container(c),
                Err(_) => image::find(store, n).ok().flatten().map_or_else(
                    || Err(Error::new(format!("No such object: {n}"))),
                    |i| images::image_json(store, &i),
                ),
            },
        };
        match found {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("dock: {}", e.msg);
                code = 1;
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    );
    Ok(code)
}

fn volume_cmd(store: &Store, v: VolumeCmd) -> Result<i32> {
    match v {
        VolumeCmd::Create { name } => {
            let name = name.unwrap_or_else(|| store::random_hex(32));
            volume::create(store, &name)?;
            println!("{name}");
        }
        VolumeCmd::Ls { quiet, format } => {
            let json = is_json(&format)?;
            let vols = volume::list(store)?;
            if quiet || json {
                for v in vols {
                    if quiet {
                        println!("{}", v["Name"].as_str().unwrap_or_default());
                    } else {
                        println!("{v}");
                    }
                }
            } else {
                let rows: Vec<Vec<String>> = vols
                    .iter()
                    .map(|v| {
                        vec![
                            "local".to_string(),
                            v["Name"].as_str().unwrap_or_default().to_string(),
                        ]
                    })
                    .collect();
                table::print(&["DRIVER", "VOLUME NAME"], &rows);
            }
        }
        VolumeCmd::Inspect { names } => {
            let vols: Vec<Value> = names
                .iter()
                .map(|n| volume::inspect(store, n))
                .collect::<Result<_>>()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&vols).unwrap_or_default()
            );
        }
        VolumeCmd::Rm { force, names } => {
            return each(&names, |n| volume::remove(store, n, force));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_one_line() {
        let e = Cli::try_parse_from(["dock", "run", "--pids-limit", "abc", "busybox"])
            .err()
            .unwrap();
        assert_eq!(
            usage_error(&e.to_string()),
            "invalid value 'abc' for '--pids-limit <PIDS_LIMIT>': invalid digit found in string (see --help)"
        );
        let e = Cli::try_parse_from(["dock", "run"]).err().unwrap();
        assert_eq!(
            usage_error(&e.to_string()),
            "the following required arguments were not provided: <IMAGE> (see --help)"
        );
    }
}
