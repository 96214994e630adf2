//! Test images made here, without a registry: the busybox rootfs as a tarball, layers built
//! entry by entry (hostile ones too), and docker-save archives around them.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The busybox rootfs (hack/mkrootfs.sh) as an uncompressed tarball, made once per run.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = crate::bundle::rootfs_template();
        let tmpdir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = tmpdir.join("dock-busybox.tar");
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", dir).expect("tar the busybox rootfs");
        // Made anew each run (the rootfs may change), renamed over the last one.
        let tmp = tmpdir.join(format!("dock-busybox.tar.{}", std::process::id()));
        std::fs::write(&tmp, b.into_inner().expect("finish tar")).expect("write busybox tar");
        std::fs::rename(&tmp, &out).expect("rename busybox tar");
        out
    })
}

/// A layer tarball built entry by entry.
pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    /// Writes the name bytes as given: tar-rs's set_path refuses '..' and absolute names,
    /// which a hostile archive has.
    fn raw(
        &mut self,
        mut h: tar::Header,
        name: &str,
        link: Option<&str>,
        data: &[u8],
    ) -> &mut Layer {
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                gnu.linkname = [0; 100];
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_cksum();
        self.b.append(&h, data).expect("append entry");
        self
    }

    pub fn file(&mut self, name: &str, data: &str) -> &mut Layer {
        let h = Layer::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.raw(h, name, None, data.as_bytes())
    }

    pub fn dir(&mut self, name: &str) -> &mut Layer {
        let h = Layer::header(tar::EntryType::Directory, 0o755, 0);
        self.raw(h, name, None, &[])
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Layer {
        let h = Layer::header(tar::EntryType::Symlink, 0o777, 0);
        self.raw(h, name, Some(target), &[])
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Layer {
        let h = Layer::header(tar::EntryType::Link, 0o644, 0);
        self.raw(h, name, Some(target), &[])
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().expect("finish layer")
    }
}

/// A docker-save archive (docker ≤ 24 layout: `<id>/layer.tar`, `<config hex>.json`,
/// manifest.json). `diff_ids` overrides the config's (to make a mismatch).
pub fn docker_save(
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<String>>,
    tag: &str,
    cmd: &[&str],
) -> Vec<u8> {
    let ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha256(l)).collect());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ids},
    });
    let config = serde_json::to_vec(&config).expect("config json");
    let chex = sha256(&config)[7..].to_string();
    let mut out = Layer::new();
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dir = format!("{:064x}", i + 1);
        out.dir(&format!("{dir}/"));
        let h = Layer::header(tar::EntryType::Regular, 0o644, l.len() as u64);
        out.raw(h, &format!("{dir}/layer.tar"), None, l);
        paths.push(format!("{dir}/layer.tar"));
    }
    let cname = format!("{chex}.json");
    let h = Layer::header(tar::EntryType::Regular, 0o644, config.len() as u64);
    out.raw(h, &cname, None, &config);
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": cname, "RepoTags": [tag], "Layers": paths}]),
    )
    .expect("manifest");
    let h = Layer::header(tar::EntryType::Regular, 0o644, manifest.len() as u64);
    out.raw(h, "manifest.json", None, &manifest);
    out.finish()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A file with `content` in the test's scratch space.
pub fn write_tmp(d: &super::harness::Dock, name: &str, content: &str) -> PathBuf {
    let p = d.scratch("files").join(name);
    std::fs::write(&p, content).expect("write scratch file");
    p
}
