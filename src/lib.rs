//! berth: an OCI runtime. The library behind the `berth` binary (and, later, `dock`).
//!
//! Modules are named after the runtime-spec's concepts: a config.json field is applied in the
//! module of the same name (`namespaces`, `rootfs`, `process`, `cgroups`). `container` is the
//! lifecycle seen from outside, `init` the ordered steps inside the new container.

pub mod arena;
pub mod cgroups;
pub mod channel;
pub mod cli;
pub mod container;
pub mod features;
pub mod hooks;
pub mod init;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod personality;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod terminal;
pub mod userns;
