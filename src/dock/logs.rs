//! The container log, in the CRI format podman and kubelet use:
//! `<RFC 3339 time> <stdout|stderr> <F|P> <text>` — F ends a line, P is part of a longer one.

use std::fs::File;
use std::io::{self, Write};

/// Buffers each stream's unfinished line; writes whole lines (and long partial ones).
pub struct Writer {
    file: Option<File>,
    pending: [Vec<u8>; 2],
}

const PARTIAL_MAX: usize = 16 * 1024;

impl Writer {
    pub fn new(file: Option<File>) -> Writer {
        Writer {
            file,
            pending: [Vec::new(), Vec::new()],
        }
    }

    /// `stream`: 0 stdout, 1 stderr.
    pub fn write(&mut self, stream: usize, data: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        let buf = &mut self.pending[stream];
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let ts = crate::dock::table::rfc3339_now();
        let name = if stream == 0 { "stdout" } else { "stderr" };
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(format!("{ts} {name} F ").as_bytes());
            out.extend(buf.drain(..=i));
        }
        if buf.len() >= PARTIAL_MAX {
            out.extend_from_slice(format!("{ts} {name} P ").as_bytes());
            out.append(buf);
            out.push(b'\n');
        }
        let _ = f.write_all(&out);
    }

    /// Writes what is left of unfinished lines.
    pub fn flush(&mut self) {
        let Some(f) = self.file.as_mut() else { return };
        let ts = crate::dock::table::rfc3339_now();
        for (stream, buf) in self.pending.iter_mut().enumerate() {
            if !buf.is_empty() {
                let name = if stream == 0 { "stdout" } else { "stderr" };
                let mut out = format!("{ts} {name} P ").into_bytes();
                out.append(buf);
                out.push(b'\n');
                let _ = f.write_all(&out);
            }
        }
    }
}

/// One parsed log record.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub time: &'a str,
    pub stderr: bool,
    /// The text, with its newline when the record ends a line.
    pub text: Vec<u8>,
}

pub fn parse(line: &[u8]) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let mut text = parts.next().unwrap_or(b"").to_vec();
    if tag == b"F" {
        text.push(b'\n');
    }
    Some(Line {
        time,
        stderr: stream == b"stderr",
        text,
    })
}

/// Prints records (complete lines of the log file), the last `tail` of them if given.
pub fn print(content: &[u8], tail: Option<usize>, timestamps: bool) -> io::Result<()> {
    let lines: Vec<&[u8]> = content
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    // Buffered (stdout alone would write once per line), each stream flushed before the
    // other is written to, so that their lines keep their order on a shared terminal.
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut err = io::BufWriter::with_capacity(64 * 1024, io::stderr().lock());
    let mut on_err = false;
    for l in &lines[skip..] {
        let Some(rec) = parse(l) else { continue };
        if rec.stderr != on_err {
            if on_err {
                err.flush()?;
            } else {
                out.flush()?;
            }
            on_err = rec.stderr;
        }
        let w: &mut dyn Write = if rec.stderr { &mut err } else { &mut out };
        if timestamps {
            write!(w, "{} ", rec.time)?;
        }
        w.write_all(&rec.text)?;
    }
    out.flush()?;
    err.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_back_into_the_stream() {
        let l = parse(b"2026-01-01T00:00:00.000000000Z stdout F hello world").unwrap();
        assert_eq!(l.text, b"hello world\n");
        assert!(!l.stderr);
        let l = parse(b"2026-01-01T00:00:00.000000000Z stderr P part").unwrap();
        assert_eq!(l.text, b"part");
        assert!(l.stderr);
    }

    #[test]
    fn writer_splits_lines_and_keeps_partials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut w = Writer::new(Some(File::create(&p).unwrap()));
        w.write(0, b"a\nb");
        w.write(1, b"err\n");
        w.write(0, b"c\n");
        w.write(0, b"tail");
        w.flush();
        let text = std::fs::read(&p).unwrap();
        let recs: Vec<Vec<u8>> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse(l).unwrap().text)
            .collect();
        assert_eq!(
            recs,
            vec![
                b"a\n".to_vec(),
                b"err\n".to_vec(),
                b"bc\n".to_vec(),
                b"tail".to_vec()
            ]
        );
    }
}
