//! The image commands: `images`, `tag`, `rmi` (with the clean-up of what only that image
//! used), `save` and an image's `inspect` document.

use crate::dock::container;
use crate::dock::image::{self, Image};
use crate::dock::reference::{self, Reference};
use crate::dock::store::{self, Store};
use crate::dock::{archive, table, Error, Result};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::PathBuf;

pub fn images(store: &Store, quiet: bool, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for img in image::list(store)? {
        let created = img.config.created().clone().unwrap_or_default();
        let keys: Vec<(String, String)> = if img.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.names
                .iter()
                .map(|n| reference::split_key(n))
                .map(|(r, t)| (r.to_string(), t.to_string()))
                .collect()
        };
        for (repo, tag) in keys {
            if quiet {
                println!("{}", img.short_id());
            } else if json {
                let v = json!({"Containers": "N/A", "CreatedAt": created, "CreatedSince": table::ago(&created), "Digest": "<none>", "ID": img.short_id(), "Repository": repo, "Size": table::human_size(img.size()), "Tag": tag});
                println!("{v}");
            } else {
                rows.push(vec![
                    repo,
                    tag,
                    img.short_id().to_string(),
                    table::ago(&created),
                    table::human_size(img.size()),
                ]);
            }
        }
    }
    if !quiet && !json {
        table::print(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    }
    Ok(())
}

pub fn save(store: &Store, output: Option<PathBuf>, names: &[String]) -> Result<()> {
    // Each image once, named by the references given for it (as docker: an image saved by
    // its ID carries no name, one saved as busybox:1 not its other tags).
    let mut imgs: Vec<Image> = Vec::new();
    for n in names {
        let img = image::resolve(store, n)?;
        let name = Reference::parse(n)
            .ok()
            .map(|r| r.key())
            .filter(|k| img.names.contains(k));
        let i = match imgs
            .iter()
            .position(|i| i.manifest_digest == img.manifest_digest)
        {
            Some(i) => i,
            None => {
                imgs.push(Image {
                    names: Vec::new(),
                    ..img
                });
                imgs.len() - 1
            }
        };
        if let Some(k) = name.filter(|k| !imgs[i].names.contains(k)) {
            imgs[i].names.push(k);
        }
    }
    match output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Error::new(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            archive::save(
                store,
                &imgs,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )
        }
        Some(path) => {
            let tmp = path.with_file_name(format!(
                ".{}.dock-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                store::random_hex(4)
            ));
            let f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
            let res = archive::save(store, &imgs, std::io::BufWriter::new(f)).and_then(|_| {
                std::fs::rename(&tmp, &path).map_err(|e| Error::io("writing", &path, e))
            });
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res
        }
    }
}

pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    let img = image::resolve(store, source)?;
    let to = Reference::parse(target).map_err(Error::new)?;
    if to.digest.is_some() {
        return Err(Error::new(format!(
            "refusing to create a tag with a digest reference: {target}"
        )));
    }
    let _lock = store.lock()?;
    let mut index = store.index()?;
    let desc = index
        .iter()
        .find(|e| e.manifest.digest().as_ref() == img.manifest_digest)
        .map(|e| e.manifest.clone())
        .ok_or_else(|| Error::new(format!("No such image: {source}")))?;
    Store::set_name(&mut index, &to.key(), &desc);
    store.write_index(&index)
}

/// `rmi`: untags; deletes the image (and the blobs and layers no other image uses) once no
/// name is left, unless a container uses it (then it stays, unnamed, with -f).
pub fn rmi(store: &Store, what: &str, force: bool) -> Result<()> {
    let _lock = store.lock()?;
    let img = image::resolve(store, what)?;
    let key = Reference::parse(what)
        .ok()
        .map(|r| r.key())
        .filter(|k| img.names.contains(k));
    let users: Vec<String> = container::list(store)?
        .into_iter()
        .filter(|c| c.image_id == img.id)
        .map(|c| c.id)
        .collect();
    let untag: Vec<String> = match &key {
        Some(k) if img.names.len() > 1 => vec![k.clone()],
        Some(k) => vec![k.clone()],
        None if img.names.len() > 1 && !force => return Err(Error::new(format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", img.short_id()))),
        None => img.names.clone(),
    };
    let last = untag.len() == img.names.len();
    if last && !users.is_empty() && !force {
        let what = key.as_deref().map_or_else(
            || img.short_id().to_string(),
            |k| format!("repository reference {k:?}"),
        );
        return Err(Error::new(format!("conflict: unable to remove {what} (must force) - container {} is using its referenced image {}", container::short(&users[0]), img.short_id())));
    }
    let mut index = store.index()?;
    index.retain(|e| {
        !(e.manifest.digest().as_ref() == img.manifest_digest
            && e.name.as_ref().is_some_and(|n| untag.contains(n)))
    });
    for n in &untag {
        println!("Untagged: {n}");
    }
    let delete = last && users.is_empty();
    if delete {
        index.retain(|e| e.manifest.digest().as_ref() != img.manifest_digest);
    } else if last {
        index.push(store::IndexEntry {
            name: None,
            manifest: manifest_descriptor(store, &img)?,
        });
    }
    store::dedup(&mut index);
    store.write_index(&index)?;
    if delete {
        gc(store, &img)?;
        println!("Deleted: {}", img.id);
    }
    Ok(())
}

fn manifest_descriptor(store: &Store, img: &Image) -> Result<oci_spec::image::Descriptor> {
    let size = std::fs::metadata(store.blob_path(&img.manifest_digest)?)
        .map(|m| m.len())
        .unwrap_or(0);
    let d: oci_spec::image::Digest = img
        .manifest_digest
        .parse()
        .map_err(|e| Error::new(format!("{e}")))?;
    Ok(oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageManifest,
        size,
        d,
    ))
}

/// Removes what only `img` used: its manifest, config and layer blobs, its unpacked layers.
fn gc(store: &Store, img: &Image) -> Result<()> {
    let others = image::list(store)?;
    let mut keep_blobs: Vec<String> = Vec::new();
    let mut keep_layers: Vec<String> = Vec::new();
    for o in &others {
        keep_blobs.push(o.manifest_digest.clone());
        keep_blobs.push(o.id.clone());
        keep_blobs.extend(o.manifest.layers().iter().map(|l| l.digest().to_string()));
        keep_layers.extend(o.config.rootfs().diff_ids().iter().cloned());
    }
    let mut blobs = vec![img.manifest_digest.clone(), img.id.clone()];
    blobs.extend(img.manifest.layers().iter().map(|l| l.digest().to_string()));
    for b in blobs.iter().filter(|b| !keep_blobs.contains(b)) {
        let _ = std::fs::remove_file(store.blob_path(b)?);
    }
    for l in img
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .filter(|l| !keep_layers.contains(l))
    {
        let dir = store.layer_dir(l)?;
        // Out of layers/ first: a half-removed layer is never taken for a whole one.
        let gone = store.trash_path();
        if std::fs::rename(&dir, &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
    }
    Ok(())
}

/// An image's `inspect` document, in docker's shape (RootFS.Layers, not the config's diff_ids).
pub fn image_json(store: &Store, img: &Image) -> Result<Value> {
    let raw: Value = serde_json::from_slice(&store.read_blob(&img.id)?)
        .map_err(|e| Error::new(e.to_string()))?;
    Ok(json!({
        "Id": img.id,
        "RepoTags": img.names,
        "RepoDigests": [],
        "Created": raw["created"],
        "Config": raw["config"],
        "Architecture": raw["architecture"],
        "Os": raw["os"],
        "Size": img.size(),
        "RootFS": {"Type": raw["rootfs"]["type"], "Layers": raw["rootfs"]["diff_ids"]},
        "Manifest": img.manifest_digest,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": img.lower_dirs(store)?.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")}},
    }))
}
