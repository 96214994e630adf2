//! dock end to end: real images imported or loaded into a scratch `--root`, real containers
//! run through a real OCI runtime, and checks of what the container saw and what is left on
//! the host afterwards.
//!
//! Every test runs twice, once per runtime: `<name>::berth` (the berth cargo built, or
//! `$DOCK_TEST_RUNTIME`) and `<name>::runc` (`/usr/sbin/runc`, or `$DOCK_TEST_RUNC`).

mod containers;
mod features;
mod harness;
mod images;
mod killed;
mod statuses;
mod tarballs;

/// `dock_test!(name, |d| body)`: the test on berth and on runc.
macro_rules! dock_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn berth() {
                if let Some(d) =
                    $crate::dock::harness::Dock::for_runtime($crate::dock::harness::Which::Berth)
                {
                    ($body)(&d);
                }
            }
            #[test]
            fn runc() {
                if let Some(d) =
                    $crate::dock::harness::Dock::for_runtime($crate::dock::harness::Which::Runc)
                {
                    ($body)(&d);
                }
            }
        }
    };
}
pub(crate) use dock_test;
