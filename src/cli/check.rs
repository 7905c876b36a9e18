//! `hull check`: the host's readiness for containers, as text or JSON (`crate::check`).

use clap::Args;

use crate::check::{self, Level};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
}

/// Print the findings; exit status 1 when something every container needs is missing.
pub fn run(a: CheckArgs) -> Result<i32> {
    let findings = check::run_all();
    let kernel = check::kernel_release();
    let fatal = findings.iter().any(|f| f.essential && f.status == Level::Missing);
    match a.format.as_str() {
        "json" => {
            let v = serde_json::json!({ "kernel": kernel, "ready": !fatal, "checks": findings });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        "text" => {
            println!("hull check: kernel {kernel}");
            for f in &findings {
                let status = match f.status {
                    Level::Ok => "ok",
                    Level::Degraded => "degraded",
                    Level::Missing => "missing",
                };
                let affects = if f.affects.is_empty() { String::new() } else { format!(" -> {}", f.affects) };
                println!("{status:<9} {:<34} {}{affects}", f.name, f.detail);
            }
            println!("{}", if fatal { "not ready: something every container needs is missing" } else { "ready for containers" });
        }
        other => return Err(Error::Usage(format!("invalid format {other:?}: expected text or json"))),
    }
    Ok(if fatal { 1 } else { 0 })
}
