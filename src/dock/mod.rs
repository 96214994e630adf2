//! dock: a daemonless front end in the spirit of docker and podman.
//!
//! Images live in an OCI image layout under `--root` (store), their layers unpacked once each
//! (layer) and stacked with overlayfs per container (rootfs). `run` turns an image config and
//! docker's flags into a bundle (spec) and drives an OCI runtime through its CLI (runtime), as
//! containerd or conmon would; a small per-container process (monitor) holds the container's
//! stdio, writes its log and records its exit status.
//!
//! dock drives the runtime only through its CLI and links none of berth's runtime code (only
//! its table of capability names): `--runtime /usr/sbin/runc` works the same.

pub mod archive;
pub mod cli;
pub mod console;
pub mod container;
pub mod digest;
pub mod error;
pub mod exec;
pub mod flags;
pub mod image;
pub mod images;
pub mod layer;
#[cfg(test)]
mod layer_tests;
pub mod lifecycle;
pub mod load;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod reference;
pub mod rootfs;
pub mod run;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub mod store;
pub mod table;
pub mod volume;

pub use error::{Error, Result};
