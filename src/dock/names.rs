//! Container names: `ROOT/containers/.names/<name>` holds the ID of the container that has
//! the name. A name is taken, given up and taken over only under the store lock, so two
//! `run --name x` never both get it; a lookup by name reads one small file instead of every
//! container record, and `run` never lists the containers.
//!
//! A name file whose container record is gone was left by a dock killed while removing it:
//! it is stale, and the next one to want the name takes it over.

use crate::dock::container::{self, Record};
use crate::dock::error::IoContext;
use crate::dock::store::{self, Store};
use crate::dock::Result;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

fn dir(store: &Store) -> PathBuf {
    store.containers().join(".names")
}

/// The ID of the container that has `name`, if the index names one whose record exists.
/// `None` also when the store predates the index (the caller falls back on the records).
pub fn holder(store: &Store, name: &str) -> Option<String> {
    if !container::valid_name(name) {
        return None;
    }
    let id = fs::read_to_string(dir(store).join(name)).ok()?;
    let id = id.trim();
    container::Dirs::new(store, id)
        .record()
        .exists()
        .then(|| id.to_string())
}

/// Whether the index exists (a store made before it has none until a name is next taken).
pub fn indexed(store: &Store) -> bool {
    dir(store).is_dir()
}

/// Takes `name` for `id`; `Err(holder's ID)` when a container has it. Under the store lock.
pub fn take(store: &Store, name: &str, id: &str) -> Result<std::result::Result<(), String>> {
    ensure_index(store)?;
    let path = dir(store).join(name);
    loop {
        match fs::File::options().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(id.as_bytes()).ctx("writing", &path)?;
                return Ok(Ok(()));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if let Some(h) = holder(store, name) {
                    return Ok(Err(h));
                }
                // Stale: its container is gone.
                fs::remove_file(&path).ctx("replacing", &path)?;
            }
            Err(e) => return Err(crate::dock::Error::io("creating", &path, e)),
        }
    }
}

/// Gives `name` up if `id` has it.
pub fn give_up(store: &Store, name: &str, id: &str) -> Result<()> {
    if !container::valid_name(name) {
        return Ok(());
    }
    let _lock = store.lock()?;
    let path = dir(store).join(name);
    if fs::read_to_string(&path).is_ok_and(|h| h.trim() == id) {
        fs::remove_file(&path).ctx("removing", &path)?;
    }
    Ok(())
}

/// A fresh docker-like name (adjective_scientist), taken for `id`. Under the store lock.
pub fn generate(store: &Store, id: &str) -> Result<String> {
    const ADJ: &[&str] = &[
        "admiring",
        "brave",
        "calm",
        "dazzling",
        "eager",
        "festive",
        "gallant",
        "happy",
        "jolly",
        "keen",
        "lucid",
        "modest",
        "nifty",
        "optimistic",
        "quirky",
        "relaxed",
        "serene",
        "tender",
        "upbeat",
        "vibrant",
        "wizardly",
        "youthful",
        "zealous",
    ];
    const NAMES: &[&str] = &[
        "archimedes",
        "babbage",
        "curie",
        "darwin",
        "euler",
        "fermat",
        "galileo",
        "hopper",
        "hypatia",
        "kepler",
        "lovelace",
        "meitner",
        "newton",
        "noether",
        "pascal",
        "ritchie",
        "shannon",
        "tesla",
        "turing",
        "wozniak",
    ];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = store::random_hex(4);
        let n = u32::from_str_radix(&r, 16).unwrap_or(0) as usize;
        let mut name = format!(
            "{}_{}",
            ADJ[n % ADJ.len()],
            NAMES[(n / ADJ.len()) % NAMES.len()]
        );
        // Past a few collisions the pairs are running out: a number makes more (as docker).
        if attempt > 3 {
            name.push_str(&(n % 1000).to_string());
        }
        if take(store, &name, id)?.is_ok() {
            return Ok(name);
        }
    }
}

/// Builds the index from the records, once, for a store made before it existed.
fn ensure_index(store: &Store) -> Result<()> {
    if indexed(store) {
        return Ok(());
    }
    let staging = store.staging("names")?;
    let tmp = staging.path.join("names");
    fs::create_dir(&tmp).ctx("creating", &tmp)?;
    for r in container::list(store)? {
        if container::valid_name(&r.name) {
            let p = tmp.join(&r.name);
            fs::write(&p, r.id.as_bytes()).ctx("writing", &p)?;
        }
    }
    let dest = dir(store);
    fs::rename(&tmp, &dest).ctx("creating", &dest)
}

/// Where a record's name says it is (used by `container::find` for names).
pub fn find(store: &Store, name: &str) -> Option<Record> {
    Record::load(store, &holder(store, name)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dock::container::{Record, State};

    fn record(store: &Store, id: &str, name: &str) {
        let rec = Record {
            id: id.into(),
            name: name.into(),
            image: String::new(),
            image_id: String::new(),
            created: String::new(),
            settings: Default::default(),
            lowers: Vec::new(),
            volumes: Vec::new(),
            anon_volumes: Vec::new(),
            auto_remove: false,
            interactive: false,
            runtime: PathBuf::new(),
            stop_signal: String::new(),
            state: State::default(),
        };
        fs::create_dir_all(store.containers().join(id)).unwrap();
        rec.save(store).unwrap();
    }

    #[test]
    fn names_are_taken_once_and_stale_ones_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        record(&store, &a, "web");
        assert_eq!(take(&store, "web", &a).unwrap(), Ok(()));
        assert_eq!(take(&store, "web", &b).unwrap(), Err(a.clone()));
        assert_eq!(find(&store, "web").map(|r| r.id), Some(a.clone()));
        assert_eq!(holder(&store, "../web"), None, "never a path");
        // Its record gone (a removal cut short): the name is stale and goes to the next.
        fs::remove_dir_all(store.containers().join(&a)).unwrap();
        assert_eq!(holder(&store, "web"), None);
        record(&store, &b, "web");
        assert_eq!(take(&store, "web", &b).unwrap(), Ok(()));
        give_up(&store, "web", &a).unwrap();
        assert_eq!(
            holder(&store, "web"),
            Some(b.clone()),
            "only its holder gives it up"
        );
        give_up(&store, "web", &b).unwrap();
        assert_eq!(holder(&store, "web"), None);
        let g = generate(&store, &b).unwrap();
        assert!(container::valid_name(&g) && g.contains('_'), "{g}");
    }

    #[test]
    fn a_store_made_before_the_index_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        fs::remove_dir(dir.path().join("containers/.names")).unwrap();
        let a = "c".repeat(64);
        record(&store, &a, "old");
        assert!(!indexed(&store));
        assert_eq!(take(&store, "old", &"d".repeat(64)).unwrap(), Err(a));
        assert!(indexed(&store));
    }
}
