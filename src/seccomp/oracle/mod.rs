//! Differential tests: berth's program against libseccomp's for the same profile.
//!
//! libseccomp's filter is built as runc builds it (libcontainer/seccomp/seccomp_linux.go,
//! InitSeccomp and matchCall), and both programs run in the test interpreter over the same
//! seccomp_data: every syscall number of every ABI, argument values at and around each
//! condition's edges, random ones. Every input must get the same return value (action and
//! errno) from both. Profiles: Docker's default, hand-written ones for each action, operator
//! and ABI corner, and seeded random ones (a failure prints the seed, the profile, a
//! minimized profile, the inputs, both answers and the rules for that syscall).
//!
//! Where the two legitimately differ, each difference has a test of its own that asserts
//! both answers, and the comparison is narrowed only there:
//! - the order of conditional rules with different actions on one syscall (berth: profile
//!   order; libseccomp: its own sort, or EEXIST): random profiles avoid it, see `Limits`;
//! - libseccomp bugs: wrong BPF for range tests of one argument in several rules (avoided,
//!   see `Limits`); a lost syscall-number load at optimize level 1 (compared at level 2);
//! - by design: x32 arguments are compared over 64 bits by berth, over 32 by libseccomp
//!   (compared against libseccomp's x86_64 answer where that matters); errno 4095 (refused
//!   by libseccomp, not generated).
//!
//! Names libseccomp 2.5 does not know are removed from a profile before both compile it
//! (runc skips them; berth's newer tables would not). The ignored tests are tools:
//! `unrestricted_random_profiles` lists the classes of difference without the restrictions,
//! `profile_file_matches_libseccomp` checks any profile, `dump_programs` prints both programs.

// The pieces, in the order a comparison uses them: libseccomp as runc drives it, the inputs,
// the comparison, random profiles; then the tests: matches (must agree), findings (known
// differences, asserted both ways), tools (manual, --ignored).
mod compare;
mod findings;
mod inputs;
mod matches;
mod random;
mod runc;
mod tools;

use compare::*;
use findings::*;
use inputs::*;
use matches::*;
use random::*;
use runc::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch as SpecArch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompOperator as O,
};
use serde_json::{json, Value};

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::interp::{self, Data};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// xorshift64*: deterministic, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len())]
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}
