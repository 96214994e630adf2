//! `run`: create and start in one process, then (in the foreground) forward signals to the
//! container, proxy its terminal, and exit with its status, as `runc run` does.

use std::os::fd::AsFd;

use super::create::command_phase;
use super::create::create_and_start;
use super::delete::delete_reaped;
use super::{foreground, CreateOptions, Error};

/// Runs the container; returns the exit code `berth run` should exit with.
pub fn run(o: &CreateOptions, keep: bool) -> Result<i32, Error> {
    let mask = if o.detached {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    let created = create_and_start(o)?;
    let mut t = std::time::Instant::now();
    let Some(mask) = mask else { return Ok(0) };
    let code = foreground::wait(
        created.state.pid,
        created.pidfd.as_ref().map(|f| f.as_fd()),
        mask,
        created.console,
    )?;
    command_phase("run", &mut t, "running the container");
    if !keep {
        delete_reaped(&created.dir, &created.state, created.poststop)?;
        command_phase("run", &mut t, "deleting");
    }
    Ok(code)
}
