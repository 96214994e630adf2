//! `berth list`: runc's table, or JSON.

use std::path::Path;

use super::ListFormat;
use crate::container::Container;

pub fn print(root: &Path, format: ListFormat, quiet: bool) {
    let all = Container::list(root);
    if quiet {
        for c in &all {
            println!("{}", c.state.id);
        }
        return;
    }
    match format {
        ListFormat::Json => {
            let v: Vec<_> = all
                .iter()
                .map(|c| {
                    let mut j = c.state.to_oci(c.status);
                    j["owner"] = "root".into();
                    j
                })
                .collect();
            println!("{}", serde_json::Value::from(v));
        }
        ListFormat::Table => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|c| {
                    let pid = if c.status == crate::state::Status::Stopped {
                        0
                    } else {
                        c.state.pid
                    };
                    [
                        c.state.id.clone(),
                        pid.to_string(),
                        c.status.to_string(),
                        c.state.bundle.display().to_string(),
                        c.state.created.clone(),
                        "root".into(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for r in &rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    *w = (*w).max(cell.len());
                }
            }
            for r in std::iter::once(&header).chain(&rows) {
                let line: Vec<String> = r
                    .iter()
                    .zip(widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
    }
}
