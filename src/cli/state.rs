use clap::Args;

use super::Globals;
use crate::container::{derive_status, validate_id, State, Status};
use crate::error::Result;

#[derive(Args, Debug)]
pub struct StateArgs {
    /// Container id
    pub id: String,
}

/// The OCI state object of a container, with a derived status and pid 0 once stopped.
pub fn oci_state(dir: &std::path::Path, st: &State) -> serde_json::Value {
    let status = derive_status(dir, st);
    st.oci_json(status.as_str(), shown_pid(st, status))
}

/// The pid the state reports: 0 once the container has stopped.
pub fn shown_pid(st: &State, status: Status) -> i32 {
    if status == Status::Stopped { 0 } else { st.pid }
}

pub fn run(g: &Globals, a: StateArgs) -> Result<()> {
    validate_id(&a.id)?;
    // Reading needs no lock: state.json is replaced atomically.
    let dir = g.root.join(&a.id);
    let st = State::load_summary(&dir)?;
    let v = oci_state(&dir, &st);
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
