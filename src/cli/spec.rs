//! `berth spec`: write runc's default config.json into a bundle.

use std::path::Path;

use crate::container::{sys_err, Error};

pub fn write(bundle: &Path, rootless: bool) -> Result<(), Error> {
    let file = bundle.join("config.json");
    if file.exists() {
        return Err(Error::Usage(format!(
            "{}: already exists; remove it first",
            file.display()
        )));
    }
    let text = serde_json::to_string_pretty(&crate::spec::template::default_spec(rootless))
        .map_err(|e| Error::Usage(e.to_string()))?;
    std::fs::write(&file, text + "\n").map_err(sys_err(format!("writing {}", file.display())))
}
