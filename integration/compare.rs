//! The same plain `runc spec` bundle under runc and under berth must look the same from
//! inside. Always runs berth against runc (`$BERTH_TEST_RUNC`, default /usr/sbin/runc), so it
//! is skipped when `$BERTH_TEST_RUNTIME` picks another runtime for the rest of the suite.

use crate::common::{berth_bin, Bundle, Container};
use crate::host::parse_mountinfo;
use std::path::PathBuf;

const PROBE: &str = r#"
echo "uid $(id -u)"
echo "hostname $(hostname)"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "nofile $(ulimit -n)"
echo ==mountinfo
cat /proc/self/mountinfo
echo ==dev
ls -l /dev
"#;

/// `ls -l` line → "name type [major:minor] [-> target]"; None for the "total" line.
fn dev_entry(line: &str) -> Option<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let kind = f.first()?.chars().next()?;
    // perms links user group (size | major, minor) month day time name...
    match kind {
        'c' | 'b' => {
            let (major, minor) = (f.get(4)?.trim_end_matches(','), f.get(5)?);
            Some(format!("{} {kind} {major}:{minor}", f.get(9..)?.join(" ")))
        }
        'l' | 'd' | '-' | 'p' | 's' => Some(format!("{} {kind}", f.get(8..)?.join(" "))),
        _ => None,
    }
}

/// The probe's output with what may legitimately differ (ids, cgroup paths, mount ids, the
/// bundle path, dates, mount order) taken out. One item per line.
fn normalise(out: &str) -> Vec<String> {
    let sections = out
        .split_once("==mountinfo\n")
        .and_then(|(h, r)| Some((h, r.split_once("==dev\n")?)));
    let (head, (mountinfo, dev)) =
        sections.unwrap_or_else(|| panic!("probe output lacks its sections:\n{out}"));
    let mut mounts: Vec<String> = parse_mountinfo(mountinfo)
        .into_iter()
        .map(|m| {
            let (mut vfs, mut sb) = (m.vfs_opts, m.sb_opts);
            vfs.sort();
            sb.sort();
            format!(
                "mount {} {} [{}] [{}]",
                m.mount_point,
                m.fstype,
                vfs.join(","),
                sb.join(",")
            )
        })
        .collect();
    mounts.sort();
    let mut devs: Vec<String> = dev
        .lines()
        .filter_map(dev_entry)
        .map(|d| format!("dev {d}"))
        .collect();
    devs.sort();
    head.lines()
        .map(str::to_string)
        .chain(mounts)
        .chain(devs)
        .collect()
}

fn probe_with(bin: PathBuf) -> Vec<String> {
    let c = Container::with_runtime(bin, Bundle::new().args(&["sh", "-c", PROBE]));
    let out = c.run(&[]);
    out.assert_ok();
    c.assert_no_leftovers();
    let items = normalise(&out.stdout);
    println!("{}:\n{}", c.bin.display(), items.join("\n"));
    items
}

#[test]
fn runc_and_berth_show_the_same_container() {
    need_root!();
    let Some(runc) = crate::common::runc_to_compare() else {
        return;
    };
    let want = probe_with(runc);
    let got = probe_with(berth_bin());
    let only_runc: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let only_berth: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        want == got,
        "runc and berth differ\nonly under runc: {only_runc:#?}\nonly under berth: {only_berth:#?}\n\
         runc: {want:#?}"
    );
}
