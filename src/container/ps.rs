//! `ps`: the container's processes. `--format json` prints their host pids as a JSON array;
//! the table is the host's `ps` (default `-ef`, or the arguments given) cut to the lines whose
//! PID column is one of them, as runc does.

use std::path::Path;
use std::process::Command;

use super::{sys_err, Container, Error};

pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>, Error> {
    let c = Container::load(root, id)?;
    let mut pids = c.state.cgroup.pids();
    pids.sort_unstable();
    Ok(pids)
}

pub fn table(root: &Path, id: &str, args: &[String]) -> Result<String, Error> {
    let pids = pids(root, id)?;
    let default = ["-ef".to_string()];
    let args = if args.is_empty() { &default[..] } else { args };
    let out = Command::new("ps")
        .args(args)
        .output()
        .map_err(sys_err("running ps"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            text.trim()
        )));
    }
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        return Err(Error::Usage(format!(
            "ps {}: no PID column in its output (keep pid in -o)",
            args.join(" ")
        )));
    };
    let mut shown = format!("{header}\n");
    for l in lines {
        let pid = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            shown.push_str(l);
            shown.push('\n');
        }
    }
    Ok(shown)
}
