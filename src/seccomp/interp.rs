//! A classic-BPF interpreter for seccomp programs. `create` asks it whether a compiled profile
//! lets the calls the init needs through; the tests run berth's and libseccomp's programs over
//! the same seccomp_data with it. It checks what the kernel's verifier would (in-bounds jumps,
//! aligned loads inside seccomp_data, a return on every path) and fails loudly otherwise.

/// struct seccomp_data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> Result<u32, String> {
        if off % 4 != 0 || off >= 64 {
            return Err(format!("load at offset {off} is outside seccomp_data"));
        }
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let o = off as usize;
        Ok(u32::from_le_bytes([
            bytes[o],
            bytes[o + 1],
            bytes[o + 2],
            bytes[o + 3],
        ]))
    }
}

/// The filter's return value for `d`, and how many instructions ran.
pub fn run(prog: &[libc::sock_filter], d: &Data) -> Result<(u32, usize), String> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        let Some(i) = prog.get(pc) else {
            return Err(format!("pc {pc} ran off the end of the program"));
        };
        steps += 1;
        let code = u32::from(i.code);
        let src = if code & 0x08 == libc::BPF_X { x } else { i.k };
        match code & 0x07 {
            libc::BPF_LD => {
                a = match code & 0xe0 {
                    libc::BPF_ABS => d.word(i.k)?,
                    libc::BPF_IMM => i.k,
                    libc::BPF_MEM => *mem.get(i.k as usize).ok_or("bad scratch slot")?,
                    m => return Err(format!("unsupported ld mode {m:#x}")),
                }
            }
            libc::BPF_LDX => {
                x = match code & 0xe0 {
                    libc::BPF_IMM => i.k,
                    libc::BPF_MEM => *mem.get(i.k as usize).ok_or("bad scratch slot")?,
                    m => return Err(format!("unsupported ldx mode {m:#x}")),
                }
            }
            libc::BPF_ST => *mem.get_mut(i.k as usize).ok_or("bad scratch slot")? = a,
            libc::BPF_STX => *mem.get_mut(i.k as usize).ok_or("bad scratch slot")? = x,
            libc::BPF_ALU => {
                a = match code & 0xf0 {
                    libc::BPF_ADD => a.wrapping_add(src),
                    libc::BPF_SUB => a.wrapping_sub(src),
                    libc::BPF_MUL => a.wrapping_mul(src),
                    libc::BPF_DIV => a.checked_div(src).ok_or("division by zero")?,
                    libc::BPF_MOD => a.checked_rem(src).ok_or("division by zero")?,
                    libc::BPF_OR => a | src,
                    libc::BPF_AND => a & src,
                    libc::BPF_XOR => a ^ src,
                    libc::BPF_LSH => a.checked_shl(src).unwrap_or(0),
                    libc::BPF_RSH => a.checked_shr(src).unwrap_or(0),
                    libc::BPF_NEG => a.wrapping_neg(),
                    op => return Err(format!("unsupported alu op {op:#x}")),
                }
            }
            libc::BPF_JMP => {
                let skip = match code & 0xf0 {
                    libc::BPF_JA => i.k as usize,
                    op => {
                        let taken = match op {
                            libc::BPF_JEQ => a == src,
                            libc::BPF_JGT => a > src,
                            libc::BPF_JGE => a >= src,
                            libc::BPF_JSET => a & src != 0,
                            _ => return Err(format!("unsupported jump {op:#x}")),
                        };
                        usize::from(if taken { i.jt } else { i.jf })
                    }
                };
                pc += skip;
            }
            libc::BPF_RET => {
                return Ok((if code & 0x18 == libc::BPF_A { a } else { i.k }, steps));
            }
            libc::BPF_MISC => {
                if code & 0xf8 == libc::BPF_TAX {
                    x = a;
                } else {
                    a = x;
                }
            }
            c => return Err(format!("unsupported class {c:#x}")),
        }
        pc += 1;
    }
}
