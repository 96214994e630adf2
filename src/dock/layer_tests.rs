//! The extractor on real directories (needs root for owners and device nodes; skipped
//! otherwise): whiteouts, opaque dirs, metadata, hardlinks, and the escapes it refuses.

use super::layer::unpack;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

fn root() -> bool {
    rustix::process::geteuid().is_root()
}

fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h
}

/// name bytes written as given (tar-rs refuses '..' and absolute names).
fn entry(b: &mut tar::Builder<Vec<u8>>, mut h: tar::Header, name: &str, link: &str, data: &[u8]) {
    let g = h.as_gnu_mut().unwrap();
    g.name = [0; 100];
    g.name[..name.len()].copy_from_slice(name.as_bytes());
    g.linkname = [0; 100];
    g.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn layer(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().unwrap()
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    rustix::fs::lgetxattr(p, name, &mut buf)
        .ok()
        .map(|n| buf[..n].to_vec())
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_markers() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = layer(|b| {
        entry(b, header(tar::EntryType::Directory, 0o755), "etc/", "", b"");
        entry(
            b,
            header(tar::EntryType::Regular, 0o644),
            "etc/.wh.passwd",
            "",
            b"",
        );
        entry(
            b,
            header(tar::EntryType::Regular, 0o644),
            "opq/.wh..wh..opq",
            "",
            b"",
        );
        entry(
            b,
            header(tar::EntryType::Regular, 0o644),
            "opq/.wh..wh.plnk",
            "",
            b"",
        );
    });
    unpack(&data[..], dir.path()).unwrap();
    let wh = fs::symlink_metadata(dir.path().join("etc/passwd")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "a whiteout is a 0:0 char device"
    );
    assert_eq!(
        xattr(&dir.path().join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(
        !dir.path().join("opq/.wh..wh.plnk").exists()
            && !dir.path().join("etc/.wh.passwd").exists()
    );
}

#[test]
fn metadata_links_and_devices_are_kept() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = layer(|b| {
        let mut h = header(tar::EntryType::Regular, 0o4755);
        h.set_uid(1234);
        h.set_gid(567);
        entry(b, h, "bin/tool", "", b"#!/bin/sh\n");
        entry(
            b,
            header(tar::EntryType::Link, 0o644),
            "bin/tool2",
            "bin/tool",
            b"",
        );
        entry(
            b,
            header(tar::EntryType::Symlink, 0o777),
            "bin/rel",
            "tool",
            b"",
        );
        entry(
            b,
            header(tar::EntryType::Symlink, 0o777),
            "abs",
            "/etc/passwd",
            b"",
        );
        let mut h = header(tar::EntryType::Char, 0o600);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        entry(b, h, "dev/null", "", b"");
        entry(b, header(tar::EntryType::Fifo, 0o640), "fifo", "", b"");
        // A later entry of the same name replaces the earlier one.
        entry(
            b,
            header(tar::EntryType::Regular, 0o600),
            "bin/rel",
            "",
            b"file now",
        );
    });
    unpack(&data[..], dir.path()).unwrap();
    let p = |s: &str| dir.path().join(s);
    let m = fs::metadata(p("bin/tool")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777),
        (1234, 567, 0o4755),
        "set-id bits survive chown"
    );
    assert_eq!(
        m.ino(),
        fs::metadata(p("bin/tool2")).unwrap().ino(),
        "hardlink"
    );
    assert_eq!(
        fs::read_link(p("abs")).unwrap(),
        Path::new("/etc/passwd"),
        "symlinks are kept as written"
    );
    let d = fs::metadata(p("dev/null")).unwrap();
    assert!(
        d.file_type().is_char_device()
            && d.rdev() == rustix::fs::makedev(1, 3)
            && d.permissions().mode() & 0o777 == 0o600
    );
    assert!(fs::metadata(p("fifo")).unwrap().file_type().is_fifo());
    assert_eq!(fs::read_to_string(p("bin/rel")).unwrap(), "file now");
    assert_eq!(m.mtime(), 1_600_000_000);
}

#[test]
fn escapes_are_refused() {
    if !root() {
        return;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            layer(|b| {
                entry(
                    b,
                    header(tar::EntryType::Regular, 0o644),
                    "a/../../x",
                    "",
                    b"x",
                )
            }),
        ),
        (
            "absolute",
            layer(|b| entry(b, header(tar::EntryType::Regular, 0o644), "/x", "", b"x")),
        ),
        (
            "symlink parent",
            layer(|b| {
                entry(b, header(tar::EntryType::Symlink, 0o777), "l", "/", b"");
                entry(b, header(tar::EntryType::Regular, 0o644), "l/x", "", b"x");
            }),
        ),
        (
            "hardlink out",
            layer(|b| entry(b, header(tar::EntryType::Link, 0o644), "h", "../x", b"")),
        ),
        (
            "hardlink via symlink",
            layer(|b| {
                entry(b, header(tar::EntryType::Symlink, 0o777), "l", "..", b"");
                entry(b, header(tar::EntryType::Link, 0o644), "h", "l/x", b"");
            }),
        ),
    ];
    for (what, data) in cases {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        fs::create_dir(&dest).unwrap();
        fs::write(outer.path().join("x"), "outside").unwrap();
        let err = unpack(&data[..], &dest).expect_err(what);
        assert!(
            err.msg.contains("refused") || err.msg.contains("outside"),
            "{what}: {err}"
        );
        assert_eq!(
            fs::read_to_string(outer.path().join("x")).unwrap(),
            "outside",
            "{what}"
        );
        assert_eq!(
            fs::read_dir(outer.path()).unwrap().count(),
            2,
            "{what}: wrote next to the layer"
        );
    }
}

#[test]
fn directory_times_are_not_set_through_a_later_symlink() {
    if !root() {
        return;
    }
    // "a/b" is a directory, then "a" becomes a symlink out: stamping "a/b"'s mtime at the end
    // must not follow it to the directory outside.
    let outer = tempfile::tempdir().unwrap();
    let victim = outer.path().join("victim");
    fs::create_dir_all(victim.join("b")).unwrap();
    let before = fs::metadata(victim.join("b")).unwrap().mtime();
    let dest = outer.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let data = layer(|b| {
        entry(b, header(tar::EntryType::Directory, 0o755), "a/", "", b"");
        entry(b, header(tar::EntryType::Directory, 0o755), "a/b/", "", b"");
        let target = victim.to_str().unwrap();
        entry(b, header(tar::EntryType::Symlink, 0o777), "a", target, b"");
        entry(b, header(tar::EntryType::Directory, 0o755), "c/", "", b"");
    });
    unpack(&data[..], &dest).unwrap();
    assert_eq!(fs::read_link(dest.join("a")).unwrap(), victim);
    assert_eq!(
        fs::metadata(victim.join("b")).unwrap().mtime(),
        before,
        "the extractor set a time outside the layer"
    );
    assert_eq!(fs::metadata(dest.join("c")).unwrap().mtime(), 1_600_000_000);
}

/// One PAX record: "<len> key=value\n", the length counting itself.
fn pax(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut n = body.len() + 1;
    while format!("{n}").len() + body.len() != n {
        n += 1;
    }
    format!("{n}{body}").into_bytes()
}

#[test]
fn replaced_entries_long_names_and_pax_headers() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let long = format!("d/{}/{}", "x".repeat(150), "y".repeat(200));
    let data = layer(|b| {
        // A file replaced by a directory, and a directory (with a child) by a file.
        entry(b, header(tar::EntryType::Regular, 0o644), "f", "", b"file");
        entry(b, header(tar::EntryType::Directory, 0o755), "f/", "", b"");
        entry(b, header(tar::EntryType::Regular, 0o644), "f/in", "", b"in");
        entry(b, header(tar::EntryType::Directory, 0o755), "g/", "", b"");
        entry(
            b,
            header(tar::EntryType::Regular, 0o644),
            "g/child",
            "",
            b"c",
        );
        entry(b, header(tar::EntryType::Regular, 0o644), "g", "", b"g");
        // PAX: a path longer than ustar's, an owner above 2^21, an xattr; overlayfs's own
        // xattrs are dropped.
        let mut recs = pax("path", &long);
        recs.extend(pax("uid", "123456789"));
        recs.extend(pax("SCHILY.xattr.user.note", "kept"));
        recs.extend(pax("SCHILY.xattr.trusted.overlay.redirect", "/etc"));
        entry(
            b,
            header(tar::EntryType::XHeader, 0o644),
            "PaxHeader",
            "",
            &recs,
        );
        entry(
            b,
            header(tar::EntryType::Regular, 0o640),
            "short",
            "",
            b"long",
        );
        // A symlink whose target climbs is only stored: nothing follows it here.
        entry(
            b,
            header(tar::EntryType::Symlink, 0o777),
            "up",
            "a/../../..",
            b"",
        );
    });
    unpack(&data[..], dir.path()).unwrap();
    let p = |s: &str| dir.path().join(s);
    assert_eq!(fs::read_to_string(p("f/in")).unwrap(), "in");
    assert_eq!(fs::read_to_string(p("g")).unwrap(), "g");
    let m = fs::metadata(p(&long)).unwrap();
    assert_eq!((m.uid(), m.len()), (123_456_789, 4));
    assert!(!p("short").exists(), "the PAX path replaces the header's");
    assert_eq!(xattr(&p(&long), "user.note").as_deref(), Some(&b"kept"[..]));
    assert_eq!(xattr(&p(&long), "trusted.overlay.redirect"), None);
    assert_eq!(fs::read_link(p("up")).unwrap(), Path::new("a/../../.."));
}
