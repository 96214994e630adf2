//! `berth exec`: runc's flags, and where its command line ends and the process's begins.

use std::path::PathBuf;

use clap::Args;

use crate::container::{self, Error, ExecOptions, Overrides};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Send the terminal's master fd to this unix socket (with --tty and --detach).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container (default: the container's process.cwd).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Add NAME=value to the environment (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Give the process a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run as UID[:GID] (numbers).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids (repeatable, or comma-separated).
    #[arg(
        short = 'g',
        long = "additional-gids",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub additional_gids: Vec<i64>,
    /// A runtime-spec Process JSON file describing the whole process.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs, instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective, permitted (and ambient) sets (repeatable).
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N more file descriptors (3 to 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec even if the container is paused (the process waits until it is resumed).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The program and its arguments (not with --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(root: &std::path::Path, a: &ExecArgs) -> Result<i32, Error> {
    container::exec(&ExecOptions {
        root,
        id: &a.id,
        process_file: a.process.as_deref(),
        args: &a.args,
        overrides: Overrides {
            tty: a.tty,
            env: &a.env,
            cwd: a.cwd.as_deref(),
            user: a.user.as_deref(),
            additional_gids: &a.additional_gids,
            caps: &a.cap,
            no_new_privs: a.no_new_privs,
            apparmor: a.apparmor.as_deref(),
            process_label: a.process_label.as_deref(),
        },
        console_socket: a.console_socket.as_deref(),
        detach: a.detach,
        pid_file: a.pid_file.as_deref(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    })
}

/// Flags (of exec, and berth's global ones) whose value is the next argument.
const TAKES_VALUE: &[&str] = &[
    "root",
    "log",
    "log-format",
    "console-socket",
    "cwd",
    "env",
    "e",
    "user",
    "u",
    "additional-gids",
    "g",
    "process",
    "p",
    "pid-file",
    "process-label",
    "apparmor",
    "cap",
    "c",
    "preserve-fds",
];

/// For `berth [flags] exec [flags] ID CMD...`: the index of CMD, where the process's own
/// arguments begin. As in runc, nothing from there on is a flag of berth's (`exec ID ls -l`,
/// `exec ID find / -user root`).
pub fn command_start(args: &[String]) -> Option<usize> {
    let mut i = 1;
    let mut seen_exec = false;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            // Whatever follows is positional already.
            return None;
        }
        if let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            if !flag.is_empty() && !flag.contains('=') && TAKES_VALUE.contains(&flag) {
                i += 1;
            }
        } else if !seen_exec {
            if a != "exec" {
                return None;
            }
            seen_exec = true;
        } else {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_starts_after_the_id() {
        let a = v(&[
            "berth", "--root", "/r", "exec", "-t", "--cwd", "/", "c1", "ls", "-user",
        ]);
        assert_eq!(command_start(&a), Some(8));
        let a = v(&["berth", "exec", "-e", "A=1", "--env=B=2", "c1", "sh"]);
        assert_eq!(command_start(&a), Some(6));
        assert_eq!(
            command_start(&v(&["berth", "exec", "-p", "p.json", "c1"])),
            Some(5)
        );
        assert_eq!(command_start(&v(&["berth", "run", "c1"])), None);
        assert_eq!(command_start(&v(&["berth", "exec", "--", "c1", "x"])), None);
    }
}

#[cfg(test)]
mod parse_tests {
    use clap::Parser;

    use crate::cli::{normalize_args, Cli, Command};

    #[test]
    fn the_process_keeps_its_own_flags() {
        let args = [
            "berth", "-root", "/r", "exec", "-t", "-cwd", "/", "-e", "A=1", "c1", "find", "/",
            "-user", "root", "--tty",
        ];
        let cli = Cli::try_parse_from(normalize_args(args.iter().map(|s| s.to_string())))
            .expect("parses");
        let Some(Command::Exec(a)) = cli.command else {
            panic!("not exec")
        };
        assert!(a.tty);
        assert_eq!(a.id, "c1");
        assert_eq!(a.env, ["A=1"]);
        assert_eq!(a.args, ["find", "/", "-user", "root", "--tty"]);
        assert_eq!(cli.root, std::path::PathBuf::from("/r"));
    }
}
