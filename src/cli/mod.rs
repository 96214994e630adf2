//! berth's command line: runc's, flag for flag, because containerd's shim, podman's conmon and
//! dockerd call a runtime exactly as they call runc. Each subcommand parses here and calls one
//! function of container/ (or a small file of its own here).

mod cgroups;
mod exec;
mod list;
mod spec;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::container::{self, CreateOptions, Error};
use crate::logging;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "An OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Where container state lives.
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// Also write log lines (errors, warnings, --debug) to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log each phase of create with its duration.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups (not available yet: an error when set).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    /// The bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master fd to this unix socket (needs process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Enter the rootfs with MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of giving the container a new one.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N more file descriptors (3 to 3+N-1) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (set up, stopped before the user's program).
    Create(CreateArgs),
    /// Start a created container's program.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Run a process in a created or running container.
    Exec(exec::ExecArgs),
    /// Send a signal (default TERM) to the container's init, or with --all to every process.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// Delete a container; --force kills it first if it is running.
    Delete {
        id: String,
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Create and start a container; in the foreground, wait and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the stopped container after it exits (delete it later).
        #[arg(long)]
        keep: bool,
    },
    /// List containers.
    List {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: ListFormat,
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json.
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Print the features berth supports, as JSON.
    Features,
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change a container's resource limits (runc's flags, or --resources FILE or -).
    Update(Box<cgroups::UpdateArgs>),
    /// Print a container's stats and OOM kills as JSON lines (--stats: the stats once).
    Events(cgroups::EventsArgs),
    /// List a container's processes (the host's ps, or their pids with --format json).
    Ps(cgroups::PsArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// runc (Go's flag package) takes `-root` as `--root`; clap does not. Long flags given with one
/// dash are rewritten before parsing.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    const LONG: &[&str] = &[
        "root",
        "log",
        "log-format",
        "debug",
        "systemd-cgroup",
        "rootless",
        "criu",
        "bundle",
        "pid-file",
        "console-socket",
        "no-pivot",
        "no-new-keyring",
        "preserve-fds",
        "detach",
        "all",
        "force",
        "format",
        "quiet",
        "version",
        "help",
        "keep",
        "cwd",
        "env",
        "tty",
        "user",
        "additional-gids",
        "process",
        "process-label",
        "apparmor",
        "no-new-privs",
        "cap",
        "ignore-paused",
        "resources",
        "interval",
        "stats",
        "memory",
        "memory-swap",
        "memory-reservation",
        "kernel-memory",
        "kernel-memory-tcp",
        "cpu-share",
        "cpu-shares",
        "cpu-quota",
        "cpu-period",
        "cpu-rt-period",
        "cpu-rt-runtime",
        "cpuset-cpus",
        "cpuset-mems",
        "pids-limit",
        "blkio-weight",
        "l3-cache-schema",
        "mem-bw-schema",
    ];
    let args: Vec<String> = args.into_iter().collect();
    // `exec ID CMD...`: CMD's arguments are the process's, never berth's flags.
    let command = exec::command_start(&args).filter(|&i| i < args.len());
    let mut out: Vec<String> = args
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let name = a.strip_prefix('-').filter(|n| !n.starts_with('-'));
            match name {
                Some(n)
                    if i > 0
                        && command.is_none_or(|c| i < c)
                        && LONG.contains(&n.split('=').next().unwrap_or("")) =>
                {
                    format!("-{a}")
                }
                _ => a,
            }
        })
        .collect();
    if let Some(c) = command {
        out.insert(c, "--".into());
    }
    out
}

/// The `--preserve-fds` count of a create or run.
pub fn preserve_fds(cli: &Cli) -> Option<u32> {
    match &cli.command {
        Some(Command::Create(a)) | Some(Command::Run { create: a, .. }) => Some(a.preserve_fds),
        Some(Command::Exec(a)) => Some(a.preserve_fds),
        _ => None,
    }
}

pub fn version_text() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_COMMIT").unwrap_or("unknown"),
        crate::spec::OCI_VERSION
    )
}

/// Runs the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32, Error> {
    if cli.systemd_cgroup {
        return Err(Error::Usage(
            "--systemd-cgroup: berth has no systemd cgroup driver yet; drop the flag to use cgroupfs".into(),
        ));
    }
    let root = cli.root.as_path();
    let Some(command) = cli.command else {
        return Err(Error::Usage("no command given; see berth --help".into()));
    };
    match command {
        Command::Create(a) => {
            container::create(&create_options(root, &a, true))?;
        }
        Command::Run {
            create,
            detach,
            keep,
        } => {
            return container::run(&create_options(root, &create, detach), keep);
        }
        Command::Exec(a) => return exec::run(root, &a),
        Command::Start { id } => container::start(root, &id)?,
        Command::State { id } => {
            let c = container::Container::load(root, &id)?;
            let json = serde_json::to_string_pretty(&c.state.to_oci(c.status))
                .map_err(|e| Error::Usage(e.to_string()))?;
            println!("{json}");
        }
        Command::Kill { id, signal, all } => {
            container::kill(root, &id, container::parse_signal(&signal)?, all)?
        }
        Command::Delete { id, force } => container::delete(root, &id, force)?,
        Command::List { format, quiet } => list::print(root, format, quiet),
        Command::Spec { bundle, rootless } => spec::write(&bundle, rootless)?,
        Command::Features => {
            println!("{:#}", crate::features::document());
        }
        Command::Pause { id } => container::pause(root, &id)?,
        Command::Resume { id } => container::resume(root, &id)?,
        Command::Update(a) => cgroups::update(root, &a)?,
        Command::Events(a) => cgroups::events(root, &a)?,
        Command::Ps(a) => cgroups::ps(root, &a)?,
    }
    Ok(0)
}

fn create_options<'a>(
    root: &'a std::path::Path,
    a: &'a CreateArgs,
    detached: bool,
) -> CreateOptions<'a> {
    CreateOptions {
        root,
        id: &a.id,
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        new_keyring: !a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        listen_fds: crate::process::listen_fds::from_env(),
        console_socket: a.console_socket.as_deref(),
        detached,
    }
}

pub fn log_format(f: LogFormat) -> logging::Format {
    match f {
        LogFormat::Text => logging::Format::Text,
        LogFormat::Json => logging::Format::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        normalize_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags_become_double() {
        assert_eq!(
            args(&["berth", "-root", "/r", "create", "-bundle", "/b", "-b", "x", "id"]),
            ["berth", "--root", "/r", "create", "--bundle", "/b", "-b", "x", "id"]
        );
        assert_eq!(
            args(&["berth", "-log-format=json"]),
            ["berth", "--log-format=json"]
        );
        assert_eq!(
            args(&["berth", "kill", "-a", "id"]),
            ["berth", "kill", "-a", "id"]
        );
    }

    #[test]
    fn runc_command_lines_parse() {
        let cli = Cli::try_parse_from(args(&[
            "berth",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ]))
        .unwrap();
        assert!(matches!(cli.log_format, LogFormat::Json));
        match cli.command {
            Some(Command::Create(a)) => {
                assert_eq!(a.id, "c1");
                assert_eq!(a.bundle, PathBuf::from("/b"));
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(args(&["berth", "kill", "c1", "KILL"])).unwrap();
        assert!(matches!(cli.command, Some(Command::Kill { ref signal, .. }) if signal == "KILL"));
        let cli = Cli::try_parse_from(args(&["berth", "delete", "-f", "c1"])).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Delete { force: true, .. })
        ));
    }
}
