//! A dock killed with SIGKILL part-way (mid-import, mid-run): what it leaves is never taken
//! for a whole image or container, and the next commands finish or sweep it.

use super::dock_test;
use super::harness::Dock;
use crate::host;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Entries of a directory of the store.
fn entries(d: &Dock, dir: &str) -> Vec<String> {
    fs::read_dir(d.root().join(dir))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Makes a file look as old as a leftover of a dock killed a while ago.
fn backdate(p: &Path) {
    let t = rustix::fs::Timespec {
        tv_sec: 1_600_000_000,
        tv_nsec: 0,
    };
    let ts = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(rustix::fs::CWD, p, &ts, rustix::fs::AtFlags::empty()).unwrap();
}

dock_test!(
    killed_import_leaves_no_image_and_is_swept,
    [],
    |d: &Dock| {
        let tar = fs::read(crate::dock::tarballs::busybox_tar()).unwrap();
        // The import reads stdin: half the tarball, then it waits for the rest and is killed.
        let mut c = d.cmd(&["import", "-", "half"]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(&tar[..tar.len() / 2]).unwrap();
        host::wait_until(Duration::from_secs(10), "the import to stage files", || {
            entries(d, "tmp")
                .first()
                .filter(|n| {
                    fs::read_dir(d.root().join("tmp").join(n.as_str()))
                        .is_ok_and(|mut r| r.next().is_some())
                })
                .cloned()
        });
        kill9(&mut child);
        drop(input);
        assert_eq!(
            d.dock(&["images", "-q"]).stdout,
            "",
            "no image from a cut import"
        );
        assert!(
            entries(d, "layers").is_empty(),
            "no layer from a cut import"
        );
        let left = entries(d, "tmp");
        assert_eq!(left.len(), 1, "{left:?}");
        backdate(&d.root().join("tmp").join(&left[0]));
        // The next import sweeps the dead one's staging away.
        d.busybox();
        assert_eq!(entries(d, "tmp"), Vec::<String>::new());
        d.run(&["--rm", "busybox", "true"]).assert_ok();
        d.assert_clean();
    }
);
