use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Directory to write config.json into
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Write a spec for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(a: SpecArgs) -> Result<()> {
    let dir = a.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Other(format!("file {path:?} exists: remove it first")));
    }
    let v = crate::bundle::default_spec_json(a.rootless);
    let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io("write", &path, e))
}
