//! berth's log: one line per event, as text or as runc's JSON lines.
//!
//! containerd's shim reads `--log FILE` with `--log-format json` and shows the last line whose
//! `level` is `error`, decoding `{"level","msg","time"}` with an RFC 3339 time; tracing's JSON shape
//! does not match, and one write per line needs no framework, so this is written by hand.

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up the log once, from the global flags. Without `--log`, warnings and debug lines go to
/// stderr as text.
pub fn init(file: Option<File>, format: Format, debug: bool) {
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        if level >= Level::Warn {
            eprintln!("berth: {}: {msg}", level.as_str());
        }
        return;
    };
    if level == Level::Debug && !logger.debug {
        return;
    }
    let line = match logger.format {
        _ if logger.file.is_none() => String::new(),
        Format::Json => json_line(level, msg, SystemTime::now()),
        Format::Text => format!(
            "time=\"{}\" level={} msg={}\n",
            rfc3339(SystemTime::now()),
            level.as_str(),
            serde_json::Value::from(msg)
        ),
    };
    match &logger.file {
        // One write(2) per line: lines from concurrent berth processes do not interleave.
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
        }
        // For a person at a terminal: short lines. Errors reach stderr through main's report.
        None if level != Level::Error => {
            eprintln!("berth: {}: {msg}", level.as_str());
        }
        None => {}
    }
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}

fn json_line(level: Level, msg: &str, t: SystemTime) -> String {
    let v = serde_json::json!({"level": level.as_str(), "msg": msg, "time": rfc3339(t)});
    format!("{v}\n")
}

/// RFC 3339 UTC with nanoseconds, e.g. `2026-11-24T08:03:04.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_939_384, 5);
        assert_eq!(rfc3339(t), "2026-11-29T08:03:04.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(rfc3339(leap).starts_with("2000-02-29T00:00:00"));
    }

    #[test]
    fn json_line_is_logrus_shaped() {
        let line = json_line(Level::Error, "boom \"x\"", UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000000Z");
        assert!(line.ends_with('\n'));
    }
}
