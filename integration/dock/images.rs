//! Images: import, load (docker-save with whiteouts), save → load round trips, tag/rmi, and
//! hostile tarballs refused without a trace.

use super::dock_test;
use super::harness::Dock;
use crate::dock::tarballs::{docker_save, gzip, sha256, Layer};
use serde_json::Value;
use std::fs;

fn inspect(d: &Dock, what: &str) -> Value {
    let out = d.dock(&["inspect", what]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect is not JSON ({e}):\n{out}"));
    v[0].clone()
}

dock_test!(import_then_run_prints_output, |d: &Dock| {
    let tar = crate::dock::tarballs::busybox_tar();
    // gzip-compressed input, as `docker import` takes it.
    let gz = d.scratch("in").join("busybox.tar.gz");
    fs::write(&gz, gzip(&fs::read(tar).unwrap())).unwrap();
    let out = d.dock(&["import", gz.to_str().unwrap(), "busybox:1.0"]);
    out.assert_ok();
    assert!(
        out.stdout.trim().starts_with("sha256:"),
        "import prints the image ID:\n{out}"
    );
    let images = d.dock(&["images"]);
    let line = images
        .stdout
        .lines()
        .find(|l| l.starts_with("busybox "))
        .unwrap_or_else(|| panic!("no busybox row:\n{images}"));
    assert!(
        line.contains(" 1.0 ") && line.contains(&out.stdout.trim()[7..19]),
        "{images}"
    );
    let run = d.run(&["--rm", "busybox:1.0", "echo", "hello from dock"]);
    run.assert_ok();
    assert_eq!(run.stdout, "hello from dock\n", "{run}");
    let img = inspect(d, "busybox:1.0");
    assert_eq!(img["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    d.assert_clean();
});

/// Two layers: the second deletes a file of the first (whiteout) and empties a directory
/// (opaque); the container must see the merged result.
fn whiteout_archive() -> Vec<u8> {
    let base = fs::read(crate::dock::tarballs::busybox_tar()).unwrap();
    // The busybox layer as layer 1 but with extra files: rebuild by appending.
    let mut l1 = Layer::new();
    l1.dir("data/")
        .file("data/gone.txt", "bye\n")
        .file("data/keep.txt", "kept\n")
        .dir("opq/")
        .file("opq/old", "old\n");
    let extra = l1.finish();
    let mut l2 = Layer::new();
    l2.dir("data/")
        .file("data/.wh.gone.txt", "")
        .file("data/new.txt", "new\n")
        .dir("opq/")
        .file("opq/.wh..wh..opq", "")
        .file("opq/fresh", "fresh\n");
    docker_save(&[base, extra, l2.finish()], None, "wh:latest", &["sh"])
}

dock_test!(load_docker_save_honours_whiteouts, |d: &Dock| {
    let ar = d.scratch("in").join("wh.tar");
    fs::write(&ar, whiteout_archive()).unwrap();
    let out = d.dock(&["load", "-i", ar.to_str().unwrap()]);
    out.assert_ok();
    assert_eq!(out.stdout, "Loaded image: wh:latest\n", "{out}");
    let run = d.run(&[
        "--rm",
        "wh",
        "sh",
        "-c",
        "ls /data; echo --; ls -a /opq; test -e /data/gone.txt && echo GONE-STILL-THERE; true",
    ]);
    run.assert_ok();
    assert_eq!(run.stdout, "keep.txt\nnew.txt\n--\n.\n..\nfresh\n", "{run}");
    // A new volume over /data starts with the image's /data (docker's copy-up)...
    let out = d.run(&[
        "--rm",
        "-v",
        "fresh:/data",
        "wh",
        "sh",
        "-c",
        "ls /data; echo more > /data/mine",
    ]);
    assert_eq!(out.stdout, "keep.txt\nnew.txt\n", "{out}");
    // ...once: a volume with content is mounted as it is.
    let out = d.run(&["--rm", "-v", "fresh:/data", "wh", "ls", "/data"]);
    assert_eq!(out.stdout, "keep.txt\nmine\nnew.txt\n", "{out}");
    d.dock(&["volume", "rm", "fresh"]).assert_ok();
    // Three layers unpacked once each.
    assert_eq!(fs::read_dir(d.root().join("layers")).unwrap().count(), 3);
    d.assert_clean();
});

dock_test!(save_then_load_keeps_digests, |d: &Dock| {
    d.busybox();
    let ar = d.scratch("out").join("bb.tar");
    let before = inspect(d, "busybox");
    d.dock(&["save", "-o", ar.to_str().unwrap(), "busybox"])
        .assert_ok();
    // docker load and podman load both read it: OCI layout plus docker's manifest.json.
    let names: Vec<String> = tar::Archive::new(fs::File::open(&ar).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for want in ["oci-layout", "index.json", "manifest.json"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let out = d.dock(&["rmi", "busybox"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        format!(
            "Untagged: busybox:latest\nDeleted: {}\n",
            before["Id"].as_str().unwrap()
        ),
        "docker's lines, and no echo of the argument"
    );
    assert_eq!(
        fs::read_dir(d.root().join("layers")).unwrap().count(),
        0,
        "rmi left layers"
    );
    let out = d.dock(&["load", "-i", ar.to_str().unwrap()]);
    out.assert_ok();
    assert_eq!(out.stdout, "Loaded image: busybox:latest\n", "{out}");
    let after = inspect(d, "busybox");
    assert_eq!(before["Id"], after["Id"]);
    assert_eq!(before["Manifest"], after["Manifest"]);
    assert_eq!(before["RootFS"], after["RootFS"]);
    d.run(&["--rm", "busybox", "true"]).assert_ok();
    d.assert_clean();
});

dock_test!(
    save_names_what_was_asked_and_load_takes_many_names,
    |d: &Dock| {
        d.busybox();
        let mut names = vec!["busybox:latest".to_string()];
        for i in 0..70 {
            let n = format!("many:t{i}");
            d.dock(&["tag", "busybox", &n]).assert_ok();
            names.push(n);
        }
        let entries = |ar: &std::path::Path, file: &str| -> Value {
            let mut a = tar::Archive::new(fs::File::open(ar).unwrap());
            let mut e = a
                .entries()
                .unwrap()
                .map(|e| e.unwrap())
                .find(|e| e.path().unwrap().to_str() == Some(file))
                .unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            serde_json::from_str(&text).unwrap()
        };
        let dir = d.scratch("many");
        // One name asked (twice): only it is written, once; by ID: no name (as docker).
        let one = dir.join("one.tar");
        d.dock(&["save", "-o", one.to_str().unwrap(), "many:t3", "many:t3"])
            .assert_ok();
        assert_eq!(
            entries(&one, "manifest.json")[0]["RepoTags"],
            serde_json::json!(["many:t3"])
        );
        assert_eq!(
            entries(&one, "index.json")["manifests"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let id = inspect(d, "busybox")["Id"].as_str().unwrap().to_string();
        let by_id = dir.join("id.tar");
        d.dock(&["save", "-o", by_id.to_str().unwrap(), &id])
            .assert_ok();
        assert_eq!(
            entries(&by_id, "manifest.json")[0]["RepoTags"],
            serde_json::json!([])
        );
        // All 71 names of one image: one manifest, 71 index entries; loaded back, all 71 names.
        let all = dir.join("all.tar");
        let mut args = vec!["save", "-o", all.to_str().unwrap()];
        args.extend(names.iter().map(String::as_str));
        d.dock(&args).assert_ok();
        assert_eq!(entries(&all, "manifest.json").as_array().unwrap().len(), 1);
        assert_eq!(
            entries(&all, "index.json")["manifests"]
                .as_array()
                .unwrap()
                .len(),
            71
        );
        let out = d.dock(&["rmi", "-f", &id]);
        out.assert_ok();
        assert_eq!(d.dock(&["images", "-q"]).stdout, "", "{out}");
        let out = d.dock(&["load", "-i", all.to_str().unwrap()]);
        out.assert_ok();
        assert_eq!(out.stdout.lines().count(), 71, "{out}");
        assert_eq!(d.dock(&["images", "-q"]).stdout.lines().count(), 71);
        d.assert_clean();
    }
);

dock_test!(tag_and_rmi_follow_docker, |d: &Dock| {
    d.busybox();
    d.dock(&["tag", "busybox", "other/name:v2"]).assert_ok();
    let imgs = d
        .dock(&["images", "--format", "json"])
        .assert_ok()
        .stdout
        .clone();
    let rows: Vec<Value> = imgs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{imgs}");
    assert!(
        rows.iter()
            .any(|r| r["Repository"] == "other/name" && r["Tag"] == "v2"),
        "{imgs}"
    );
    // A container (even stopped) keeps its image from rmi unless -f.
    d.run(&["--name", "user", "busybox", "true"]).assert_ok();
    let out = d.dock(&["rmi", "other/name:v2"]);
    assert_eq!(out.stdout, "Untagged: other/name:v2\n", "{out}");
    let out = d.dock(&["rmi", "busybox"]);
    out.assert_failed();
    assert!(
        out.stderr.contains("container") && out.stderr.lines().count() == 1,
        "{out}"
    );
    d.dock(&["rm", "user"]).assert_ok();
    d.dock(&["rmi", "busybox"]).assert_ok();
    assert_eq!(d.dock(&["images", "-q"]).stdout, "");
    let out = d.dock(&["rmi", "busybox"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(out.stderr, "dock: No such image: busybox\n");
    d.assert_clean();
});

/// Feeds a hostile archive to import (or load) and checks it is refused with one line,
/// that nothing appeared outside the store, and that the store is exactly as before.
fn refused(d: &Dock, cmd: &str, data: &[u8], escape: &std::path::Path, why: &str) {
    let before = d.store_snapshot();
    let f = d.scratch("hostile").join("x.tar");
    fs::write(&f, data).unwrap();
    let out = match cmd {
        "import" => d.dock(&["import", f.to_str().unwrap(), "evil"]),
        _ => d.dock(&["load", "-i", f.to_str().unwrap()]),
    };
    assert_eq!(out.code(), Some(1), "{why}: expected a refusal:\n{out}");
    assert_eq!(out.stderr.lines().count(), 1, "{why}: one line:\n{out}");
    assert!(
        !escape.exists(),
        "{why}: {} was written outside the store",
        escape.display()
    );
    assert_eq!(d.store_snapshot(), before, "{why}: the store changed");
    assert!(
        fs::read_dir(d.root().join("tmp")).unwrap().next().is_none(),
        "{why}: staging left"
    );
}

dock_test!(hostile_tarballs_are_refused_without_a_trace, |d: &Dock| {
    d.busybox();
    let outside = d.scratch("outside");
    let target = outside.join("pwned");
    let rel = format!("../../../../../../../..{}", target.display());
    refused(
        d,
        "import",
        &Layer::new().file(&rel, "x").finish(),
        &target,
        "a '..' path",
    );
    refused(
        d,
        "import",
        &Layer::new().file(target.to_str().unwrap(), "x").finish(),
        &target,
        "an absolute path",
    );
    let mut l = Layer::new();
    l.symlink("link", outside.to_str().unwrap())
        .file("link/pwned", "x");
    refused(d, "import", &l.finish(), &target, "a symlink leading out");
    let mut l = Layer::new();
    l.symlink("up", "../../../../../../../..")
        .file(&format!("up{}", target.display()), "x");
    refused(
        d,
        "import",
        &l.finish(),
        &target,
        "a relative symlink leading out",
    );
    let mut l = Layer::new();
    l.hardlink("passwd", "../../../../../../etc/passwd");
    refused(d, "import", &l.finish(), &target, "a hardlink leading out");
    let mut l = Layer::new();
    l.symlink("etc", "/etc").hardlink("shadow", "etc/shadow");
    refused(
        d,
        "import",
        &l.finish(),
        &target,
        "a hardlink through a symlink",
    );
    let mut gz = gzip(&Layer::new().file("a", "hello").finish());
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz.truncate(gz.len() - 4);
    refused(d, "import", &gz, &target, "a corrupt gzip stream");
    let good = Layer::new().file("a", "a").finish();
    let wrong = vec![sha256(b"something else")];
    refused(
        d,
        "load",
        &docker_save(
            std::slice::from_ref(&good),
            Some(wrong),
            "bad:latest",
            &["sh"],
        ),
        &target,
        "a diff ID that does not match",
    );
    // A docker-save whose layer escapes is refused as a whole too.
    let evil = Layer::new().file(&rel, "x").finish();
    refused(
        d,
        "load",
        &docker_save(&[good, evil], None, "bad:latest", &["sh"]),
        &target,
        "a hostile second layer",
    );
    // An OCI archive (dock save's) with one blob's content changed under its name.
    let saved = d.scratch("saved").join("bb.tar");
    d.dock(&["save", "-o", saved.to_str().unwrap(), "busybox"])
        .assert_ok();
    let mut tampered = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(fs::File::open(&saved).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let mut h = e.header().clone();
        let path = e.path().unwrap().into_owned();
        if path.starts_with("blobs/sha256") && data.len() > 10_000 {
            let n = data.len() - 600;
            data[n] ^= 1;
        }
        h.set_size(data.len() as u64);
        tampered.append_data(&mut h, &path, &data[..]).unwrap();
    }
    refused(
        d,
        "load",
        &tampered.into_inner().unwrap(),
        &target,
        "an OCI blob that does not match its digest",
    );
    // The store still works.
    d.run(&["--rm", "busybox", "true"]).assert_ok();
    d.assert_clean();
});

dock_test!(zstd_layers_import_and_load, |d: &Dock| {
    let raw = fs::read(crate::dock::tarballs::busybox_tar()).unwrap();
    let zst = d.scratch("in").join("busybox.tar.zst");
    fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();
    let out = d.dock(&["import", zst.to_str().unwrap(), "zbox"]);
    out.assert_ok();
    let run = d.run(&["--rm", "zbox", "cat", "/etc/passwd"]);
    run.assert_ok();
    assert!(run.stdout.starts_with("root:x:0:0"), "{run}");
    // The diff ID is the uncompressed tar's digest, whatever the compression.
    let v: Value = serde_json::from_str(&d.dock(&["inspect", "zbox"]).stdout).unwrap();
    assert_eq!(v[0]["RootFS"]["Layers"][0], sha256(&raw));
    // load: a docker-save archive whose layer is zstd, its diff ID the plain tar's.
    let zlayer = zstd::encode_all(&raw[..], 3).unwrap();
    let ar = d.scratch("in").join("zload.tar");
    fs::write(
        &ar,
        docker_save(&[zlayer], Some(vec![sha256(&raw)]), "zload:latest", &["sh"]),
    )
    .unwrap();
    d.dock(&["load", "-i", ar.to_str().unwrap()]).assert_ok();
    let run = d.run(&["--rm", "zload", "cat", "/etc/passwd"]);
    assert!(run.stdout.starts_with("root:x:0:0"), "{run}");
    assert_eq!(inspect(d, "zload")["RootFS"]["Layers"][0], sha256(&raw));
    d.assert_clean();
});

dock_test!(store_blobs_are_checked_when_read, |d: &Dock| {
    d.busybox();
    let img = inspect(d, "busybox");
    let blob = |digest: &str| {
        d.root()
            .join("images/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    // A layer blob changed on disk: save fails and leaves no archive behind.
    let layer = blob(img["RootFS"]["Layers"][0].as_str().unwrap());
    let mut bytes = fs::read(&layer).unwrap();
    let n = bytes.len() - 700;
    bytes[n] ^= 1;
    fs::write(&layer, &bytes).unwrap();
    let out_dir = d.scratch("out");
    let ar = out_dir.join("bb.tar");
    let out = d.dock(&["save", "-o", ar.to_str().unwrap(), "busybox"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("is corrupt"), "{out}");
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "save left a file"
    );
    // The image config changed on disk: the image is refused wherever it is read.
    let config = blob(img["Id"].as_str().unwrap());
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("\"sh\"", "\"id\"");
    fs::write(&config, text).unwrap();
    let out = d.run(&["--rm", "busybox"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("is corrupt"), "{out}");
    assert!(d.containers().is_empty());
    d.assert_clean();
});
