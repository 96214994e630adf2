//! dock end to end: real images imported or loaded into a scratch `--root`, real containers
//! run through a real OCI runtime, and checks of what the container saw and what is left on
//! the host afterwards.
//!
//! Every test runs twice, once per runtime: `<name>::berth` (the berth cargo built, or
//! `$DOCK_TEST_RUNTIME`) and `<name>::runc` (`/usr/sbin/runc`, or `$DOCK_TEST_RUNC`). A test
//! that needs something berth cannot do yet names it, and its berth run is skipped while the
//! feature is in `BERTH_LACKS` — the one list to edit when berth gains it.

mod containers;
mod features;
mod harness;
mod images;
mod killed;
mod tarballs;

/// A runtime feature a test needs beyond create/start/state/kill/delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `exec`
    Exec,
    /// `process.terminal` with `--console-socket`
    Terminal,
    /// `pause` / `resume`
    Pause,
    /// memory/cpu/pids limits applied to the cgroup
    Resources,
}

/// What berth does not support yet (each lands with its own issue): tests needing one of
/// these run on runc only until it is removed from here.
pub const BERTH_LACKS: &[Feature] = &[];

/// `dock_test!(name, [features], |d| body)`: the test on berth and on runc.
macro_rules! dock_test {
    ($name:ident, [$($feat:ident),*], $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn berth() {
                let features: &[$crate::dock::Feature] = &[$($crate::dock::Feature::$feat),*];
                if let Some(d) = $crate::dock::harness::Dock::for_runtime($crate::dock::harness::Which::Berth, features) {
                    ($body)(&d);
                }
            }
            #[test]
            fn runc() {
                if let Some(d) = $crate::dock::harness::Dock::for_runtime($crate::dock::harness::Which::Runc, &[]) {
                    ($body)(&d);
                }
            }
        }
    };
}
pub(crate) use dock_test;
