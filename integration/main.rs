//! End-to-end tests of the runtime's CLI on real bundles: each test runs a busybox container
//! and checks what the container saw (its output), not just exit codes.
//!
//! Needs root (otherwise every test prints "skipping: ..." and passes). The runtime under test
//! is the berth binary, or `$BERTH_TEST_RUNTIME` (e.g. `/usr/sbin/runc`) to check the tests
//! themselves against another runtime. Tests marked "berth-specific" are skipped then, unless
//! `BERTH_TEST_FORCE_SPECIFIC=1`. compare.rs runs berth next to runc (`$BERTH_TEST_RUNC`,
//! default /usr/sbin/runc) and is skipped when `$BERTH_TEST_RUNTIME` is set. dock/ drives the
//! dock front end on berth and on runc (`$DOCK_TEST_RUNTIME`, `$DOCK_TEST_RUNC`).

#[macro_use]
mod common;
mod bad_input;
mod berth_cli;
mod bundle;
mod cgroups;
mod compare;
mod dock;
mod engine_calls;
mod exec;
mod fds;
mod hardening;
mod hooks;
mod host;
mod lifecycle;
mod namespaces;
mod process;
mod review_regressions;
mod rootfs;
mod seccomp;
mod terminal;
mod userns;
mod userns_mounts;
