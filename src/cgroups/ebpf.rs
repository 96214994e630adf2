//! `linux.resources.devices` on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program that berth
//! assembles from the v1-equivalent state (devices::Emulated), loads with bpf(2) (sys::bpf) and
//! attaches to the container's cgroup, atomically replacing the program an earlier create or
//! update attached.
//!
//! The kernel runs it on every mknod and open of a device node in the cgroup with
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` (access_type: device
//! type in the low 16 bits, access bits in the high ones) and allows the access if it returns 1.
//! The program is a straight list of blocks, one per exception, falling through to the default;
//! a dozen instructions per rule, so it is assembled here rather than compiled from C.

use std::os::fd::AsFd;
use std::path::Path;

use super::devices::{Emulated, Exception, RWM};
use super::{io_err, CgroupError};
use crate::sys::bpf::{self, Insn};

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU_AND_K: u8 = 0x54; // dst &= imm (32-bit)
const ALU_RSH_K: u8 = 0x74; // dst >>= imm (32-bit)
const ALU_MOV_K: u8 = 0xb4; // dst = imm (32-bit)
const ALU_MOV_X: u8 = 0xbc; // dst = src (32-bit)
const JMP_JEQ_K: u8 = 0x15; // if dst == imm goto +off
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_JNE_X: u8 = 0x5d; // if dst != src goto +off
const JMP_EXIT: u8 = 0x95;

const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The block for one exception: jumps past itself unless the access matches, then returns the
/// exception's verdict (the opposite of the default).
fn block(e: &Exception, default_allow: bool) -> Vec<Insn> {
    // Jump offsets are filled in once the block's length is known (SKIP = to its end).
    const SKIP: i16 = i16::MIN;
    let kind = if e.kind == 'b' { DEV_BLOCK } else { DEV_CHAR };
    let mut b = vec![insn(JMP_JNE_K, TYPE, 0, SKIP, kind)];
    let bits = i32::from(e.access);
    if default_allow {
        // A deny exception: it matches if it covers any of the requested access (v1's
        // partial match).
        b.push(insn(ALU_MOV_X, R1, ACCESS, 0, 0));
        b.push(insn(ALU_AND_K, R1, 0, 0, bits));
        b.push(insn(JMP_JEQ_K, R1, 0, SKIP, 0));
    } else if e.access != RWM {
        // An allow exception: it matches if it covers all of the requested access.
        b.push(insn(ALU_MOV_X, R1, ACCESS, 0, 0));
        b.push(insn(ALU_AND_K, R1, 0, 0, bits));
        b.push(insn(JMP_JNE_X, R1, ACCESS, SKIP, 0));
    }
    if let Some(major) = e.major {
        b.push(insn(JMP_JNE_K, MAJOR, 0, SKIP, major as i32));
    }
    if let Some(minor) = e.minor {
        b.push(insn(JMP_JNE_K, MINOR, 0, SKIP, minor as i32));
    }
    b.push(insn(ALU_MOV_K, R0, 0, 0, i32::from(!default_allow)));
    b.push(insn(JMP_EXIT, 0, 0, 0, 0));
    let len = b.len();
    for (i, x) in b.iter_mut().enumerate() {
        if x.off == SKIP {
            x.off = (len - i - 1) as i16;
        }
    }
    b
}

/// The program for `e`.
pub fn program(e: &Emulated) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, TYPE, R1, 0, 0),
        insn(ALU_AND_K, TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, ACCESS, R1, 0, 0),
        insn(ALU_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, MINOR, R1, 8, 0),
    ];
    for ex in &e.exceptions {
        p.extend(block(ex, e.default_allow));
    }
    p.push(insn(ALU_MOV_K, R0, 0, 0, i32::from(e.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program for `e` and attaches it to the cgroup at `dir`, in place of the device
/// program attached there (atomically when there is exactly one, as after an earlier create).
pub fn install(dir: &Path, e: &Emulated) -> Result<(), CgroupError> {
    let field = "linux.resources.devices";
    let fail = |what: &str, err: std::io::Error| CgroupError::Unsupported {
        field: field.into(),
        why: format!(
            "{what} the cgroup v2 device program for {}: {err}",
            dir.display()
        ),
    };
    let prog = bpf::load_cgroup_device_prog(&program(e), c"Apache-2.0")
        .map_err(|err| fail("loading", err))?;
    let cg = std::fs::File::open(dir).map_err(io_err("opening", dir))?;
    let old = bpf::query_cgroup_device_progs(cg.as_fd()).map_err(|err| fail("listing", err))?;
    if let [id] = old[..] {
        let old_fd = bpf::prog_fd_by_id(id).map_err(|err| fail("replacing", err))?;
        return bpf::attach_cgroup_device_prog(cg.as_fd(), prog.as_fd(), Some(old_fd.as_fd()))
            .map_err(|err| fail("attaching", err));
    }
    // None (a new cgroup), or several: attach, then detach the others (all attached programs
    // must allow, so in between the old and the new rules both hold).
    bpf::attach_cgroup_device_prog(cg.as_fd(), prog.as_fd(), None)
        .map_err(|err| fail("attaching", err))?;
    for id in old {
        let old_fd = bpf::prog_fd_by_id(id).map_err(|err| fail("replacing", err))?;
        bpf::detach_cgroup_device_prog(cg.as_fd(), old_fd.as_fd())
            .map_err(|err| fail("detaching the previous", err))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::devices::{Rule, MKNOD, READ, WRITE};
    use super::*;

    /// Runs the program on one request: a tiny interpreter for the instructions `program` uses.
    fn run(p: &[Insn], kind: char, major: u32, minor: u32, access: u8) -> bool {
        let dev = if kind == 'b' { 1u64 } else { 2 };
        let ctx = [
            dev | u64::from(access) << 16,
            u64::from(major),
            u64::from(minor),
        ];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as u32 as u64;
            let jump = |cond: bool| if cond { i.off as isize } else { 0 };
            let mut off = 0;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = ctx[i.off as usize / 4];
                }
                ALU_AND_K => r[dst] = (r[dst] & imm) as u32 as u64,
                ALU_RSH_K => r[dst] = (r[dst] as u32 >> imm) as u64,
                ALU_MOV_K => r[dst] = imm,
                ALU_MOV_X => r[dst] = r[src] as u32 as u64,
                JMP_JEQ_K => off = jump(r[dst] == imm),
                JMP_JNE_K => off = jump(r[dst] != imm),
                JMP_JNE_X => off = jump(r[dst] != r[src]),
                JMP_EXIT => return r[0] == 1,
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc = (pc as isize + 1 + off) as usize;
        }
    }

    fn rules(seed: u64) -> Vec<Rule> {
        // A small deterministic generator: rules over a few devices, all kinds of access.
        let mut x = seed;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut out = Vec::new();
        for _ in 0..next(8) + 1 {
            let kind = ['a', 'c', 'c', 'b'][next(4) as usize];
            let pick = |v: u64| (v < 3).then_some(v as i64);
            let access: String = ["r", "w", "m", "rw", "rm", "wm", "rwm"][next(7) as usize].into();
            out.push(Rule {
                allow: next(2) == 0,
                kind,
                major: pick(next(4)),
                minor: pick(next(4)),
                access,
            });
        }
        out
    }

    /// The program decides every request exactly as the v1 controller would.
    #[test]
    fn program_matches_v1_semantics() {
        for seed in 0..400 {
            let rules = rules(seed);
            let e = Emulated::new(&rules);
            let p = program(&e);
            for kind in ['c', 'b'] {
                for major in 0..4 {
                    for minor in 0..4 {
                        for access in [READ, WRITE, MKNOD, READ | WRITE, RWM] {
                            assert_eq!(
                                run(&p, kind, major, minor, access),
                                e.allows(kind, major.into(), minor.into(), access),
                                "{rules:?} {kind} {major}:{minor} {access}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The kernel's verifier accepts the programs (needs root; loads, never attaches).
    #[test]
    fn verifier_accepts_programs() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        for seed in [1, 2, 3, 50] {
            let p = program(&Emulated::new(&rules(seed)));
            if let Err(e) = bpf::load_cgroup_device_prog(&p, c"Apache-2.0") {
                if e.raw_os_error() == Some(libc::EPERM) {
                    return; // no CAP_BPF/CAP_SYS_ADMIN here
                }
                panic!("seed {seed}: {e}");
            }
        }
    }
}
