//! Arbitrary bytes as a `linux.seccomp` object: berth's parser and compiler must either refuse
//! them or produce a program the kernel would load (at most BPF_MAXINSNS instructions, jumps
//! in bounds, aligned loads inside seccomp_data, a return on every path) and that answers
//! every input with a return.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The kernel's limit on a classic BPF program (include/uapi/linux/bpf_common.h).
const BPF_MAXINSNS: usize = 4096;

/// The filter's return for a call, through berth's interpreter (which checks what the
/// kernel's verifier would: jumps in bounds, aligned loads inside seccomp_data).
fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> Result<u32, String> {
    let d = berth::seccomp::interp::Data {
        nr,
        arch,
        ip: 0,
        args,
    };
    berth::seccomp::interp::run(prog, &d).map(|(ret, _)| ret)
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
                let ret = run(prog, nr, arch, a)
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
