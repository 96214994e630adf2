//! Arbitrary bytes as a `linux.seccomp` object: berth's parser and compiler must either refuse
//! them or produce a program the kernel would load (at most BPF_MAXINSNS instructions, jumps
//! in bounds, aligned loads inside seccomp_data, a return on every path) and that answers
//! every input with a return.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The kernel's limit on a classic BPF program (include/uapi/linux/bpf_common.h).
const BPF_MAXINSNS: usize = 4096;

/// A copy of berth's test interpreter (src/seccomp/interp.rs, private to the crate), cut to
/// what a seccomp program may use: the filter's return for `data`, or what is wrong.
fn run(prog: &[libc::sock_filter], data: &[u32; 16]) -> Result<u32, String> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let i = prog.get(pc).ok_or(format!("pc {pc} ran off the end"))?;
        let code = u32::from(i.code);
        let src = if code & 0x08 == libc::BPF_X { x } else { i.k };
        match code & 0x07 {
            libc::BPF_LD => {
                a = match code & 0xe0 {
                    libc::BPF_ABS if i.k % 4 == 0 && i.k < 64 => data[i.k as usize / 4],
                    libc::BPF_ABS => return Err(format!("load at {}", i.k)),
                    libc::BPF_IMM => i.k,
                    libc::BPF_MEM => *mem.get(i.k as usize).ok_or("bad scratch slot")?,
                    m => return Err(format!("ld mode {m:#x}")),
                }
            }
            libc::BPF_LDX => {
                x = match code & 0xe0 {
                    libc::BPF_IMM => i.k,
                    libc::BPF_MEM => *mem.get(i.k as usize).ok_or("bad scratch slot")?,
                    m => return Err(format!("ldx mode {m:#x}")),
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
                    op => return Err(format!("alu op {op:#x}")),
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
                            _ => return Err(format!("jump {op:#x}")),
                        };
                        usize::from(if taken { i.jt } else { i.jf })
                    }
                };
                pc = pc.checked_add(skip).ok_or("jump overflow")?;
            }
            libc::BPF_RET => return Ok(if code & 0x18 == libc::BPF_A { a } else { i.k }),
            libc::BPF_MISC => {
                if code & 0xf8 == libc::BPF_TAX {
                    x = a;
                } else {
                    a = x;
                }
            }
            c => return Err(format!("class {c:#x}")),
        }
        pc += 1;
    }
}

/// seccomp_data as 16 words: nr, arch, ip (2), then the six arguments (low word first).
fn data(nr: u32, arch: u32, args: [u64; 6]) -> [u32; 16] {
    let mut d = [0u32; 16];
    d[0] = nr;
    d[1] = arch;
    for (i, a) in args.iter().enumerate() {
        d[4 + 2 * i] = *a as u32;
        d[5 + 2 * i] = (*a >> 32) as u32;
    }
    d
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(program) = berth::seccomp::compile_json(bytes) else {
        return;
    };
    let prog = &program.filter;
    assert!(!prog.is_empty());
    // FUZZ_IGNORE_LENGTH=1 looks past programs the kernel would refuse as too long.
    if std::env::var_os("FUZZ_IGNORE_LENGTH").is_none() {
        assert!(
            prog.len() <= BPF_MAXINSNS,
            "{} instructions: seccomp(2) would fail with EINVAL",
            prog.len()
        );
    }
    const ARCHES: [u32; 3] = [0xc000_003e, 0x4000_0003, 0xc000_00b7];
    let nrs = [
        0,
        1,
        2,
        41,
        59,
        102,
        117,
        202,
        435,
        0x4000_0000,
        0x4000_0200,
        u32::MAX,
    ];
    let args = [
        [0; 6],
        [u64::MAX; 6],
        [1, 2, 3, 0x1_0000_0000, 1 << 63, 0xffff_ffff],
    ];
    for arch in ARCHES {
        for nr in nrs {
            for a in args {
                let ret = run(prog, &data(nr, arch, a))
                    .unwrap_or_else(|e| panic!("arch {arch:#x} nr {nr}: {e}"));
                if arch == 0xc000_00b7 {
                    assert_eq!(
                        ret,
                        libc::SECCOMP_RET_KILL_THREAD,
                        "a foreign ABI got through"
                    );
                }
            }
        }
    }
});
