//! `dock load`: docker-save archives (manifest.json) and OCI image-layout archives
//! (index.json, preferred when both are there so a dock/docker save round trip keeps the
//! manifest's digest). The outer archive is staged file by file, hashed as it is written;
//! every blob named by a digest must hash to it, every layer is unpacked (once per diff ID)
//! and must hash to the diff ID its config names, before anything reaches the store.

use crate::dock::archive::{commit, CONTAINERD_NAME, MT_CONFIG, MT_MANIFEST, OCI_REF_NAME};
use crate::dock::digest::{self, HashReader, HashWriter};
use crate::dock::error::IoContext;
use crate::dock::layer;
use crate::dock::reference::Reference;
use crate::dock::store::{Staging, Store};
use crate::dock::{Error, Result};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

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
    // (descriptor, names from the indexes above it, how deep it is nested)
    let mut stack: Vec<(Descriptor, Vec<String>, usize)> = index
        .manifests()
        .iter()
        .map(|d| (d.clone(), Vec::new(), 0))
        .collect();
    while let Some((desc, inherited, depth)) = stack.pop() {
        if depth > 8 {
            return Err(Error::new("index.json: indexes nested too deep"));
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
                stack.extend(ours.map(|m| (m, names.clone(), depth + 1)));
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
