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
    // As runc writes it: the spec's key order (serde_json keeps insertion order), tab indents.
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut text, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
    serde::Serialize::serialize(&v, &mut ser).map_err(|e| Error::Other(e.to_string()))?;
    text.push(b'\n');
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}
