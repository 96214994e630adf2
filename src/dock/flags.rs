//! The values of `run`'s flags, parsed and checked as docker checks them, before anything is
//! made: `-v`, `-e`, `--memory`, `--cpus`, `--cap-add`/`--cap-drop`, `--hostname`.

use crate::dock::spec::ALL_CAPS;
use crate::dock::volume;

/// A `-v` value.
#[derive(Debug, PartialEq, Eq)]
pub enum VolumeArg {
    Bind {
        source: String,
        dest: String,
        readonly: bool,
    },
    Named {
        name: String,
        dest: String,
        readonly: bool,
    },
    Anonymous {
        dest: String,
    },
}

pub fn parse_volume(v: &str) -> std::result::Result<VolumeArg, String> {
    let bad = |why: &str| Err(format!("invalid volume specification {v:?}: {why}"));
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dest, mode) = match parts.as_slice() {
        [d] => (None, *d, None),
        [s, d] => (Some(*s), *d, None),
        [s, d, m] => (Some(*s), *d, Some(*m)),
        _ => return bad("expected [SOURCE:]DEST[:ro|rw]"),
    };
    if !dest.starts_with('/') || dest.split('/').any(|c| c == "..") {
        return bad("the container path must be absolute");
    }
    if dest.trim_end_matches('/').is_empty() {
        return bad("the container path cannot be /");
    }
    let mut readonly = false;
    for m in mode
        .map(|m| m.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        match m {
            "ro" => readonly = true,
            "rw" | "z" | "Z" => {}
            other => return bad(&format!("unknown mode {other:?} (ro or rw)")),
        }
    }
    let dest = dest.to_string();
    match src {
        None => Ok(VolumeArg::Anonymous { dest }),
        Some(s) if s.starts_with('/') => Ok(VolumeArg::Bind {
            source: s.to_string(),
            dest,
            readonly,
        }),
        // `./dir`, `../dir`: relative to where dock runs (docker since 23, podman).
        Some(s) if s.starts_with('.') => match std::path::absolute(s) {
            Ok(p) => Ok(VolumeArg::Bind {
                source: p.display().to_string(),
                dest,
                readonly,
            }),
            Err(e) => bad(&format!("{s:?}: {e}")),
        },
        Some(s) if volume::valid_name(s) => Ok(VolumeArg::Named {
            name: s.to_string(),
            dest,
            readonly,
        }),
        Some(s) => bad(&format!(
            "{s:?} is neither a host path (absolute, or starting with .) nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"
        )),
    }
}

/// `--mount type=bind|volume,source=S,target=T[,readonly]` (docker's keys and aliases). A bind
/// source must exist (unlike `-v`'s): the caller checks, as this parses only.
pub fn parse_mount(m: &str) -> std::result::Result<VolumeArg, String> {
    let bad = |why: String| {
        Err(format!(
            "invalid argument \"{m}\" for \"--mount\" flag: {why}"
        ))
    };
    let (mut kind, mut source, mut target, mut readonly) = ("volume", None, None, false);
    for field in m.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match (k.as_str(), v) {
            ("type", Some(t)) => kind = t,
            ("source" | "src", Some(v)) => source = Some(v),
            ("target" | "destination" | "dst", Some(v)) => target = Some(v),
            ("readonly" | "ro", None | Some("true" | "1")) => readonly = true,
            ("readonly" | "ro", Some("false" | "0")) => readonly = false,
            ("readonly" | "ro", Some(v)) => return bad(format!("invalid value for {k}: {v}")),
            _ => return bad(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    let Some(dest) = target else {
        return bad("target is required".into());
    };
    let mode = if readonly { ":ro" } else { "" };
    match (kind, source) {
        ("bind", None) => bad("a bind mount needs a source".into()),
        ("bind", Some(s)) if !s.starts_with('/') && !s.starts_with('.') => {
            bad(format!("a bind source must be a host path, not {s:?}"))
        }
        ("bind" | "volume", Some(s)) => parse_volume(&format!("{s}:{dest}{mode}")),
        ("volume", None) => parse_volume(dest),
        (t, _) => bad(format!(
            "mount type {t:?} is not supported (bind or volume)"
        )),
    }
}

/// `-e K=V` (or `-e K`, taken from dock's own environment when set there).
pub fn parse_env(e: &str) -> std::result::Result<Option<String>, String> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid environment variable: {e:?}"));
    }
    if e.contains('=') {
        return Ok(Some(e.to_string()));
    }
    Ok(std::env::var(e).ok().map(|v| format!("{e}={v}")))
}

/// `--memory 100m`: bytes (b, k, m, g suffixes, powers of 1024), at least 6 MiB as docker.
pub fn parse_memory(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m: i64 = match &t[i..] {
                "b" => 1,
                "k" | "kb" => 1 << 10,
                "m" | "mb" => 1 << 20,
                "g" | "gb" => 1 << 30,
                _ => {
                    return Err(format!(
                        "invalid --memory {s:?}: use a number with b, k, m or g"
                    ))
                }
            };
            (&t[..i], m)
        }
        None => (t.as_str(), 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid --memory {s:?}: use a number with b, k, m or g"))?;
    let bytes = (n * mult as f64) as i64;
    if bytes < 6 << 20 {
        return Err(format!("invalid --memory {s:?}: the minimum is 6m"));
    }
    Ok(bytes)
}

pub fn parse_cpus(s: &str) -> std::result::Result<f64, String> {
    let n: f64 = s
        .parse()
        .map_err(|_| format!("invalid --cpus {s:?}: a number of CPUs, e.g. 0.5"))?;
    let max = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if !(0.01..=max).contains(&n) {
        return Err(format!("invalid --cpus {s:?}: range of CPUs is from 0.01 to {max:.2}, as there are only {max} CPUs available"));
    }
    Ok(n)
}

/// `--cap-add sys_admin` → `CAP_SYS_ADMIN` (or `ALL`).
pub fn parse_cap(c: &str) -> std::result::Result<String, String> {
    let up = c.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(format!("unknown capability: {c:?}"))
    }
}

pub fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs_parse_like_docker() {
        assert_eq!(
            parse_volume("/h:/c").unwrap(),
            VolumeArg::Bind {
                source: "/h".into(),
                dest: "/c".into(),
                readonly: false
            }
        );
        assert_eq!(
            parse_volume("/h:/c:ro").unwrap(),
            VolumeArg::Bind {
                source: "/h".into(),
                dest: "/c".into(),
                readonly: true
            }
        );
        assert_eq!(
            parse_volume("data:/c").unwrap(),
            VolumeArg::Named {
                name: "data".into(),
                dest: "/c".into(),
                readonly: false
            }
        );
        assert_eq!(
            parse_volume("/c").unwrap(),
            VolumeArg::Anonymous { dest: "/c".into() }
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            parse_volume("./h:/c:ro").unwrap(),
            VolumeArg::Bind {
                source: cwd.join("h").display().to_string(),
                dest: "/c".into(),
                readonly: true
            }
        );
        for bad in [
            "",
            "/h:c",
            "/h:/",
            "/h:/c:xx",
            "a:b:c:d",
            "_x:/c",
            "/h:/c/../d",
            "x:/c",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mounts_parse_like_docker() {
        assert_eq!(
            parse_mount("type=bind,source=/h,target=/c,readonly").unwrap(),
            VolumeArg::Bind {
                source: "/h".into(),
                dest: "/c".into(),
                readonly: true
            }
        );
        assert_eq!(
            parse_mount("source=my-vol,target=/usr/share/nginx/html").unwrap(),
            VolumeArg::Named {
                name: "my-vol".into(),
                dest: "/usr/share/nginx/html".into(),
                readonly: false
            }
        );
        assert_eq!(
            parse_mount("type=volume,dst=/data,ro=false").unwrap(),
            VolumeArg::Anonymous {
                dest: "/data".into()
            }
        );
        for bad in [
            "source=/h",
            "type=bind,target=/c",
            "type=bind,src=vol,dst=/c",
            "type=tmpfs,dst=/t",
            "type=bind,src=/h,dst=/c,bogus=1",
            "src=v,dst=relative",
            "src=v,dst=/c,ro=maybe",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn env_and_limits_are_checked() {
        assert_eq!(parse_env("A=1").unwrap(), Some("A=1".into()));
        assert_eq!(parse_env("A=").unwrap(), Some("A=".into()));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("").is_err());
        assert!(parse_env("A B=1").is_err());
        assert_eq!(parse_env("DOCK_SURELY_UNSET_VAR").unwrap(), None);
        assert_eq!(parse_memory("100m").unwrap(), 100 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("lots").is_err());
        assert!(parse_cpus("0.5").is_ok());
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("x").is_err());
        assert_eq!(parse_cap("sys_admin").unwrap(), "CAP_SYS_ADMIN");
        assert_eq!(parse_cap("CAP_NET_RAW").unwrap(), "CAP_NET_RAW");
        assert!(parse_cap("flying").is_err());
        assert!(valid_hostname("web-1.local") && !valid_hostname("-x") && !valid_hostname("a_b"));
    }
}
