//! uid and gid maps: the checks the kernel makes when a map is written (see `map_write` in
//! kernel/user_namespace.c), made on the config first, so that a bad mapping fails naming its
//! field before anything exists; and the translations berth needs (container id → host id).

/// One line of a map: `size` ids from `container` up are the host's ids from `host` up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{containerID {}, hostID {}, size {}}}",
            self.container, self.host, self.size
        )
    }
}

impl Range {
    fn last(first: u32, size: u32) -> u64 {
        first as u64 + size as u64 - 1
    }

    /// A config's mappings: `linux.uidMappings`/`gidMappings`, or a mount's.
    pub fn from_spec(v: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>) -> Vec<Range> {
        v.iter()
            .flatten()
            .map(|m| Range {
                container: m.container_id(),
                host: m.host_id(),
                size: m.size(),
            })
            .collect()
    }
}

/// A whole map, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap(pub Vec<Range>);

/// The kernel's limit of lines in one map (UID_GID_MAP_MAX_EXTENTS, since Linux 4.15).
pub const MAX_LINES: usize = 340;

impl IdMap {
    /// Every id to itself: the initial user namespace's map.
    pub fn identity() -> IdMap {
        IdMap(vec![Range {
            container: 0,
            host: 0,
            size: u32::MAX,
        }])
    }

    /// The host id of container id `id`, if it is mapped.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.0
            .iter()
            .find(|r| id >= r.container && (id as u64) <= Range::last(r.container, r.size))
            .map(|r| r.host + (id - r.container))
    }

    /// The text written to /proc/<pid>/uid_map: one `container host size` line per range.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
            .collect()
    }

    /// Parses a /proc/<pid>/uid_map (or gid_map) file.
    pub fn parse(text: &str) -> IdMap {
        IdMap(
            text.lines()
                .filter_map(|l| {
                    let f: Vec<u32> = l
                        .split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect();
                    (f.len() == 3).then(|| Range {
                        container: f[0],
                        host: f[1],
                        size: f[2],
                    })
                })
                .collect(),
        )
    }

    /// The same ranges, in any order.
    pub fn same(&self, other: &IdMap) -> bool {
        let sorted = |m: &IdMap| {
            let mut v: Vec<(u32, u32, u32)> =
                m.0.iter().map(|r| (r.container, r.host, r.size)).collect();
            v.sort_unstable();
            v
        };
        sorted(self) == sorted(other)
    }

    /// Whether every id from `first` to `last` is on the container side of this map (for the
    /// map of the namespace berth runs in: whether berth may name those ids at all).
    fn covers(&self, first: u64, last: u64) -> bool {
        let mut ranges: Vec<(u64, u64)> = self
            .0
            .iter()
            .map(|r| (r.container as u64, Range::last(r.container, r.size)))
            .collect();
        ranges.sort_unstable();
        let mut next = first;
        for (a, b) in ranges {
            if a > next {
                break;
            }
            if b >= next {
                next = b + 1;
            }
            if next > last {
                return true;
            }
        }
        next > last
    }
}

/// A config mapping that the kernel would refuse: which entry (None: the map as a whole) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub index: Option<usize>,
    pub msg: String,
}

fn refused(index: usize, msg: String) -> Refused {
    Refused {
        index: Some(index),
        msg,
    }
}

/// Checks a config's mappings as the kernel will when they are written: ids and sizes in range,
/// no two lines overlapping on either side, at most `MAX_LINES` lines and less than a page of
/// text, and every host id mapped in `own`, the map of the user namespace berth runs in (the
/// kernel refuses ids the writer cannot name with EPERM). `what` is "uid" or "gid".
pub fn check(what: &str, ranges: &[Range], own: &IdMap, page: usize) -> Result<IdMap, Refused> {
    if ranges.len() > MAX_LINES {
        return Err(Refused {
            index: None,
            msg: format!(
                "{} entries, more than the kernel's limit of {MAX_LINES}",
                ranges.len()
            ),
        });
    }
    for (i, r) in ranges.iter().enumerate() {
        if r.size == 0 {
            return Err(refused(i, "size must be at least 1".into()));
        }
        for (side, first) in [("containerID", r.container), ("hostID", r.host)] {
            // (u32)-1 is the kernel's "no id"; a range may not wrap past it either.
            if Range::last(first, r.size) >= u32::MAX as u64 {
                return Err(refused(
                    i,
                    format!(
                        "{side} {first} with size {}: the last {what} would be {}, but {what}s end at {}",
                        r.size,
                        Range::last(first, r.size),
                        u32::MAX - 1
                    ),
                ));
            }
        }
        for (j, p) in ranges[..i].iter().enumerate() {
            for (side, a, b) in [
                ("container", r.container, p.container),
                ("host", r.host, p.host),
            ] {
                let (a_last, b_last) = (Range::last(a, r.size), Range::last(b, p.size));
                if (a as u64) <= b_last && (b as u64) <= a_last {
                    return Err(refused(
                        i,
                        format!(
                            "{side} {what}s {a}-{a_last} overlap those of entry [{j}] ({b}-{b_last})"
                        ),
                    ));
                }
            }
        }
        if !own.covers(r.host as u64, Range::last(r.host, r.size)) {
            return Err(refused(
                i,
                format!(
                    "host {what}s {}-{} are not all mapped in the user namespace berth runs in, so it may not map them",
                    r.host,
                    Range::last(r.host, r.size)
                ),
            ));
        }
    }
    let map = IdMap(ranges.to_vec());
    let len = map.text().len();
    if len >= page {
        return Err(Refused {
            index: None,
            msg: format!("the map is {len} bytes of text; the kernel takes less than {page}"),
        });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(container: u32, host: u32, size: u32) -> Range {
        Range {
            container,
            host,
            size,
        }
    }

    fn host() -> IdMap {
        IdMap(vec![r(0, 0, u32::MAX)])
    }

    #[test]
    fn translates_and_prints() {
        let m = IdMap(vec![r(0, 1000, 10), r(100, 5000, 1)]);
        assert_eq!(m.to_host(0), Some(1000));
        assert_eq!(m.to_host(9), Some(1009));
        assert_eq!(m.to_host(10), None);
        assert_eq!(m.to_host(100), Some(5000));
        assert_eq!(m.text(), "0 1000 10\n100 5000 1\n");
        assert_eq!(
            IdMap::parse("         0       1000         10\n100 5000 1\n"),
            m
        );
        assert!(m.same(&IdMap(vec![r(100, 5000, 1), r(0, 1000, 10)])));
    }

    #[test]
    fn good_maps_pass() {
        let ranges = [r(0, 100000, 65536), r(65536, 300000, 1)];
        assert_eq!(check("uid", &ranges, &host(), 4096).unwrap().0, ranges);
        // The largest range the kernel takes.
        check("uid", &[r(0, 0, u32::MAX)], &host(), 4096).unwrap();
    }

    #[test]
    fn overlaps_on_either_side_are_refused() {
        let e = check("uid", &[r(0, 1000, 10), r(5, 9000, 10)], &host(), 4096).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(e.msg.contains("container uids 5-14 overlap"), "{}", e.msg);
        let e = check("gid", &[r(0, 1000, 10), r(50, 1009, 1)], &host(), 4096).unwrap_err();
        assert!(e.msg.contains("host gids 1009-1009 overlap"), "{}", e.msg);
    }

    #[test]
    fn ids_the_kernel_refuses() {
        let e = check("uid", &[r(0, 1000, 0)], &host(), 4096).unwrap_err();
        assert_eq!(
            (e.index, e.msg.as_str()),
            (Some(0), "size must be at least 1")
        );
        let e = check("uid", &[r(u32::MAX, 1000, 1)], &host(), 4096).unwrap_err();
        assert!(e.msg.starts_with("containerID 4294967295"), "{}", e.msg);
        let e = check("uid", &[r(0, u32::MAX - 5, 10)], &host(), 4096).unwrap_err();
        assert!(e.msg.starts_with("hostID 4294967290"), "{}", e.msg);
    }

    #[test]
    fn only_ids_berth_can_name() {
        let own = IdMap(vec![r(0, 100000, 1000), r(1000, 500000, 1000)]);
        check("uid", &[r(0, 0, 2000)], &own, 4096).unwrap();
        let e = check("uid", &[r(0, 1500, 1000)], &own, 4096).unwrap_err();
        assert!(
            e.msg.contains("host uids 1500-2499 are not all mapped"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn too_many_lines_or_bytes() {
        let many: Vec<Range> = (0..341).map(|i| r(i, 1000 + i, 1)).collect();
        let e = check("uid", &many, &host(), 1 << 20).unwrap_err();
        assert_eq!(e.index, None);
        assert!(e.msg.contains("341 entries"), "{}", e.msg);
        let long: Vec<Range> = (0..200)
            .map(|i| r(4_000_000 + i * 10, 3_000_000_000 + i * 10, 10))
            .collect();
        let e = check("uid", &long, &host(), 4096).unwrap_err();
        assert!(e.msg.contains("bytes of text"), "{}", e.msg);
    }
}
