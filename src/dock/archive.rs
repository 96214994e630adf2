//! Images in and out of the store: `import` (a rootfs tarball becomes a one-layer image),
//! the commit point `load` (load.rs) shares, and `save` (an archive both `docker load` and
//! `podman load` read: an OCI layout with docker's manifest.json beside it).
//!
//! Everything is staged under ROOT/tmp: blobs are hashed as they are written, layers are
//! unpacked and their diff IDs checked, and only then is anything moved into the store and
//! named in the index. A refused archive leaves the store as it was.

use crate::dock::digest::HashReader;
use crate::dock::error::IoContext;
use crate::dock::image::{self, Image};
use crate::dock::layer;
use crate::dock::reference::Reference;
use crate::dock::store::{IndexEntry, Staging, Store};
use crate::dock::{Error, Result};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// docker's (containerd's) annotation with the image's full name in an OCI archive.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";
pub(crate) const OCI_REF_NAME: &str = crate::dock::store::REF_NAME;
pub(crate) const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

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
pub(crate) fn commit(
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
        "STOPSIGNAL" => exec["StopSignal"] = json!(arg),
        "VOLUME" => {
            let paths = serde_json::from_str::<Vec<String>>(arg).unwrap_or_else(|_| arg.split_whitespace().map(str::to_string).collect());
            for p in paths {
                if !p.starts_with('/') {
                    return Err(Error::new(format!("--change {change:?}: a VOLUME must be an absolute path")));
                }
                if !exec["Volumes"].is_object() {
                    exec["Volumes"] = json!({});
                }
                exec["Volumes"][p] = json!({});
            }
        }
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
                "--change {change:?}: dock import supports CMD, ENTRYPOINT, ENV, USER, WORKDIR, STOPSIGNAL and VOLUME"
            )))
        }
    }
    Ok(())
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
            let f = File::open(&path).ctx("opening", &path)?;
            let len = f.metadata().ctx("reading", &path)?.len();
            let name = format!("blobs/sha256/{}", &b[7..]);
            // Hashed on the way out: a blob changed on disk fails the save.
            let mut hashed = HashReader::new(f);
            let mut h = header(len, tar::EntryType::Regular, 0o644);
            tar.append_data(&mut h, &name, &mut hashed).map_err(werr)?;
            let (got, _, _) = hashed.finish().ctx("reading", &path)?;
            crate::dock::digest::check(&got, b, &path)?;
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
        apply_change(&mut v, "VOLUME /a /b").unwrap();
        apply_change(&mut v, "STOPSIGNAL SIGUSR1").unwrap();
        assert_eq!(v["Volumes"], json!({"/a": {}, "/b": {}}));
        assert_eq!(v["StopSignal"], json!("SIGUSR1"));
        assert!(apply_change(&mut v, "VOLUME rel").is_err());
        assert!(apply_change(&mut v, "RUN x").is_err());
    }
}
