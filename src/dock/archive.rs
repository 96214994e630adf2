//! Images in and out of the store: `import` (a rootfs tarball becomes a one-layer image),
//! `load` (docker-save and OCI image-layout archives) and `save` (an archive both `docker
//! load` and `podman load` read: an OCI layout with docker's manifest.json beside it).
//!
//! Everything is staged under ROOT/tmp: blobs are hashed as they are written, layers are
//! unpacked and their diff IDs checked, and only then is anything moved into the store and
//! named in the index. A refused archive leaves the store as it was.

use crate::dock::digest::{self, HashReader, HashWriter};
use crate::dock::error::IoContext;
use crate::dock::image::{self, Image};
use crate::dock::layer;
use crate::dock::reference::Reference;
use crate::dock::store::{IndexEntry, Staging, Store};
use crate::dock::{Error, Result};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// docker's (containerd's) annotation with the image's full name in an OCI archive.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = crate::dock::store::REF_NAME;
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A reader that copies what it reads into a writer.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// An input file (or stdin for `-`/none), with a progress bar when stderr is a terminal.
pub fn open_input(path: Option<&Path>) -> Result<Box<dyn Read>> {
    match path {
        None => Ok(Box::new(io::stdin())),
        Some(p) if p == Path::new("-") => Ok(Box::new(io::stdin())),
        Some(p) => {
            let f = File::open(p).ctx("opening", p)?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            Ok(crate::dock::table::progress_reader(f, len))
        }
    }
}

/// `dock import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image.
pub fn import(
    store: &Store,
    input: Box<dyn Read>,
    name: Option<&Reference>,
    changes: &[String],
) -> Result<Image> {
    let mut exec = json!({});
    for c in changes {
        apply_change(&mut exec, c)?;
    }
    let staging = store.staging("import")?;
    let blob_path = staging.path.join("layer.tar");
    let unpacked = staging.path.join("layer");
    fs::create_dir(&unpacked).ctx("creating", &unpacked)?;
    let blob = File::create(&blob_path).ctx("creating", &blob_path)?;
    let mut hashed = HashReader::new(Tee {
        inner: layer::decompress(input)?,
        out: BufWriter::new(blob),
    });
    layer::unpack(&mut hashed, &unpacked)?;
    let (diff_id, size, tee) = hashed
        .finish()
        .map_err(|e| Error::new(format!("reading the tarball: {e}")))?;
    tee.out
        .into_inner()
        .map_err(|e| Error::new(format!("writing {}: {e}", blob_path.display())))?;
    let now = crate::dock::table::rfc3339_now();
    let config = json!({
        "created": now,
        "architecture": crate::dock::seccomp::docker_arch(),
        "os": "linux",
        "config": exec,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "created_by": "dock import", "comment": "Imported from tarball"}],
    });
    let layer_desc = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff_id, "size": size});
    let mut blobs = vec![(blob_path, diff_id.clone())];
    let layers = vec![(unpacked, diff_id)];
    commit_image(
        store,
        &staging,
        &config,
        vec![layer_desc],
        &mut blobs,
        layers,
        name.map(|n| n.key()).into_iter().collect(),
    )
}

/// Serialises config and manifest, then moves blobs, layers and names into the store.
fn commit_image(
    store: &Store,
    staging: &Staging,
    config: &Value,
    layers: Vec<Value>,
    blobs: &mut Vec<(PathBuf, String)>,
    unpacked: Vec<(PathBuf, String)>,
    names: Vec<String>,
) -> Result<Image> {
    let config_bytes = serde_json::to_vec(config).map_err(|e| Error::new(e.to_string()))?;
    let (cpath, cdigest) = Store::stage_bytes(staging, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": cdigest, "size": config_bytes.len()},
        "layers": layers,
    });
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::new(e.to_string()))?;
    let (mpath, mdigest) = Store::stage_bytes(staging, &mbytes)?;
    blobs.push((cpath, cdigest));
    blobs.push((mpath, mdigest.clone()));
    let desc = Descriptor::new(
        MediaType::ImageManifest,
        mbytes.len() as u64,
        mdigest
            .as_str()
            .parse::<oci_spec::image::Digest>()
            .map_err(|e| Error::new(e.to_string()))?,
    );
    commit(store, blobs, &unpacked, vec![(desc, names)])?;
    let imgs = image::list(store)?;
    imgs.into_iter()
        .find(|i| i.manifest_digest == mdigest)
        .ok_or_else(|| Error::new("the imported image vanished from the index"))
}

/// The commit point: verified blobs and unpacked layers move into the store, then the index
/// names the manifests (taking names from images that had them).
fn commit(
    store: &Store,
    blobs: &[(PathBuf, String)],
    layers: &[(PathBuf, String)],
    images: Vec<(Descriptor, Vec<String>)>,
) -> Result<()> {
    let _lock = store.lock()?;
    for (path, digest) in blobs {
        store.commit_blob(path, digest)?;
    }
    for (path, diff_id) in layers {
        store.commit_layer(path, diff_id)?;
    }
    let mut index = store.index()?;
    for (desc, names) in images {
        if names.is_empty() {
            index.push(IndexEntry {
                name: None,
                manifest: desc,
            });
        } else {
            for n in names {
                Store::set_name(&mut index, &n, &desc);
            }
        }
    }
    crate::dock::store::dedup(&mut index);
    store.write_index(&index)
}

/// One `--change` line of `dock import` (docker's Dockerfile-instruction subset).
fn apply_change(exec: &mut Value, change: &str) -> Result<()> {
    let (instr, arg) = change
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((change.trim(), ""));
    let arg = arg.trim();
    let list = |s: &str| -> Value {
        serde_json::from_str::<Vec<String>>(s)
            .map(|v| json!(v))
            .unwrap_or_else(|_| json!(["/bin/sh", "-c", s]))
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => exec["Cmd"] = list(arg),
        "ENTRYPOINT" => exec["Entrypoint"] = list(arg),
        "WORKDIR" => exec["WorkingDir"] = json!(arg),
        "USER" => exec["User"] = json!(arg),
        "ENV" => {
            let kv = match arg.split_once('=') {
                Some((k, v)) => format!("{k}={v}"),
                None => match arg.split_once(char::is_whitespace) {
                    Some((k, v)) => format!("{k}={}", v.trim()),
                    None => {
                        return Err(Error::new(format!(
                            "--change {change:?}: ENV needs NAME=VALUE"
                        )))
                    }
                },
            };
            let env = exec["Env"].as_array_mut();
            match env {
                Some(a) => a.push(json!(kv)),
                None => exec["Env"] = json!([kv]),
            }
        }
        _ => {
            return Err(Error::new(format!(
                "--change {change:?}: dock import supports CMD, ENTRYPOINT, ENV, USER and WORKDIR"
            )))
        }
    }
    Ok(())
}

/// The files of an archive, staged: path → (staged file, digest, size); symlinks resolved.
struct Staged {
    files: HashMap<String, (PathBuf, String, u64)>,
    links: HashMap<String, String>,
}

impl Staged {
    fn get(&self, path: &str) -> Result<&(PathBuf, String, u64)> {
        let mut p = clean(path).map_err(|w| Error::new(format!("archive path {path:?}: {w}")))?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&p) {
                return Ok(f);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(Error::new(format!("the archive has no file {path:?}")))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let (p, _, _) = self.get(path)?;
        fs::read(p).ctx("reading", p)
    }

    /// A blob named by digest (`blobs/sha256/<hex>`), its content checked against the name.
    fn blob(&self, digest: &str) -> Result<&(PathBuf, String, u64)> {
        let hex = digest::sha256_hex(digest)
            .ok_or_else(|| Error::new(format!("unsupported digest {digest:?}")))?;
        let f = self.get(&format!("blobs/sha256/{hex}"))?;
        check(&f.1, digest)?;
        Ok(f)
    }
}

fn check(got: &str, want: &str) -> Result<()> {
    if got != want {
        return Err(Error::new(format!(
            "digest mismatch: content named {want} hashes to {got}"
        )));
    }
    Ok(())
}

fn clean(path: &str) -> std::result::Result<String, &'static str> {
    let parts = layer::clean_path(path.as_bytes())?;
    Ok(parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

/// Reads the outer archive into staging, hashing every file as it is written.
fn stage_archive(input: Box<dyn Read>, staging: &Staging) -> Result<Staged> {
    let mut staged = Staged {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let mut ar = tar::Archive::new(layer::decompress(input)?);
    let bad = |e: io::Error| Error::new(format!("not a valid image archive: {e}"));
    for (n, entry) in ar.entries().map_err(bad)?.enumerate() {
        let mut entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path =
            clean(&raw).map_err(|w| Error::new(format!("archive entry {raw:?} refused: {w}")))?;
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory => {}
            T::Regular | T::Continuous => {
                let dest = staging.path.join(format!("f{n}"));
                let f = File::create(&dest).ctx("creating", &dest)?;
                let mut w = HashWriter::new(BufWriter::new(f));
                io::copy(&mut entry, &mut w).map_err(bad)?;
                let (digest, size, buf) = w.finish();
                buf.into_inner()
                    .map_err(|e| Error::new(format!("writing {}: {e}", dest.display())))?;
                staged.files.insert(path, (dest, digest, size));
            }
            T::Symlink | T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                // Symlinks are relative to the entry's directory, hardlinks to the archive root.
                let joined = match (entry.header().entry_type(), path.rsplit_once('/')) {
                    (T::Symlink, Some((dir, _))) => format!("{dir}/{target}"),
                    _ => target.clone(),
                };
                let t = resolve_dots(&joined).ok_or_else(|| Error::new(format!("archive entry {raw:?} refused: its link target {target:?} leaves the archive")))?;
                staged.links.insert(path, t);
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(Error::new(format!(
                    "archive entry {raw:?}: unexpected type {other:?}"
                )))
            }
        }
    }
    Ok(staged)
}

/// Resolves `.`/`..` in a relative path without leaving it; `None` if it climbs out.
fn resolve_dots(p: &str) -> Option<String> {
    if p.starts_with('/') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// An image found in an archive, before it is verified.
struct Found {
    /// The manifest bytes to keep (an OCI archive's own, so its digest survives a round trip).
    manifest: Option<(PathBuf, String, u64)>,
    config: (PathBuf, String, u64),
    layers: Vec<(PathBuf, String, u64, Option<String>)>,
    names: Vec<String>,
}

/// `dock load`: returns what was loaded, one line each ("Loaded image: busybox:latest").
pub fn load(store: &Store, input: Box<dyn Read>) -> Result<Vec<String>> {
    let staging = store.staging("load")?;
    let staged = stage_archive(input, &staging)?;
    let found = if staged.get("index.json").is_ok() {
        oci_images(&staged)?
    } else if staged.get("manifest.json").is_ok() {
        docker_images(&staged)?
    } else {
        return Err(Error::new(
            "not a docker-save or OCI image archive: it has neither manifest.json nor index.json",
        ));
    };
    if found.is_empty() {
        return Err(Error::new("the archive holds no image"));
    }
    let mut blobs = Vec::new();
    let mut unpacked = Vec::new();
    let mut out = Vec::new();
    let mut images = Vec::new();
    for (i, f) in found.into_iter().enumerate() {
        let config: ImageConfiguration =
            serde_json::from_slice(&fs::read(&f.config.0).ctx("reading", &f.config.0)?)
                .map_err(|e| Error::new(format!("image config {}: {e}", f.config.1)))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != f.layers.len() {
            return Err(Error::new(format!(
                "image {}: {} layers but the config lists {} diff IDs",
                f.config.1,
                f.layers.len(),
                diff_ids.len()
            )));
        }
        let mut descs = Vec::new();
        for (n, ((path, dgst, size, mt), diff_id)) in f.layers.iter().zip(diff_ids).enumerate() {
            let dest = staging.path.join(format!("layer-{i}-{n}"));
            let already =
                store.layer_dir(diff_id)?.exists() || unpacked.iter().any(|(_, d)| d == diff_id);
            let file = BufReader::new(File::open(path).ctx("opening", path)?);
            let mut hashed = HashReader::new(layer::decompress(file)?);
            if !already {
                fs::create_dir(&dest).ctx("creating", &dest)?;
                layer::unpack(&mut hashed, &dest)
                    .map_err(|e| e.context(format!("layer {}", n + 1)))?;
            }
            let (got, _, _) = hashed
                .finish()
                .map_err(|e| Error::new(format!("layer {}: {e}", n + 1)))?;
            if &got != diff_id {
                return Err(Error::new(format!("layer {}: digest mismatch: its content hashes to {got}, the image config says {diff_id}", n + 1)));
            }
            if !already {
                unpacked.push((dest, diff_id.clone()));
            }
            blobs.push((path.clone(), dgst.clone()));
            let mt = mt.clone().unwrap_or_else(|| sniff_layer_type(path));
            descs.push(json!({"mediaType": mt, "digest": dgst, "size": size}));
        }
        blobs.push((f.config.0.clone(), f.config.1.clone()));
        let names: Vec<String> = f.names;
        let manifest = match f.manifest {
            Some(m) => m,
            None => {
                let m = json!({
                    "schemaVersion": 2,
                    "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, "digest": f.config.1, "size": f.config.2},
                    "layers": descs,
                });
                let bytes = serde_json::to_vec(&m).map_err(|e| Error::new(e.to_string()))?;
                let (p, d) = Store::stage_bytes(&staging, &bytes)?;
                (p, d, bytes.len() as u64)
            }
        };
        blobs.push((manifest.0.clone(), manifest.1.clone()));
        let digest: oci_spec::image::Digest =
            manifest.1.parse().map_err(|e| Error::new(format!("{e}")))?;
        images.push((
            Descriptor::new(MediaType::ImageManifest, manifest.2, digest),
            names.clone(),
        ));
        if names.is_empty() {
            out.push(format!("Loaded image ID: {}", f.config.1));
        }
        out.extend(names.iter().map(|n| format!("Loaded image: {n}")));
    }
    // A blob used twice (a shared layer) is moved once.
    blobs.sort_by(|a, b| a.1.cmp(&b.1));
    blobs.dedup_by(|a, b| a.1 == b.1);
    commit(store, &blobs, &unpacked, images)?;
    Ok(out)
}

fn sniff_layer_type(path: &Path) -> String {
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let suffix = if n >= 2 && head[..2] == [0x1f, 0x8b] {
        "+gzip"
    } else if n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] {
        "+zstd"
    } else {
        ""
    };
    format!("application/vnd.oci.image.layer.v1.tar{suffix}")
}

fn parse_name(s: &str) -> Option<String> {
    Reference::parse(s)
        .ok()
        .filter(|r| r.tag.is_some())
        .map(|r| r.key())
}

/// docker-save's manifest.json: `[{"Config": PATH, "RepoTags": [..], "Layers": [PATH..]}]`.
fn docker_images(staged: &Staged) -> Result<Vec<Found>> {
    let text = staged.read("manifest.json")?;
    let entries: Vec<Value> =
        serde_json::from_slice(&text).map_err(|e| Error::new(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let str_of = |v: &Value| v.as_str().map(str::to_string);
        let cpath = e
            .get("Config")
            .and_then(str_of)
            .ok_or_else(|| Error::new("manifest.json: an entry without Config"))?;
        let config = staged.get(&cpath)?.clone();
        check_named(&cpath, &config.1)?;
        let mut layers = Vec::new();
        for l in e
            .get("Layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = l
                .as_str()
                .ok_or_else(|| Error::new("manifest.json: a layer path is not a string"))?;
            let f = staged.get(p)?.clone();
            check_named(p, &f.1)?;
            layers.push((f.0, f.1, f.2, None));
        }
        let names = e
            .get("RepoTags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().and_then(parse_name))
            .collect();
        out.push(Found {
            manifest: None,
            config,
            layers,
            names,
        });
    }
    Ok(out)
}

/// A file named after its digest (`<hex>.json`, `blobs/sha256/<hex>`) must hash to it.
fn check_named(path: &str, got: &str) -> Result<()> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.strip_suffix(".json").unwrap_or(base);
    let named = path.contains("sha256/") || base.ends_with(".json");
    if named && stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        check(got, &format!("sha256:{stem}"))?;
    }
    Ok(())
}

/// An OCI image layout: index.json → manifests (through nested indexes) → config, layers.
fn oci_images(staged: &Staged) -> Result<Vec<Found>> {
    let index: ImageIndex = serde_json::from_slice(&staged.read("index.json")?)
        .map_err(|e| Error::new(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    let mut stack: Vec<(Descriptor, Vec<String>)> = index
        .manifests()
        .iter()
        .map(|d| (d.clone(), Vec::new()))
        .collect();
    let mut depth = 0;
    while let Some((desc, inherited)) = stack.pop() {
        depth += 1;
        if depth > 64 {
            return Err(Error::new("index.json: too many nested indexes"));
        }
        let ann = desc.annotations().clone().unwrap_or_default();
        let mut names: Vec<String> = ann
            .get(CONTAINERD_NAME)
            .and_then(|n| parse_name(n))
            .into_iter()
            .collect();
        if names.is_empty() {
            // A full reference in ref.name (podman, dock); a bare tag names nothing.
            names.extend(
                ann.get(OCI_REF_NAME)
                    .filter(|n| n.contains(['/', ':']) || n.contains('.'))
                    .and_then(|n| parse_name(n)),
            );
        }
        names.extend(inherited);
        let blob = staged.blob(desc.digest().as_ref())?.clone();
        match desc.media_type() {
            MediaType::ImageIndex => {
                let nested: ImageIndex =
                    serde_json::from_slice(&fs::read(&blob.0).ctx("reading", &blob.0)?)
                        .map_err(|e| Error::new(format!("nested index: {e}")))?;
                let ours = nested
                    .manifests()
                    .iter()
                    .filter(|m| platform_ok(m))
                    .cloned();
                stack.extend(ours.map(|m| (m, names.clone())));
            }
            MediaType::ImageManifest | MediaType::Other(_) => {
                let m: ImageManifest =
                    serde_json::from_slice(&fs::read(&blob.0).ctx("reading", &blob.0)?)
                        .map_err(|e| Error::new(format!("manifest {}: {e}", desc.digest())))?;
                let config = staged.blob(m.config().digest().as_ref())?.clone();
                let mut layers = Vec::new();
                for l in m.layers() {
                    let f = staged.blob(l.digest().as_ref())?.clone();
                    layers.push((f.0, f.1, f.2, Some(l.media_type().to_string())));
                }
                names.sort();
                names.dedup();
                out.push(Found {
                    manifest: Some(blob),
                    config,
                    layers,
                    names,
                });
            }
            other => {
                return Err(Error::new(format!(
                    "index.json: unsupported media type {other}"
                )))
            }
        }
    }
    out.reverse();
    Ok(out)
}

fn platform_ok(d: &Descriptor) -> bool {
    d.platform().as_ref().is_none_or(|p| {
        p.architecture().to_string() == crate::dock::seccomp::docker_arch()
            && p.os().to_string() == "linux"
    })
}

/// `dock save`: writes the images (with their names) as an archive to `out`.
pub fn save(store: &Store, images: &[Image], out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written: Vec<String> = Vec::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    let werr = |e: io::Error| Error::new(format!("writing the archive: {e}"));
    add_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(werr)?;
    add_dir(&mut tar, "blobs/").map_err(werr)?;
    add_dir(&mut tar, "blobs/sha256/").map_err(werr)?;
    for img in images {
        let mut blobs = vec![img.manifest_digest.clone(), img.id.clone()];
        blobs.extend(img.manifest.layers().iter().map(|l| l.digest().to_string()));
        for b in &blobs {
            if written.contains(b) {
                continue;
            }
            let path = store.blob_path(b)?;
            let mut f = File::open(&path).ctx("opening", &path)?;
            let name = format!("blobs/sha256/{}", &b[7..]);
            tar.append_file(&name, &mut f).map_err(werr)?;
            written.push(b.clone());
        }
        let size = fs::metadata(store.blob_path(&img.manifest_digest)?)
            .map(|m| m.len())
            .unwrap_or(0);
        let base = json!({"mediaType": MT_MANIFEST, "digest": img.manifest_digest, "size": size});
        if img.names.is_empty() {
            index.push(base.clone());
        }
        for n in &img.names {
            let (_, tag) = crate::dock::reference::split_key(n);
            let mut d = base.clone();
            d["annotations"] = json!({CONTAINERD_NAME: full_name(n), OCI_REF_NAME: tag});
            index.push(d);
        }
        docker.push(json!({
            "Config": format!("blobs/sha256/{}", &img.id[7..]),
            "RepoTags": img.names,
            "Layers": img.manifest.layers().iter().map(|l| format!("blobs/sha256/{}", &l.digest().as_ref()[7..])).collect::<Vec<_>>(),
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    add_bytes(
        &mut tar,
        "index.json",
        &serde_json::to_vec(&index).unwrap_or_default(),
    )
    .map_err(werr)?;
    add_bytes(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec(&docker).unwrap_or_default(),
    )
    .map_err(werr)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(werr)
}

/// `busybox:latest` → `docker.io/library/busybox:latest`, as docker writes it.
fn full_name(key: &str) -> String {
    let first = key.split('/').next().unwrap_or("");
    let has_host = key.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if has_host {
        key.to_string()
    } else if key.contains('/') {
        format!("docker.io/{key}")
    } else {
        format!("docker.io/library/{key}")
    }
}

fn header(size: u64, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = header(bytes.len() as u64, tar::EntryType::Regular, 0o644);
    tar.append_data(&mut h, name, bytes)
}

fn add_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = header(0, tar::EntryType::Directory, 0o755);
    tar.append_data(&mut h, name, io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_links_stay_inside() {
        assert_eq!(resolve_dots("a/../b/c").as_deref(), Some("b/c"));
        assert_eq!(resolve_dots("../x"), None);
        assert_eq!(resolve_dots("/etc"), None);
        assert_eq!(resolve_dots("a/./b"), Some("a/b".into()));
    }

    #[test]
    fn names_are_written_in_full_as_docker_does() {
        assert_eq!(
            full_name("busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_name("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(full_name("reg:5000/app:v1"), "reg:5000/app:v1");
    }

    #[test]
    fn import_changes_set_the_exec_config() {
        let mut v = json!({});
        apply_change(&mut v, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut v, "ENTRYPOINT echo").unwrap();
        apply_change(&mut v, "ENV A=1").unwrap();
        apply_change(&mut v, "ENV B 2").unwrap();
        apply_change(&mut v, "WORKDIR /w").unwrap();
        assert_eq!(v["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "echo"]));
        assert_eq!(v["Env"], json!(["A=1", "B=2"]));
        assert_eq!(v["WorkingDir"], json!("/w"));
        assert!(apply_change(&mut v, "RUN x").is_err());
    }

    #[test]
    fn named_files_must_hash_to_their_names() {
        let h = "ab".repeat(32);
        assert!(check_named(&format!("{h}.json"), &format!("sha256:{h}")).is_ok());
        assert!(check_named(
            &format!("blobs/sha256/{h}"),
            &format!("sha256:{}", "cd".repeat(32))
        )
        .is_err());
        assert!(check_named("abc/layer.tar", "sha256:00").is_ok());
    }
}
