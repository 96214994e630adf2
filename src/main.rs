//! The `berth` binary: parse runc's command line, run the command, report an error as one line.

use std::fs::OpenOptions;

use clap::Parser;

use berth::{cli, logging};

/// A bump arena first (see src/arena.rs): a command's allocations are many, small and freed at
/// exit.
#[global_allocator]
static ALLOC: berth::arena::Arena = berth::arena::Arena;

fn main() {
    // No socket or file of berth's may land on fd 0-2 and be handed to a container as stdio.
    berth::sys::ensure_stdio();
    // Commands that clone a process into a container run from a sealed copy of berth (see
    // sys::exe): decided on the raw arguments, so that the first process does next to nothing.
    berth::sys::exe::reexec_early(std::env::args_os().skip(1));
    let args = cli::normalize_args(std::env::args());
    let parsed = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => usage_error(e),
    };
    // --preserve-fds N hands 3..3+N to the container: they must be the caller's, checked before
    // berth opens anything that could take one of those numbers.
    if let Some(n) = cli::preserve_fds(&parsed) {
        // Socket-activation fds come first (create and run pass them on, as runc).
        let listen = match parsed.command {
            Some(cli::Command::Create(_)) | Some(cli::Command::Run { .. }) => {
                berth::process::listen_fds::from_env()
            }
            _ => 0,
        };
        if let Err(e) = berth::sys::check_open_fds(3, listen) {
            eprintln!("berth: LISTEN_FDS={listen}: {e}");
            std::process::exit(1);
        }
        if let Err(e) = berth::sys::check_open_fds(3 + listen as i32, n) {
            eprintln!("berth: --preserve-fds {n}: {e}");
            std::process::exit(1);
        }
    }
    // Checked again on the parsed command: the init, and exec's process until its execve, run
    // from the sealed copy.
    let clones_init = matches!(
        parsed.command,
        Some(cli::Command::Create(_))
            | Some(cli::Command::Run { .. })
            | Some(cli::Command::Exec(_))
    );
    // runc's code for a failed exec, which engines tell from the process's own exit codes.
    let failure_code = if matches!(parsed.command, Some(cli::Command::Exec(_))) {
        255
    } else {
        1
    };
    if clones_init {
        berth::sys::exe::ensure_sealed(failure_code);
    }
    if parsed.version {
        print!("{}", cli::version_text());
        return;
    }
    let log_file = parsed.log.as_ref().and_then(|p| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("berth: --log {}: {e}", p.display()))
            .ok()
    });
    logging::init(log_file, cli::log_format(parsed.log_format), parsed.debug);
    match cli::dispatch(parsed) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = user_message(&e.to_string());
            logging::error(&msg);
            eprintln!("berth: {msg}");
            std::process::exit(failure_code);
        }
    }
}

/// A command line clap refuses: one line, as for every other error (help and version requests
/// print as clap renders them).
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        e.exit()
    }
    eprintln!("berth: {} (see --help)", one_line(&e.render().to_string()));
    std::process::exit(e.exit_code())
}

/// clap's message without its "error: " prefix and the usage block after it, on one line.
fn one_line(rendered: &str) -> String {
    let msg = rendered.split("\n\nUsage:").next().unwrap_or(rendered);
    let msg = msg.strip_prefix("error: ").unwrap_or(msg);
    let words: Vec<&str> = msg.split_whitespace().collect();
    words.join(" ")
}

/// Rust's io::Error text ends in "(os error N)"; the user needs only the words before it.
fn user_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" (os error ") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find(')') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}
