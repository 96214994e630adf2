//! Which cgroup hierarchies the host has, and where a container's cgroup lives in each.
//!
//! Detected from /proc/self/mountinfo, never assumed: on a hybrid host each v1 controller may be
//! mounted on its own (cpu apart from cpuacct), next to a cgroup2 tree at /sys/fs/cgroup/unified.

use std::path::{Path, PathBuf};

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mountpoint: PathBuf,
    /// The cgroup the mount shows as its root (`/` on a host).
    pub root: PathBuf,
    /// v1 controllers and `name=` options, e.g. ["cpu"] or ["name=systemd"]; empty for v2.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// A short name for messages and for the container's view: "memory", "cpu,cpuacct", "unified".
    pub fn name(&self) -> String {
        if self.is_v2() {
            "unified".into()
        } else {
            self.controllers.join(",")
        }
    }

    /// The directory of cgroup `path` (absolute, as the hierarchy's root sees it) on this mount.
    pub fn dir(&self, path: &Path) -> PathBuf {
        let rel = path
            .strip_prefix(&self.root)
            .or_else(|_| path.strip_prefix("/"))
            .unwrap_or(path);
        self.mountpoint.join(rel)
    }
}

/// The host's cgroup layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// cgroup2 only.
    Unified,
    /// v1 controllers plus a cgroup2 tree.
    Hybrid,
    /// v1 only.
    Legacy,
}

pub fn mode(hierarchies: &[Hierarchy]) -> Mode {
    let v2 = hierarchies.iter().any(Hierarchy::is_v2);
    let v1 = hierarchies.iter().any(|h| !h.is_v2());
    match (v1, v2) {
        (true, true) => Mode::Hybrid,
        (true, false) => Mode::Legacy,
        _ => Mode::Unified,
    }
}

/// Every cgroup hierarchy mounted in this mount namespace (one mount of each: see
/// `parse_mountinfo`).
pub fn detect() -> std::io::Result<Vec<Hierarchy>> {
    Ok(parse_mountinfo(&crate::procfs::read(
        "/proc/self/mountinfo",
    )?))
}

/// The cgroup hierarchies of a mountinfo text, in the order they are listed. A hierarchy may be
/// mounted several times: besides /sys/fs/cgroup/<controller>, a container's rootfs may hold a
/// bind of it (read-only, or showing only a sub-tree as its root), left behind on the host by a
/// runtime or a test. runc takes /sys/fs/cgroup/<subsystem> when it is a cgroup mount and
/// otherwise the first one listed; so does berth, and among several it prefers, in order: a
/// mount under /sys/fs/cgroup, one showing the hierarchy's root (`/`), a writable one, the
/// first listed. Hidden mounts (covered by another) never count.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    // Borrowed from the text (paths still escaped, which equality does not mind): a create
    // reads this on every start, and only the chosen hierarchies are built.
    struct Entry<'a> {
        id: u64,
        parent: u64,
        mountpoint: &'a str,
        /// (root, super options) of a cgroup or cgroup2 mount.
        cgroup: Option<(&'a str, Option<&'a str>)>,
        read_only: bool,
    }
    let has_ro = |opts: &str| opts.split(',').any(|o| o == "ro");
    let mut mounts: Vec<Entry> = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut l = left.split(' ');
        let (Some(id), Some(parent), Some(_), Some(root), Some(mountpoint), opts) =
            (l.next(), l.next(), l.next(), l.next(), l.next(), l.next())
        else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_), Some(super_opts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let cgroup = match fstype {
            "cgroup2" => Some((root, None)),
            "cgroup" => Some((root, Some(super_opts))),
            _ => None,
        };
        mounts.push(Entry {
            id: id.parse().unwrap_or(0),
            parent: parent.parse().unwrap_or(0),
            mountpoint,
            read_only: cgroup.is_some() && (opts.is_some_and(has_ro) || has_ro(super_opts)),
            cgroup,
        });
    }
    // Hidden: another mount is stacked on this one at the same mount point, or its parent is
    // hidden (a tmpfs laid over /sys/fs/cgroup hides every hierarchy below the old one).
    // Mount order cannot tell this: a moved mount keeps its place in the list.
    // Covered by a mount stacked on it, other than `from` (the stack we are walking up from).
    let covered = |m: &Entry, from: u64| {
        mounts.iter().any(|n| {
            n.parent == m.id && n.id != m.id && n.id != from && n.mountpoint == m.mountpoint
        })
    };
    let hidden = |m: &Entry| {
        let mut cur = m;
        let mut from = 0;
        for _ in 0..mounts.len() {
            if covered(cur, from) {
                return true;
            }
            from = cur.id;
            match mounts.iter().find(|p| p.id == cur.parent && p.id != cur.id) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    };
    let controllers = |super_opts: Option<&str>| -> Vec<String> {
        super_opts
            .into_iter()
            .flat_map(|o| o.split(','))
            .filter(|o| is_controller_option(o))
            .map(String::from)
            .collect()
    };
    // Lower is better; ties go to the first listed.
    let rank = |m: &Entry| {
        let root = m.cgroup.map_or("", |c| c.0);
        (
            !Path::new(&unescape(m.mountpoint)).starts_with("/sys/fs/cgroup"),
            root != "/",
            m.read_only,
        )
    };
    // The best visible mount of each hierarchy, in the order hierarchies are first listed.
    let mut found: Vec<(Vec<String>, &Entry)> = Vec::new();
    for m in &mounts {
        let Some((_, super_opts)) = m.cgroup else {
            continue;
        };
        if hidden(m) {
            continue;
        }
        let c = controllers(super_opts);
        match found.iter_mut().find(|(f, _)| *f == c) {
            None => found.push((c, m)),
            Some(best) if rank(m) < rank(best.1) => best.1 = m,
            Some(_) => {}
        }
    }
    found
        .into_iter()
        .map(|(controllers, m)| Hierarchy {
            mountpoint: PathBuf::from(unescape(m.mountpoint)),
            root: PathBuf::from(unescape(m.cgroup.map_or("/", |c| c.0))),
            controllers,
        })
        .collect()
}

/// v1 super options that name a controller (or a named hierarchy), as opposed to mount flags.
fn is_controller_option(o: &str) -> bool {
    !matches!(
        o,
        "rw" | "ro" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode" | "favordynmods"
    ) && !o.starts_with("release_agent=")
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller's own cgroup in hierarchy `h`, from /proc/self/cgroup text.
pub fn own_cgroup(h: &Hierarchy, proc_self_cgroup: &str) -> PathBuf {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let matches = if h.is_v2() {
            ctrls.is_empty()
        } else {
            let mut a: Vec<&str> = ctrls.split(',').collect();
            let mut b: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            a.sort_unstable();
            b.sort_unstable();
            a == b
        };
        if matches {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

/// runc's cgroupfs rule for `linux.cgroupsPath`: absolute paths are taken from each hierarchy's
/// root; relative ones (and the empty default, which is the container id) from the caller's own
/// cgroup in that hierarchy.
pub fn container_path(h: &Hierarchy, cgroups_path: Option<&Path>, id: &str, own: &str) -> PathBuf {
    let p = match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from(id),
    };
    let full = if p.is_absolute() {
        p
    } else {
        own_cgroup(h, own).join(p)
    };
    // `..` must not climb out of the hierarchy (runc cleans the path the same way).
    Path::new("/").join(crate::rootfs::resolve::clean(&full))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_is_detected_with_separate_cpu_and_cpuacct() {
        let hs = parse_mountinfo(HYBRID);
        assert_eq!(hs.len(), 5);
        assert_eq!(hs[0].controllers, vec!["cpu"]);
        assert_eq!(hs[1].controllers, vec!["cpuacct"]);
        assert_eq!(hs[3].controllers, vec!["name=systemd"]);
        assert!(hs[4].is_v2());
        assert_eq!(mode(&hs), Mode::Hybrid);
    }

    #[test]
    fn unified_and_legacy_modes() {
        let v2 = parse_mountinfo("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(mode(&v2), Mode::Unified);
        assert_eq!(
            v2[0].dir(Path::new("/a/b")),
            PathBuf::from("/sys/fs/cgroup/a/b")
        );
        let v1 = parse_mountinfo("1 0 0:1 / /c/pids rw - cgroup cgroup rw,pids\n");
        assert_eq!(mode(&v1), Mode::Legacy);
    }

    #[test]
    fn path_rules_follow_runc_cgroupfs() {
        let hs = parse_mountinfo(HYBRID);
        let own = "4:memory:/svc/x\n0::/\n";
        let mem = &hs[2];
        assert_eq!(
            container_path(mem, Some(Path::new("/a/b")), "id", own),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            container_path(mem, Some(Path::new("rel")), "id", own),
            PathBuf::from("/svc/x/rel")
        );
        assert_eq!(
            container_path(mem, None, "id", own),
            PathBuf::from("/svc/x/id")
        );
        assert_eq!(
            container_path(&hs[4], None, "id", own),
            PathBuf::from("/id")
        );
        assert_eq!(
            container_path(mem, Some(Path::new("/../../tmp/x")), "id", own),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(
            container_path(mem, Some(Path::new("../../../up")), "id", own),
            PathBuf::from("/up")
        );
    }

    #[test]
    fn mount_root_is_stripped() {
        let h = Hierarchy {
            mountpoint: "/sys/fs/cgroup/memory".into(),
            root: "/outer".into(),
            controllers: vec!["memory".into()],
        };
        assert_eq!(
            h.dir(Path::new("/outer/c")),
            PathBuf::from("/sys/fs/cgroup/memory/c")
        );
    }

    #[test]
    fn hidden_mounts_are_ignored() {
        // A tmpfs stacked on the old /sys/fs/cgroup (parent 31), and a memory bind moved into
        // it: the move keeps its earlier id and place in the list.
        let text = format!(
            "{HYBRID}45 50 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             50 31 0:60 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        );
        let hs = parse_mountinfo(&text);
        assert_eq!(hs.len(), 1, "{hs:?}");
        assert_eq!(hs[0].controllers, vec!["memory"]);
    }

    #[test]
    fn stray_cgroup_mounts_elsewhere_lose_to_sys_fs_cgroup() {
        // The benchmark's private namespace: a tmpfs over the old /sys/fs/cgroup (31), binds
        // moved into it (made after a read-only bind left under a container's rootfs by some
        // earlier run, so listed after it), and a rootfs bind of a sub-tree of memory.
        let text = format!(
            "{HYBRID}60 23 0:29 / /tmp/rv/rootfs/sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n\
             61 23 0:32 /docker/x /var/lib/c/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             70 31 0:60 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             71 70 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             72 70 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        );
        let hs = parse_mountinfo(&text);
        let names: Vec<String> = hs.iter().map(Hierarchy::name).collect();
        assert_eq!(names, ["cpu", "memory"], "{hs:?}");
        for h in &hs {
            assert!(h.mountpoint.starts_with("/sys/fs/cgroup"), "{h:?}");
            assert_eq!(h.root, Path::new("/"), "{h:?}");
        }
        // Among mounts outside /sys/fs/cgroup: the one showing the root, then a writable one.
        let text = "1 0 0:1 /sub /a/pids rw - cgroup cgroup rw,pids\n\
                    2 0 0:1 / /b/pids ro - cgroup cgroup rw,pids\n\
                    3 0 0:1 / /c/pids rw - cgroup cgroup rw,pids\n";
        let hs = parse_mountinfo(text);
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].mountpoint, Path::new("/c/pids"));
        // A hierarchy mounted only elsewhere is still found.
        let hs = parse_mountinfo("1 0 0:1 / /c/pids ro - cgroup cgroup rw,pids\n");
        assert_eq!(hs[0].mountpoint, Path::new("/c/pids"));
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
