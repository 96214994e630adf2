//! Manual tools, run with --ignored: unrestricted random profiles, any profile file, both
//! programs dumped.

use super::*;

/// Random profiles without the restrictions: prints each class of difference once, as a
/// minimized profile (for checking a newer libseccomp). `cargo test --lib
/// seccomp::oracle::tools::unrestricted -- --ignored --nocapture`
#[test]
#[ignore]
fn unrestricted_random_profiles() {
    let mut seen = BTreeSet::new();
    let (mut refused, mut differ, mut ok) = (0, 0, 0);
    for seed in 0..400u64 {
        let mut rng = Rng::new(seed);
        let profile = random_profile(&mut rng, false);
        match compare(&profile, &mut rng, Sweep::Sample) {
            Ok(_) => ok += 1,
            Err(Failure::Refused(m)) => {
                refused += 1;
                let still = |p: &Value| {
                    matches!(
                        compare(p, &mut Rng::new(7), Sweep::Sample),
                        Err(Failure::Refused(_))
                    )
                };
                let min = minimize(&profile, still);
                if seen.insert(min.to_string()) {
                    eprintln!(
                        "REFUSED seed {seed}: {}\n  {min}",
                        m.lines().next().unwrap()
                    );
                }
            }
            Err(Failure::Differ { .. }) => {
                differ += 1;
                let min = minimize(&profile, still_differs);
                if seen.insert(min.to_string()) {
                    let r = compare(&min, &mut Rng::new(7), Sweep::Sample)
                        .err()
                        .unwrap();
                    let r = r.to_string();
                    let first: Vec<&str> = r.lines().skip(2).take(3).collect();
                    eprintln!("DIFFER seed {seed}:\n  {min}\n{}", first.join("\n"));
                }
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    eprintln!("agree {ok}, refused by libseccomp {refused}, differ {differ}");
}

/// Compares any profile: `PROFILE_FILE=path/to/linux.seccomp.json cargo test --lib
/// seccomp::oracle::tools::profile_file -- --ignored --nocapture`
#[test]
#[ignore]
fn profile_file_matches_libseccomp() {
    let Ok(path) = std::env::var("PROFILE_FILE") else {
        return;
    };
    let p: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let o = must_agree(&path, &p, &mut Rng::new(1), Sweep::Full);
    eprintln!(
        "{path}: {} inputs agree; berth {} instructions, libseccomp {}",
        o.inputs, o.berth_len, o.libseccomp_len
    );
}

/// Prints both programs for $PROFILE (a linux.seccomp object), and both answers for $INPUT
/// (hex: arch,nr,a0,..,a5). `PROFILE='{...}' INPUT=c000003e,0,0,0,0,0,0,0 cargo test --lib
/// seccomp::oracle::tools::dump -- --ignored --nocapture`
#[test]
#[ignore]
fn dump_programs() {
    let Ok(p) = std::env::var("PROFILE") else {
        return;
    };
    let p: Value = serde_json::from_str(&p).unwrap();
    let spec: LinuxSeccomp = serde_json::from_value(p.clone()).unwrap();
    let f = runc_filter(&spec).unwrap();
    let mut file = tempfile::tempfile().unwrap();
    f.export_pfc(&file).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut pfc = String::new();
    file.read_to_string(&mut pfc).unwrap();
    eprintln!("{pfc}");
    let ours = crate::seccomp::compile_json(p.to_string().as_bytes())
        .unwrap()
        .filter;
    let theirs = export(&f);
    for (who, prog) in [("berth", &ours), ("libseccomp", &theirs)] {
        eprintln!("{who}:");
        for (i, x) in prog.iter().enumerate() {
            eprintln!(
                "{i:4}: {:#06x} jt {:3} jf {:3} k {:#x}",
                x.code, x.jt, x.jf, x.k
            );
        }
    }
    if let Ok(input) = std::env::var("INPUT") {
        let v: Vec<u64> = input
            .split(',')
            .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
            .collect();
        let d = Data {
            arch: v[0] as u32,
            nr: v[1] as u32,
            ip: 0,
            args: [v[2], v[3], v[4], v[5], v[6], v[7]],
        };
        eprintln!("{:?}", answers(&p, d));
    }
}
