//! dock's state directory (`--root`): an OCI image layout for images, one directory per
//! unpacked layer, and the containers', volumes' and runtime's directories.
//!
//! ```text
//! ROOT/lock                 flock: held while the store or the set of names changes
//! ROOT/images/              OCI image layout: oci-layout, index.json, blobs/sha256/<hex>
//! ROOT/layers/<diffid hex>  a layer unpacked once, shared by every image and container
//! ROOT/tmp/                 staging: everything is made here and renamed into place
//! ROOT/containers/<id>/     container record, bundle, upper/work dirs, log
//! ROOT/containers/.names/   one file per container name, holding its ID (names.rs)
//! ROOT/volumes/<name>/      named volumes (_data and their record)
//! ROOT/runtime/             the OCI runtime's own --root
//! ```
//! A blob is renamed into `blobs/` only after its digest was checked, a layer into `layers/`
//! only once it was unpacked whole: an import that fails leaves nothing behind.

use crate::dock::digest;
use crate::dock::error::IoContext;
use crate::dock::{Error, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use rustix::fs::FlockOperation;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The annotation the index keeps an image's name in (`busybox:latest`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct Store {
    pub root: PathBuf,
}

/// An exclusive lock on the store; released when dropped. Taking it again in the same
/// process (a removal inside a clean-up that holds it) nests instead of deadlocking.
pub struct Lock(Option<File>);

/// How deep this process holds the store lock (dock takes it from one thread only).
static LOCK_DEPTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Lock {
    fn drop(&mut self) {
        LOCK_DEPTH.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        drop(self.0.take());
    }
}

/// A staging directory under ROOT/tmp, removed when dropped unless its content was moved.
/// It is flocked while in use: one whose lock is free was left by a dock that was killed,
/// and the next staging sweeps it away.
pub struct Staging {
    pub path: PathBuf,
    _lock: File,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// How old an unlocked entry of ROOT/tmp must be to be swept (its maker locks it at once).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// One name (or none) of an image in the index.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    pub name: Option<String>,
    pub manifest: Descriptor,
}

impl Store {
    /// Opens (creating on first use) the state directory.
    pub fn open(root: &Path) -> Result<Store> {
        let s = Store {
            root: root.to_path_buf(),
        };
        if !s.images().join("index.json").exists() {
            for d in [
                s.blobs(),
                s.root.join("layers"),
                s.root.join("tmp"),
                s.root.join("containers/.names"),
                s.root.join("volumes"),
                s.root.join("runtime"),
            ] {
                fs::create_dir_all(&d).ctx("creating", &d)?;
            }
            let layout = s.images().join("oci-layout");
            fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).ctx("writing", &layout)?;
            s.write_index(&[])?;
        }
        Ok(s)
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    fn blobs(&self) -> PathBuf {
        self.images().join("blobs/sha256")
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// Takes the store lock (blocking).
    pub fn lock(&self) -> Result<Lock> {
        if LOCK_DEPTH.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            LOCK_DEPTH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Ok(Lock(None));
        }
        let path = self.root.join("lock");
        let f = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .ctx("opening", &path)?;
        rustix::fs::flock(&f, FlockOperation::LockExclusive).ctx("locking", &path)?;
        LOCK_DEPTH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Lock(Some(f)))
    }

    pub fn staging(&self, what: &str) -> Result<Staging> {
        self.sweep_tmp();
        let path = self
            .root
            .join("tmp")
            .join(format!("{what}-{}", random_hex(8)));
        fs::create_dir_all(&path).ctx("creating", &path)?;
        let lock = File::open(&path).ctx("opening", &path)?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive).ctx("locking", &path)?;
        Ok(Staging { path, _lock: lock })
    }

    /// A directory to move something into before removing it, so that a removal cut short
    /// leaves nothing under its real name (swept like a dead staging directory).
    pub fn trash_path(&self) -> PathBuf {
        self.root.join("tmp").join(format!("rm-{}", random_hex(8)))
    }

    /// Removes what killed docks left in ROOT/tmp: entries nobody holds a lock on.
    fn sweep_tmp(&self) {
        let tmp = self.root.join("tmp");
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|a| a > STALE_AFTER));
            let Ok(f) = File::open(&path) else { continue };
            if !old || rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue;
            }
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest::sha256_hex(digest)
            .ok_or_else(|| Error::new(format!("unsupported digest {digest:?} (only sha256 is)")))?;
        Ok(self.blobs().join(hex))
    }

    /// A (small) blob's content, checked against its digest: a blob changed on disk is an
    /// error, never an image.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        let bytes = fs::read(&p).ctx("reading blob", &p)?;
        digest::check(&digest::of_bytes(&bytes), digest, &p)?;
        Ok(bytes)
    }

    /// Moves a staged file whose digest was computed while it was written into blobs/.
    pub fn commit_blob(&self, staged: &Path, digest: &str) -> Result<()> {
        let dest = self.blob_path(digest)?;
        if dest.exists() {
            let _ = fs::remove_file(staged);
            return Ok(());
        }
        fs::rename(staged, &dest).ctx("storing blob", &dest)
    }

    /// Writes small content (a manifest or config) to a staged file, returning its digest.
    pub fn stage_bytes(staging: &Staging, bytes: &[u8]) -> Result<(PathBuf, String)> {
        let digest = digest::of_bytes(bytes);
        let path = staging.path.join(format!("blob-{}", &digest[7..]));
        fs::write(&path, bytes).ctx("writing", &path)?;
        Ok((path, digest))
    }

    /// Where the unpacked layer with this diff ID lives.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        let hex = digest::sha256_hex(diff_id)
            .ok_or_else(|| Error::new(format!("unsupported layer diff ID {diff_id:?}")))?;
        Ok(self.root.join("layers").join(hex))
    }

    /// Moves an unpacked layer into place (another load may have made it meanwhile).
    pub fn commit_layer(&self, staged: &Path, diff_id: &str) -> Result<()> {
        let dest = self.layer_dir(diff_id)?;
        if dest.exists() {
            return Ok(());
        }
        fs::rename(staged, &dest).ctx("storing layer", &dest)
    }

    /// The index: every (name, manifest) pair; a manifest with no name is a dangling image.
    pub fn index(&self) -> Result<Vec<IndexEntry>> {
        let path = self.images().join("index.json");
        let text = fs::read(&path).ctx("reading", &path)?;
        let index: ImageIndex = serde_json::from_slice(&text).ctx("parsing", &path)?;
        Ok(index
            .manifests()
            .iter()
            .map(|d| IndexEntry {
                name: d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME).cloned()),
                manifest: d.clone(),
            })
            .collect())
    }

    pub fn write_index(&self, entries: &[IndexEntry]) -> Result<()> {
        let manifests: Vec<Descriptor> = entries
            .iter()
            .map(|e| {
                let mut d = e.manifest.clone();
                let mut ann = HashMap::new();
                if let Some(n) = &e.name {
                    ann.insert(REF_NAME.to_string(), n.clone());
                }
                d.set_annotations((!ann.is_empty()).then_some(ann));
                d
            })
            .collect();
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .map_err(|e| Error::new(format!("building index.json: {e}")))?;
        let text = serde_json::to_vec_pretty(&index).map_err(|e| Error::new(e.to_string()))?;
        write_atomic(&self.images().join("index.json"), &text)
    }

    /// Points `name` at a manifest (taking the name from any other image), keeping every
    /// other image; an image left without names stays as a dangling (`<none>`) image.
    pub fn set_name(entries: &mut Vec<IndexEntry>, name: &str, manifest: &Descriptor) {
        for e in entries.iter_mut() {
            if e.name.as_deref() == Some(name) {
                e.name = None;
            }
        }
        entries.push(IndexEntry {
            name: Some(name.to_string()),
            manifest: manifest.clone(),
        });
        dedup(entries);
    }
}

/// One dangling entry per manifest at most, and none for a manifest that still has a name.
pub fn dedup(entries: &mut Vec<IndexEntry>) {
    let named: Vec<String> = entries
        .iter()
        .filter(|e| e.name.is_some())
        .map(|e| e.manifest.digest().to_string())
        .collect();
    let mut seen = Vec::new();
    entries.retain(|e| {
        let d = e.manifest.digest().to_string();
        if e.name.is_some() {
            return true;
        }
        if named.contains(&d) || seen.contains(&d) {
            return false;
        }
        seen.push(d);
        true
    });
}

/// Writes a file by renaming a complete temporary copy over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", random_hex(4)));
    let mut f = File::create(&tmp).ctx("creating", &tmp)?;
    f.write_all(bytes).ctx("writing", &tmp)?;
    drop(f);
    fs::rename(&tmp, path).ctx("replacing", path)
}

/// `n` random bytes as hex, from the kernel's CSPRNG.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    let ok = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if ok.is_err() {
        // No /dev/urandom: fall back on time and pid (ids need to be unique, not secret).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ (u128::from(std::process::id()) << 64);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    digest::hex(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn staging_sweeps_what_killed_docks_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let live = store.staging("load").unwrap();
        fs::write(live.path.join("blob"), "x").unwrap();
        // Left by a dock killed mid-load (no lock held), and a half-removed layer.
        let dead = store.root.join("tmp/load-dead");
        fs::create_dir_all(dead.join("layer/etc")).unwrap();
        fs::write(store.root.join("tmp/stray"), "x").unwrap();
        let fresh = store.root.join("tmp/import-fresh");
        fs::create_dir(&fresh).unwrap();
        for p in [&dead, &store.root.join("tmp/stray"), &live.path] {
            backdate(p);
        }
        let next = store.staging("import").unwrap();
        let mut left: Vec<String> = fs::read_dir(store.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            "import-fresh".to_string(),
            live.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            next.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        ];
        want.sort();
        assert_eq!(left, want, "a locked or just-made entry is kept");
        drop((live, next));
        assert!(!dir.path().join("tmp/load-dead").exists());
    }
}
