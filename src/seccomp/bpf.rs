//! Classic BPF for seccomp, and an assembler that writes the program back to front.
//!
//! Written here because no crate assembles seccomp BPF with far jumps. Emitting from the end
//! means every jump target already exists when the jump is written, so offsets are known at
//! once; a conditional jump can only skip 255 instructions, so a farther target gets a JA
//! trampoline (32-bit offset) placed right after the jump.

use std::collections::HashMap;

pub type Insn = libc::sock_filter;

pub const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
pub const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
pub const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets into struct seccomp_data.
pub const OFF_NR: u32 = 0;
pub const OFF_ARCH: u32 = 4;
/// The low word of argument `i` (x86 is little-endian; the high word is 4 bytes on).
pub fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

/// An instruction of the finished program, counted from its end (the last one is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Beyond this distance a cached return is written again rather than reached by trampoline.
const REUSE_RET: usize = 200;

#[derive(Default)]
pub struct Asm {
    rev: Vec<Insn>,
    rets: HashMap<u32, Label>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(Insn { code, jt, jf, k });
        Label(self.rev.len())
    }

    /// How many instructions a jump written next skips to reach `l`.
    fn distance(&self, l: Label) -> usize {
        self.rev.len() - l.0
    }

    /// `ret k`, shared with earlier identical returns while they are near.
    pub fn ret(&mut self, k: u32) -> Label {
        match self.rets.get(&k) {
            Some(&l) if self.distance(l) <= REUSE_RET => l,
            _ => {
                let l = self.push(RET_K, 0, 0, k);
                self.rets.insert(k, l);
                l
            }
        }
    }

    /// `ld [off]` (a 32-bit word of seccomp_data), then on to `next`.
    pub fn load(&mut self, off: u32, next: Label) -> Label {
        self.flow_to(next);
        self.push(LD_W_ABS, 0, 0, off)
    }

    /// `and #k`, then on to `next`.
    pub fn and(&mut self, k: u32, next: Label) -> Label {
        self.flow_to(next);
        self.push(AND_K, 0, 0, k)
    }

    /// Makes the instruction written next continue at `next`: it falls through when `next` is
    /// the last one written; otherwise (a shared return, say) a JA leads there.
    fn flow_to(&mut self, next: Label) {
        if self.distance(next) != 0 {
            let d = self.distance(next) as u32;
            self.push(JA, 0, 0, d);
        }
    }

    /// A label a conditional jump written next can reach: `l` itself, or a trampoline to it.
    fn near(&mut self, l: Label) -> Label {
        match u32::try_from(self.distance(l)) {
            Ok(d) if d <= 255 => l,
            Ok(d) => self.push(JA, 0, 0, d),
            Err(_) => unreachable!("a seccomp program never exceeds 4G instructions"),
        }
    }

    /// `jxx #k, t, f`. Identical targets need no test at all.
    pub fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) -> Label {
        if t == f {
            return t;
        }
        let t = self.near(t);
        let f = self.near(f);
        let (jt, jf) = (self.distance(t), self.distance(f));
        self.push(code, jt as u8, jf as u8, k)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.rev.len()
    }

    /// The program, first instruction first.
    pub fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_count_instructions_skipped() {
        let mut a = Asm::new();
        let yes = a.ret(1);
        let no = a.ret(2);
        a.jump(JEQ, 7, yes, no);
        let p = a.finish();
        // jeq #7, +1, +0 ; ret #2 ; ret #1
        assert_eq!((p[0].code, p[0].jt, p[0].jf, p[0].k), (JEQ, 1, 0, 7));
        assert_eq!(p[1].k, 2);
        assert_eq!(p[2].k, 1);
    }

    #[test]
    fn far_targets_get_a_trampoline() {
        let mut a = Asm::new();
        let far = a.ret(1);
        let mut next = far;
        for i in 0..300 {
            next = a.load(i, next);
        }
        let near = a.ret(2);
        a.jump(JEQ, 7, far, near);
        let p = a.finish();
        assert_eq!((p[0].code, p[0].jt, p[0].jf), (JEQ, 0, 1));
        assert_eq!(p[1].code, JA);
        // The JA lands on the far return: 1 + 1 + k == its index.
        assert_eq!(p[2 + p[1].k as usize].k, 1);
        assert_eq!(p[2].k, 2);
    }

    #[test]
    fn a_load_before_a_shared_return_jumps_to_it() {
        let mut a = Asm::new();
        let r = a.ret(1);
        a.ret(2);
        a.load(0, r);
        let p = a.finish();
        // ld ; ja +1 ; ret #2 ; ret #1
        assert_eq!((p[1].code, p[1].k), (JA, 1));
        assert_eq!(p[3].k, 1);
    }

    #[test]
    fn equal_targets_emit_nothing() {
        let mut a = Asm::new();
        let r = a.ret(1);
        assert_eq!(a.jump(JEQ, 3, r, r), r);
        assert_eq!(a.len(), 1);
    }
}
