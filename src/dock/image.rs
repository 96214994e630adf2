//! Images as the commands see them: a manifest, its config, and the names pointing at it.

use crate::dock::reference::Reference;
use crate::dock::store::{IndexEntry, Store};
use crate::dock::{Error, Result};
use oci_spec::image::{Config, ImageConfiguration, ImageManifest};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the config's digest, as docker has it.
    pub id: String,
    pub manifest_digest: String,
    /// Familiar `name:tag` keys, sorted.
    pub names: Vec<String>,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl Image {
    pub fn load(store: &Store, manifest_digest: &str, names: Vec<String>) -> Result<Image> {
        let raw = store.read_blob(manifest_digest)?;
        let manifest: ImageManifest = serde_json::from_slice(&raw)
            .map_err(|e| Error::new(format!("manifest {manifest_digest}: {e}")))?;
        let id = manifest.config().digest().to_string();
        let raw = store.read_blob(&id)?;
        let config: ImageConfiguration = serde_json::from_slice(&raw)
            .map_err(|e| Error::new(format!("image config {id}: {e}")))?;
        Ok(Image {
            id,
            manifest_digest: manifest_digest.to_string(),
            names,
            manifest,
            config,
        })
    }

    /// The first 12 hex digits of the ID.
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }

    /// The layers' directories, top-most first (overlayfs's lowerdir order).
    pub fn lower_dirs(&self, store: &Store) -> Result<Vec<PathBuf>> {
        let diff_ids = self.config.rootfs().diff_ids();
        diff_ids.iter().rev().map(|d| store.layer_dir(d)).collect()
    }

    /// Bytes of the layers as stored.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }

    pub fn exec_config(&self) -> Config {
        self.config.config().clone().unwrap_or_default()
    }
}

pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Every image in the store, names grouped per manifest.
pub fn list(store: &Store) -> Result<Vec<Image>> {
    let index = store.index()?;
    let mut out: Vec<Image> = Vec::new();
    for e in &index {
        let digest = e.manifest.digest().to_string();
        if let Some(img) = out.iter_mut().find(|i| i.manifest_digest == digest) {
            img.names.extend(e.name.clone());
            img.names.sort();
            continue;
        }
        out.push(Image::load(
            store,
            &digest,
            e.name.clone().into_iter().collect(),
        )?);
    }
    Ok(out)
}

/// Finds an image by name (`busybox`, `busybox:1.36`), full or short ID, or manifest digest.
pub fn resolve(store: &Store, what: &str) -> Result<Image> {
    find(store, what)?.ok_or_else(|| Error::new(format!("No such image: {what}")))
}

pub fn find(store: &Store, what: &str) -> Result<Option<Image>> {
    let index = store.index()?;
    let by_name = |key: &str| -> Vec<&IndexEntry> {
        index
            .iter()
            .filter(|e| e.name.as_deref() == Some(key))
            .collect()
    };
    let parsed = Reference::parse(what);
    if let Ok(r) = &parsed {
        if let Some(e) = by_name(&r.key()).first() {
            return Ok(Some(load_with_names(
                store,
                &index,
                e.manifest.digest().as_ref(),
            )?));
        }
    }
    // An ID: hex (a prefix of at least 3 digits, or all of it), with or without "sha256:".
    let hex = what.strip_prefix("sha256:").unwrap_or(what);
    if hex.len() < 3 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        // Neither a name nor an ID: say what is wrong with it, as docker does.
        return parsed.map(|_| None).map_err(Error::new);
    }
    let mut found: Vec<Image> = Vec::new();
    for img in list(store)? {
        let id = img.id.trim_start_matches("sha256:");
        let m = img.manifest_digest.trim_start_matches("sha256:");
        if (id.starts_with(hex) || m == hex) && !found.iter().any(|f| f.id == img.id) {
            found.push(img);
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::new(format!("{what}: ambiguous image ID prefix"))),
    }
}

fn load_with_names(store: &Store, index: &[IndexEntry], digest: &str) -> Result<Image> {
    let mut names: Vec<String> = index
        .iter()
        .filter(|e| e.manifest.digest().as_ref() == digest)
        .filter_map(|e| e.name.clone())
        .collect();
    names.sort();
    Image::load(store, digest, names)
}
