//! The container lifecycle as seen from outside: create (the parent side of the clone), start,
//! exec, kill, delete, and the status checks between them; pause, update, events and ps work on
//! its cgroup.

mod create;
mod delete;
pub mod events;
mod exec;
mod foreground;
mod kill;
mod pause;
pub mod ps;
mod run;
mod start;
pub mod update;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, ExecOptions, Overrides};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume};
pub use run::run;
pub use start::start;

use std::path::Path;

use crate::cgroups::CgroupError;
use crate::spec::SpecError;
use crate::state::{State, StateDir, StateError, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The init reported a failed step.
    #[error("{0}")]
    Init(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("container {id} is {status}: {action}")]
    WrongStatus {
        id: String,
        status: Status,
        action: &'static str,
    },
    #[error("{0}")]
    Usage(String),
}

pub(crate) fn sys_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

/// An existing container: its state dir, recorded state and live status.
pub struct Container {
    pub dir: StateDir,
    pub state: State,
    pub status: Status,
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container, Error> {
        let dir = StateDir::open(root, id)?;
        let state = dir.load()?;
        let status = state.status(&dir);
        Ok(Container { dir, state, status })
    }

    /// The config the container was created with.
    pub fn config(&self) -> Result<crate::spec::Config, Error> {
        Ok(crate::spec::load_saved(
            &self.dir.config_file(),
            &self.state.bundle,
        )?)
    }

    /// The hooks of the config the container was created with (only those are parsed).
    pub fn hooks(&self) -> Result<crate::hooks::Hooks, Error> {
        crate::hooks::Hooks::from_saved_config(&self.dir.config_file()).map_err(Error::Usage)
    }

    /// Every container under `root` (unreadable ones skipped).
    pub fn list(root: &Path) -> Vec<Container> {
        let mut out: Vec<Container> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Container::load(root, &e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.state.id.cmp(&b.state.id));
        out
    }
}
