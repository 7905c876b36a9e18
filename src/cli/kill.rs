use std::str::FromStr;

use clap::Args;
use nix::sys::signal::Signal;

use super::Globals;
use crate::container::{self, ContainerDir};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to every process of the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal name or number (default SIGTERM)
    pub signal: Option<String>,
}

/// Parse a signal as a number or a name, with or without `SIG`, in any case.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Usage(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    Signal::from_str(&name).map_err(|_| Error::Usage(format!("unknown signal {s:?}")))
}

pub fn run(g: &Globals, a: KillArgs) -> Result<()> {
    let sig = parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    let dir = ContainerDir::open(&g.root, &a.id)?;
    let state = dir.load()?;
    container::signal(&dir, &state, sig, a.all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for s in ["9", "KILL", "SIGKILL", "kill", "sigkill"] {
            assert_eq!(parse_signal(s).unwrap(), Signal::SIGKILL, "{s}");
        }
        assert_eq!(parse_signal("usr1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
