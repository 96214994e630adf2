//! Image references as docker users type them: `busybox`, `busybox:1.36`,
//! `registry:5000/team/app:v1`, `app@sha256:...`.
//!
//! oci-spec's `Reference` parses these but always expands to `docker.io/library/...`; dock
//! stores and prints the familiar form (`busybox:latest`) as `docker images` does, so the
//! normalisation is done here, following the distribution grammar.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Familiar repository name: `busybox`, `team/app`, `registry:5000/team/app`.
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference; a missing tag (and digest) means `latest`.
    pub fn parse(s: &str) -> Result<Reference, String> {
        let bad = |why: &str| Err(format!("invalid reference format: {s:?}: {why}"));
        if s.is_empty() {
            return bad("empty");
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if crate::dock::digest::sha256_hex(d).is_none() {
                    return bad("the digest must be sha256:<64 hex digits>");
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/' (a registry port is before it).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
            let first_ok = t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            if t.is_empty() || t.len() > 128 || !first_ok || !t.chars().all(ok_char) {
                return bad("a tag is up to 128 letters, digits, '_', '.', '-'");
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        // A first component with '.', ':' or "localhost" is a registry host.
        let host = (parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost"))
            .then(|| parts.remove(0));
        if let Some(h) = host {
            let ok = |c: char| c.is_ascii_alphanumeric() || ".-:".contains(c);
            if h.is_empty() || !h.chars().all(ok) {
                return bad("bad registry host");
            }
        }
        for p in &parts {
            if !valid_component(p) {
                return bad("repository names are lower-case letters and digits, separated by '.', '_', '__' or '-'");
            }
        }
        // docker.io and its library/ namespace are implied.
        let mut path = parts.join("/");
        let host = match host {
            Some("docker.io" | "index.docker.io") => None,
            h => h,
        };
        if host.is_none() {
            if let Some(p) = path.strip_prefix("library/") {
                if !p.contains('/') {
                    path = p.to_string();
                }
            }
        }
        let name = match host {
            Some(h) => format!("{h}/{path}"),
            None => path,
        };
        if name.len() > 255 {
            return bad("longer than 255 characters");
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference { name, tag, digest })
    }

    /// `name:tag` (what the store's index keeps), or `name@digest` for a digest reference.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

fn valid_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            i += 1;
            continue;
        }
        // Separators: '.', '_', "__", one or more '-'; never two separators of other kinds.
        let sep_len = if p[i..].starts_with("__") {
            2
        } else if c == b'.' || c == b'_' {
            1
        } else if c == b'-' {
            b[i..].iter().take_while(|&&x| x == b'-').count()
        } else {
            return false;
        };
        i += sep_len;
        if i >= b.len() || !b[i].is_ascii_alphanumeric() {
            return false;
        }
    }
    true
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits a stored `name:tag` key into (repository, tag) for `dock images`.
pub fn split_key(key: &str) -> (&str, &str) {
    if let Some((n, d)) = key.split_once('@') {
        return (n, d);
    }
    let last_slash = key.rfind('/').map_or(0, |i| i + 1);
    match key[last_slash..].rfind(':') {
        Some(i) => (&key[..last_slash + i], &key[last_slash + i + 1..]),
        None => (key, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Reference::parse(s).unwrap().key()
    }

    #[test]
    fn familiar_names_are_normalised() {
        assert_eq!(key("busybox"), "busybox:latest");
        assert_eq!(key("busybox:1.36"), "busybox:1.36");
        assert_eq!(key("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(key("index.docker.io/library/busybox:x"), "busybox:x");
        assert_eq!(key("library/busybox"), "busybox:latest");
        assert_eq!(key("team/app"), "team/app:latest");
        assert_eq!(key("docker.io/team/app:v1"), "team/app:v1");
        assert_eq!(key("localhost/app"), "localhost/app:latest");
        assert_eq!(key("reg.example:5000/a/b:c"), "reg.example:5000/a/b:c");
        assert_eq!(key("reg:5000/app"), "reg:5000/app:latest");
        assert_eq!(key("a-b__c/e--f.g"), "a-b__c/e--f.g:latest");
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(key(&format!("app@{d}")), format!("app@{d}"));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "/abs",
            "a/../b",
            "a..b",
            "-a",
            "a-",
            "a:b:c",
            "app@sha256:123",
            "app@md5:00",
            "has space",
            &format!("a:{}", "t".repeat(129)),
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn keys_split_into_repository_and_tag() {
        assert_eq!(split_key("busybox:latest"), ("busybox", "latest"));
        assert_eq!(split_key("reg:5000/a:v"), ("reg:5000/a", "v"));
    }
}
